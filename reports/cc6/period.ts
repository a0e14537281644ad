// The report's period: --from and --to as days (inclusive) in a time zone, or exact instants.
// Resolved to a half-open interval of instants [from, to) that every packet query binds.
export interface Period {
  /** As given. */
  fromArg: string;
  toArg: string;
  timeZone: string;
  /** Inclusive start instant, ISO UTC. */
  from: string;
  /** Exclusive end instant, ISO UTC. */
  to: string;
  /** Calendar days covered, in timeZone (YYYY-MM-DD), first and last. */
  firstDay: string;
  lastDay: string;
}

export class PeriodError extends Error {}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The instant at which the wall-clock time y-m-d h:00 happens in timeZone. */
function zonedInstant(y: number, m: number, d: number, timeZone: string): Date {
  // Guess the instant as if UTC, then correct by the zone's offset at that instant (twice, for DST edges).
  let t = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 2; i++) t = Date.UTC(y, m - 1, d) - offsetMs(new Date(t), timeZone);
  return new Date(t);
}

function offsetMs(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(at.getTime() / 1000) * 1000;
}

/** The calendar day (YYYY-MM-DD) of an instant in timeZone. */
export function dayIn(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

function checkZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new PeriodError(`unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as UTC or Europe/Berlin`);
  }
}

function parseBound(arg: string, which: 'from' | 'to', timeZone: string): Date {
  const day = DAY.exec(arg);
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]), Number(day[3])];
    const probe = new Date(Date.UTC(y, m - 1, d));
    if (probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d) throw new PeriodError(`--${which} ${arg} is not a calendar day`);
    // --to names the last day of the period: the period ends when the next day begins.
    return which === 'from' ? zonedInstant(y, m, d, timeZone) : zonedInstant(y, m, d + 1, timeZone);
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(arg) && /(Z|[+-]\d{2}:?\d{2})$/.test(arg)) {
    const t = new Date(arg);
    if (!Number.isNaN(t.getTime())) return t;
  }
  throw new PeriodError(`--${which} ${JSON.stringify(arg)}: give a day (YYYY-MM-DD) or an instant with its offset (2026-11-01T00:00:00Z)`);
}

export function resolvePeriod(fromArg: string, toArg: string, timeZone = 'UTC'): Period {
  checkZone(timeZone);
  const from = parseBound(fromArg, 'from', timeZone);
  const to = parseBound(toArg, 'to', timeZone);
  if (to.getTime() <= from.getTime()) throw new PeriodError(`the period is empty: --to ${toArg} is not after --from ${fromArg}`);
  return {
    fromArg,
    toArg,
    timeZone,
    from: from.toISOString(),
    to: to.toISOString(),
    firstDay: dayIn(from, timeZone),
    lastDay: dayIn(new Date(to.getTime() - 1), timeZone),
  };
}
