import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { KeyError, loadPublicKey } from '../../proxy/recorder/keys.js';
import { EvidenceDbError } from '../../collectors/evidence-db.js';
import { formatPacketReport, PacketError, verifyPacket, verifyPacketZip, type PacketReport } from '../../reports/packet/verify.js';
import { CliError } from '../errors.js';

interface VerifyArgs {
  packet: string;
  'public-key'?: string;
  db?: string;
  json?: boolean;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <packet>',
  describe: 'Verify an evidence packet offline: signature, every file\'s hash and row count, nothing added or removed; with --db, re-run every query',
  builder: (y) =>
    y
      .positional('packet', { type: 'string', demandOption: true, describe: 'The packet: its folder, or its .zip' })
      .option('public-key', { type: 'string', describe: 'The operator\'s packet signing public key (PEM); without it the packet\'s own copy is used (integrity, not origin)' })
      .option('db', { type: 'string', describe: 'The evidence database (DuckDB): re-run every query read-only and compare result hashes' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the report as JSON' }) as never,
  handler: async (args) => {
    let publicKey;
    if (args['public-key']) {
      try {
        publicKey = await loadPublicKey(resolve(args['public-key']));
      } catch (err) {
        if (err instanceof KeyError) throw new CliError(err.message);
        throw err;
      }
    }
    let report: PacketReport;
    try {
      const opts = { ...(publicKey ? { publicKey } : {}), ...(args.db ? { dbPath: resolve(args.db) } : {}) };
      const packet = resolve(args.packet);
      const isFile = await stat(packet).then((s) => s.isFile(), () => false);
      report = isFile ? await verifyPacketZip(packet, opts) : await verifyPacket(packet, opts);
    } catch (err) {
      if (err instanceof PacketError || err instanceof EvidenceDbError) throw new CliError(err.message);
      throw err;
    }
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatPacketReport(report));
    process.exitCode = report.ok ? 0 : 1;
  },
};
