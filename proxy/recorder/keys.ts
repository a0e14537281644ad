// Ed25519 keys for sealing segments. The gateway holds the private key (a PEM file readable
// only by the gateway's user); verifiers and collectors need only the public key.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

export class KeyError extends Error {}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** sha256 of the public key's DER (SPKI), hex: names the key in seals. */
  keyId: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read the segment signing key ${file}: ${(err as Error).message} (create one with \`auditgate keygen --out ${file}\`)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new KeyError(`${file} is not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new KeyError(`${file} is a ${privateKey.asymmetricKeyType} key; segments are signed with Ed25519`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export async function loadPublicKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read the public key ${file}: ${(err as Error).message}`);
  }
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key, not Ed25519`);
    return key;
  } catch (err) {
    throw new KeyError(`${file} is not an Ed25519 public key: ${(err as Error).message}`);
  }
}

/** Writes a new key pair: the private key 0600, the public key (to publish) 0644. */
export async function generateSigningKey(privateFile: string, publicFile: string): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeFile(privateFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await writeFile(publicFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export const publicKeyPem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();
