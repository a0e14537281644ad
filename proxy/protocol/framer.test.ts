import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { MessageFramer } from './framer.js';
import { parseBind, parseParse, parseQuery, parseStartupPacket, parseTarget } from './frontend.js';

const typed = () => new MessageFramer({ maxMessageBytes: 1024 });

describe('MessageFramer', () => {
  it('splits a chunk holding several messages without copying', () => {
    const chunk = Buffer.concat([serialize.query('select 1'), serialize.sync(), serialize.query('select 2')]);
    const msgs = typed().push(chunk);
    expect(msgs.map((m) => String.fromCharCode(m[0]!))).toEqual(['Q', 'S', 'Q']);
    expect(msgs[0]!.buffer).toBe(chunk.buffer); // a view, not a copy
    expect(parseQuery(msgs[2]!)).toBe('select 2');
  });

  it('assembles a message split across chunks at every byte boundary', () => {
    const whole = Buffer.concat([serialize.query('select pg_sleep(1)'), serialize.sync()]);
    for (let cut = 1; cut < whole.length; cut++) {
      const f = typed();
      const msgs = [...f.push(whole.subarray(0, cut)), ...f.push(whole.subarray(cut))];
      expect(msgs.map((m) => m.toString('hex'))).toEqual([serialize.query('select pg_sleep(1)'), serialize.sync()].map((m) => m.toString('hex')));
      expect(f.pendingBytes).toBe(0);
    }
  });

  it('assembles a large message from many small chunks', () => {
    const big = serialize.query(`select '${'x'.repeat(900)}'`);
    const f = typed();
    const msgs: Buffer[] = [];
    for (let i = 0; i < big.length; i += 7) msgs.push(...f.push(big.subarray(i, i + 7)));
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.equals(big)).toBe(true);
  });

  it('refuses a length over the limit (a 1 GB length field) before buffering it', () => {
    const header = Buffer.from([0x51, 0x40, 0x00, 0x00, 0x00]); // 'Q', length 1 GiB
    expect(() => typed().push(header)).toThrow(ProtocolError);
    expect(() => typed().push(header)).toThrow(/exceeds the 1024-byte limit/);
  });

  it('refuses a length shorter than the header', () => {
    expect(() => typed().push(Buffer.from([0x51, 0, 0, 0, 2]))).toThrow(/invalid length 2/);
  });

  it('reads one startup packet, then typed messages after the switch', () => {
    const f = new MessageFramer({ startup: true, maxMessageBytes: 1024 });
    const startup = serialize.startup({ user: 'agent', database: 'app' });
    const [first, ...rest] = f.push(Buffer.concat([startup, serialize.password('tok')]));
    expect(rest).toEqual([]);
    expect(parseStartupPacket(first!)).toEqual({ type: 'startup', parameters: { user: 'agent', database: 'app', client_encoding: 'UTF8' } });
    f.typed();
    const [pw] = f.drain();
    expect(String.fromCharCode(pw![0]!)).toBe('p');
  });

  it('refuses absurd startup packet lengths', () => {
    const f = new MessageFramer({ startup: true, maxMessageBytes: 1 << 20 });
    expect(() => f.push(Buffer.from([0x7f, 0xff, 0xff, 0xff]))).toThrow(/invalid startup packet length/);
  });
});

describe('frontend messages', () => {
  it('parses SSLRequest, GSSENCRequest and CancelRequest', () => {
    expect(parseStartupPacket(serialize.requestSsl())).toEqual({ type: 'ssl_request' });
    const gss = Buffer.alloc(8);
    gss.writeInt32BE(8, 0);
    gss.writeInt32BE(80877104, 4);
    expect(parseStartupPacket(gss)).toEqual({ type: 'gssenc_request' });
    expect(parseStartupPacket(serialize.cancel(42, -7))).toEqual({ type: 'cancel_request', processId: 42, secretKey: -7 });
  });

  it('refuses other protocol versions and a startup packet without its terminator', () => {
    const v2 = Buffer.alloc(8);
    v2.writeInt32BE(8, 0);
    v2.writeInt32BE(2 << 16, 4);
    expect(() => parseStartupPacket(v2)).toThrow(/unsupported frontend protocol 2\.0/);
    const s = serialize.startup({ user: 'a' });
    expect(() => parseStartupPacket(s.subarray(0, s.length - 1))).toThrow(ProtocolError);
  });

  it('parses Parse and Bind with text, binary and NULL parameters', () => {
    expect(parseParse(serialize.parse({ name: 's1', text: 'select $1', types: [23] }))).toEqual({
      name: 's1',
      query: 'select $1',
      paramTypes: [23],
    });
    const bind = parseBind(serialize.bind({ portal: 'p', statement: 's1', values: ['7', null, Buffer.from([1, 2])], binary: true }));
    expect(bind).toMatchObject({ portal: 'p', statement: 's1', params: ['7', null, null], resultFormats: [1] });
  });

  it('refuses a Bind whose fields run past its end', () => {
    const b = serialize.bind({ values: ['hello'] });
    b.writeInt32BE(1000, 5 + 2 + 2 + 2 + 2); // parameter length far beyond the message
    expect(() => parseBind(b)).toThrow(/shorter than its fields/);
  });

  it('parses Describe and Close targets', () => {
    expect(parseTarget(serialize.describe({ type: 'P', name: 'p1' }), 'Describe')).toEqual({ kind: 'P', name: 'p1' });
    expect(parseTarget(serialize.close({ type: 'S', name: '' }), 'Close')).toEqual({ kind: 'S', name: '' });
  });
});
