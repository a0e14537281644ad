// The gateway's segment signing key: loaded from its file, or created there on first start
// (with the public key published beside it) so a new deployment records from its first session.
import { access, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateSigningKey, loadSigningKey, publicKeyPem, type SigningKey } from './keys.js';

export async function openSigningKey(privateFile: string, publicFile: string, log?: { warn(msg: string, f?: object): void }): Promise<SigningKey> {
  const exists = await access(privateFile).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dirname(privateFile), { recursive: true, mode: 0o700 });
    await mkdir(dirname(publicFile), { recursive: true });
    const key = await generateSigningKey(privateFile, publicFile);
    log?.warn('created a segment signing key: keep the private key from agents; give verifiers the public key', { private_key: privateFile, public_key: publicFile });
    return key;
  }
  const key = await loadSigningKey(privateFile);
  // Publish (or refresh) the public key so verifiers always find the one in use.
  await writeFile(publicFile, publicKeyPem(key.publicKey), { mode: 0o644 });
  return key;
}
