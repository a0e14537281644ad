import { describe, expect, it } from 'vitest';
import { PeriodError, resolvePeriod } from './period.js';

describe('resolvePeriod', () => {
  it('takes days as inclusive, in UTC by default', () => {
    expect(resolvePeriod('2026-10-01', '2026-10-31')).toMatchObject({ from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z', firstDay: '2026-10-01', lastDay: '2026-10-31' });
  });

  it('resolves days in a time zone, across a DST change', () => {
    // New York leaves daylight time on 2026-11-01: the period's start is UTC-4, its end UTC-5.
    expect(resolvePeriod('2026-10-01', '2026-11-30', 'America/New_York')).toMatchObject({ from: '2026-10-01T04:00:00.000Z', to: '2026-12-01T05:00:00.000Z', lastDay: '2026-11-30' });
    expect(resolvePeriod('2026-07-01', '2026-07-01', 'Asia/Kolkata')).toMatchObject({ from: '2026-06-30T18:30:00.000Z', to: '2026-07-01T18:30:00.000Z' });
  });

  it('takes exact instants with an offset', () => {
    expect(resolvePeriod('2026-10-01T12:00:00Z', '2026-10-01T13:30:00+01:00')).toMatchObject({ from: '2026-10-01T12:00:00.000Z', to: '2026-10-01T12:30:00.000Z' });
  });

  it('refuses what it cannot read, with the reason', () => {
    expect(() => resolvePeriod('2026-02-30', '2026-03-01')).toThrow(/not a calendar day/);
    expect(() => resolvePeriod('yesterday', '2026-03-01')).toThrow(/give a day \(YYYY-MM-DD\)/);
    expect(() => resolvePeriod('2026-10-01T00:00:00', '2026-10-02')).toThrow(PeriodError);
    expect(() => resolvePeriod('2026-10-02', '2026-10-01')).toThrow(/the period is empty/);
    expect(() => resolvePeriod('2026-10-01', '2026-10-02', 'Mars/Olympus')).toThrow(/unknown time zone/);
  });
});
