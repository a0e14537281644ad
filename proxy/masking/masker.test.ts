import { describe, expect, it } from 'vitest';
import type { FieldOrigin, ResolvedColumn, TableColumns } from './catalog.js';
import { MaskingError } from './datarow.js';
import { ResultMasker, type OriginResolver } from './masker.js';
import { REDACTED } from './methods.js';
import { copyData, copyOutResponse, dataRow, errorFields, errorResponse, readDataRow, rowDescription } from './test-support.js';

const CUSTOMERS = 7001;
const COLUMNS = ['id', 'email', 'ssn', 'info'];

class FakeResolver implements OriginResolver {
  calls = 0;
  async resolve(fields: readonly FieldOrigin[]): Promise<(ResolvedColumn | null)[]> {
    this.calls++;
    return fields.map((f) => {
      if (f.tableID !== CUSTOMERS) return null;
      const column = COLUMNS[f.columnID - 1]!;
      return {
        relation: { schema: 'app', table: 'customers', relkind: 'r' },
        column,
        sources: [{ schema: 'app', table: 'customers', column }],
        wholeRow: false,
        exact: true,
        tables: [{ schema: 'app', table: 'customers' }],
        viaView: false,
      };
    });
  }
  async tableColumns(schema: string | null, name: string): Promise<TableColumns | null> {
    if (name !== 'customers') return null;
    return { schema: 'app', table: 'customers', relkind: 'r', columns: COLUMNS, types: [23, 25, 25, 3802], ancestors: [], ambiguous: schema === null };
  }
}

const decision = {
  mask: [
    { column: 'app.customers.email', method: 'email' },
    { column: 'app.customers.ssn', method: 'hash' },
    { column: 'app.customers.info', method: 'redact' },
  ],
  detectors: ['email', 'ssn'],
  tags: ['sensitive'],
};

const describeMsg = (format = 0) =>
  rowDescription([
    { name: 'id', tableID: CUSTOMERS, columnID: 1, dataTypeID: 23, format },
    { name: 'e', tableID: CUSTOMERS, columnID: 2, dataTypeID: 25, format },
    { name: 's', tableID: CUSTOMERS, columnID: 3, dataTypeID: 25, format },
    { name: 'info', tableID: CUSTOMERS, columnID: 4, dataTypeID: 3802, format },
  ]);

describe('ResultMasker', () => {
  it('forwards the RowDescription unchanged and masks the rows', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    const t = describeMsg();
    expect(await m.onRowDescription(t)).toBe(t);
    const out = readDataRow(m.onDataRow(dataRow(['1', 'ann@acme.com', '123-45-6789', '{"a":1}'])));
    expect(out[1]!.toString()).toBe('***@acme.com');
    expect(out[2]!.toString()).toMatch(/^h:[0-9a-f]{16}$/);
    expect(JSON.parse(out[3]!.toString())).toBe(REDACTED);
    expect(m.counts()).toEqual(
      expect.arrayContaining([
        { column: 'app.customers.ssn', method: 'hash', reason: 'column', count: 1 },
        { column: 'app.customers.info', method: 'redact', reason: 'column', count: 1 },
      ]),
    );
  });

  it('Describe of a statement says text; Bind asked binary: the Bind formats win', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    await m.onRowDescription(describeMsg(0));
    m.setResultFormats([1]);
    const id = Buffer.alloc(4);
    id.writeInt32BE(7);
    const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"a":1}')]);
    const out = readDataRow(m.onDataRow(dataRow([id, 'ann@acme.com', '123-45-6789', jsonb])));
    expect(out[0]!.readInt32BE(0)).toBe(7);
    expect(out[3]![0]).toBe(1); // binary jsonb keeps its version byte
    expect(JSON.parse(out[3]!.subarray(1).toString())).toBe(REDACTED);
  });

  it('result formats given before the RowDescription apply to it', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k', resultFormats: [0, 0, 0, 1] });
    await m.onRowDescription(describeMsg(0));
    const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{}')]);
    expect(readDataRow(m.onDataRow(dataRow(['1', null, null, jsonb])))[3]![0]).toBe(1);
  });

  it('DataRows without a RowDescription: everything masked, type unknown so NULL', () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    const out = readDataRow(m.onDataRow(dataRow(['1', 'ann@acme.com'])));
    expect(out).toEqual([null, null]);
    expect(m.counts()[0]).toMatchObject({ reason: 'no-description', count: 1 });
  });

  it('an inactive masker relays everything and never asks the catalog', async () => {
    const resolver = new FakeResolver();
    const m = new ResultMasker({ decision: { mask: [], detectors: [], tags: [] }, resolver, hashKey: 'k' });
    expect(m.active).toBe(false);
    await m.onRowDescription(describeMsg());
    const row = dataRow(['1', 'ann@acme.com', 'x', '{}']);
    expect(m.onDataRow(row)).toBe(row);
    expect(resolver.calls).toBe(0);
    const d = copyData('ann@acme.com\n');
    expect(m.onCopyData(d)).toBe(d);
    const e = errorResponse({ C: '23505', D: 'Key (email)=(ann@acme.com) already exists.' });
    expect(m.onErrorOrNotice(e)).toBe(e);
  });

  it('COPY: the header passes when it is the expected names, data rows are masked', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    await m.onCopyOutResponse(copyOutResponse(0, 4), { table: { schema: 'app', name: 'customers' }, format: 'csv', header: true });
    const header = copyData('id,email,ssn,info\n');
    expect(m.onCopyData(header)).toBe(header);
    const out = m.onCopyData(copyData('1,ann@acme.com,123-45-6789,"{""a"": 1}"\n'));
    expect(out.readInt32BE(1)).toBe(out.length - 1);
    expect(out.subarray(5).toString()).toMatch(/^1,"\*\*\*@acme\.com","h:[0-9a-f]{16}","""\*\*\*REDACTED\*\*\*"""\n$/);
  });

  it('COPY: a "header" that is not the column names is masked like data', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    await m.onCopyOutResponse(copyOutResponse(0, 4), { table: { schema: 'app', name: 'customers' }, format: 'text', header: true });
    const out = m.onCopyData(copyData('1\tann@acme.com\t123-45-6789\t{}\n'));
    expect(out.toString()).not.toContain('ann@acme.com');
  });

  it('COPY: a column count that differs from the table masks every field', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    await m.onCopyOutResponse(copyOutResponse(0, 2), { table: { schema: 'app', name: 'customers' } });
    expect(m.onCopyData(copyData('1\tann@acme.com\n')).subarray(5).toString()).toBe(`${REDACTED}\t${REDACTED}\n`);
  });

  it('COPY: data without a CopyOutResponse is refused', () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    expect(() => m.onCopyData(copyData('x\n'))).toThrow(MaskingError);
  });

  it('binary COPY: refused when sensitive', async () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    await expect(m.onCopyOutResponse(copyOutResponse(1, 4), { table: { schema: 'app', name: 'customers' } })).rejects.toThrow(/binary format is not allowed/);
  });

  it('errors and notices', () => {
    const m = new ResultMasker({ decision, resolver: new FakeResolver(), hashKey: 'k' });
    const e = m.onErrorOrNotice(errorResponse({ C: '23505', D: 'Key (ssn)=(123-45-6789) already exists.', s: 'app', t: 'customers' }));
    expect(errorFields(e).D).toBe(`Key (ssn)=(${REDACTED}) already exists.`);
  });
});
