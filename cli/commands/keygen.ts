import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { publicKeyPathFor } from '../../proxy/config/load.js';
import { generateSigningKey } from '../../proxy/recorder/keys.js';
import { CliError } from '../errors.js';

interface KeygenArgs {
  out: string;
  'public-out'?: string;
}

export const keygenCommand: CommandModule<object, KeygenArgs> = {
  command: 'keygen',
  describe: 'Create an Ed25519 key pair for sealing segments (recording.signing_key_file) and its public key for verifiers',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'Private key file to create (mode 0600; refused if it exists)' })
      .option('public-out', { type: 'string', describe: 'Public key file (default: beside it, .pub.pem)' }) as never,
  handler: async (args) => {
    const priv = resolve(args.out);
    const pub = resolve(args['public-out'] ?? publicKeyPathFor(args.out));
    try {
      const key = await generateSigningKey(priv, pub);
      process.stdout.write(`private key: ${priv} (keep it readable by the gateway's user only)\npublic key:  ${pub} (give it to verifiers)\nkey id:      ${key.keyId}\n`);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new CliError(e.code === 'EEXIST' ? `${priv} exists: refusing to overwrite a signing key` : `cannot write the key: ${e.message}`);
    }
  },
};
