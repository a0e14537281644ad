// Seals a packet folder: generation.json, VERIFY.md, the signer's public key, manifest.json
// and its signature (manifest.intoto.json). Call it last, after every data file is written.
import { writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { publicKeyPem, type SigningKey } from '../../proxy/recorder/keys.js';
import { makeStatement, signStatement, type DsseEnvelope } from './dsse.js';
import { sha256Hex } from './hash.js';
import { writePacketZip } from './zip.js';
import { buildManifest, MANIFEST_FILE, serializeManifest, SIGNATURE_FILE, type Manifest, type ManifestEntry } from './manifest.js';

export const GENERATION_FILE = 'generation.json';
export const VERIFY_FILE = 'VERIFY.md';
export const PUBLIC_KEY_FILE = 'signing-key.pub.pem';

export interface Generation {
  tool: string;
  tool_version: string;
  generated_at: string;
  /** Who ran the generator (user@host, or a service identity). */
  generated_by: string;
  /** The command line's arguments, as given. */
  arguments: Record<string, unknown>;
  period: { from: string; to: string; time_zone: string };
  evidence_db: { path?: string; sha256: string; bytes?: number };
  policy_bundles: { name: string; sha256: string; version?: string }[];
}

export interface FinishOptions {
  signingKey: SigningKey;
  generation: Generation;
  /** Also write the sealed packet as this .zip (outside the packet folder). */
  zip?: string;
  /** Files described as they were written (see buildManifest), by path. */
  known?: ReadonlyMap<string, ManifestEntry>;
}

export interface FinishedPacket {
  manifest: Manifest;
  manifestSha256: string;
  envelope: DsseEnvelope;
  keyId: string;
}

export function verifyInstructions(keyId: string): string {
  return `# Verifying this evidence packet

This folder is an evidence packet written by auditgate. You do not need to trust auditgate,
or whoever handed you the packet, to check that it is complete and unaltered: every step
below uses standard tools.

## What is in it

- \`manifest.json\`: every file of the packet (but itself and its signature) with its
  sha256, size in bytes and, for CSV files, the number of data rows (after the header).
- \`manifest.intoto.json\`: an in-toto Statement v1 (\`https://in-toto.io/Statement/v1\`)
  whose subject is \`manifest.json\` and its sha256, in a DSSE envelope
  (payloadType \`application/vnd.in-toto+json\`) signed with Ed25519.
- \`generation.json\`: tool version, when and by whom the packet was generated, the
  arguments, the period (with its time zone), the evidence database's sha256 and the
  policy bundles in force.
- \`queries/<id>.sql\` and \`queries/<id>.meta.json\`: the exact SQL behind each data file,
  its parameters, when it ran, its row count and the sha256 of its result.
- \`${PUBLIC_KEY_FILE}\`: the signer's public key, for convenience only. Compare its key id
  (sha256 of the key's DER encoding) with the key the operator published to you:
  this packet was signed by key \`${keyId}\`.

## 1. Check the signature

Obtain the operator's Ed25519 public key through a channel you trust (not from this folder).
Then either run

    auditgate verify PACKET_DIR --public-key operator.pub.pem

or, with any DSSE tool, verify \`manifest.intoto.json\` against that key. By hand: decode the
envelope's \`payload\` (base64) to bytes P, build the DSSE pre-authentication encoding

    "DSSEv1" SP len(payloadType) SP payloadType SP len(P) SP P

(lengths in bytes, ASCII decimal) and verify the base64-decoded \`sig\` over it with
Ed25519. With jq and OpenSSL 3 (these write scratch files: run them in a copy of the
packet, since \`auditgate verify\` reports any file the manifest does not list):

    jq -r .payload manifest.intoto.json | base64 -d > payload.json
    jq -r '.signatures[0].sig' manifest.intoto.json | base64 -d > sig.bin
    { printf 'DSSEv1 28 application/vnd.in-toto+json %d ' "$(wc -c < payload.json)"; cat payload.json; } > pae.bin
    openssl pkeyutl -verify -pubin -inkey operator.pub.pem -rawin -in pae.bin -sigfile sig.bin

## 2. Check the manifest is the signed one

The decoded payload's \`subject[0].digest.sha256\` must equal the sha256 of manifest.json:

    jq -r '.subject[0].digest.sha256' payload.json
    sha256sum manifest.json

## 3. Check every file

For each entry of \`manifest.json\`, \`sha256sum PATH\` must print its \`sha256\` and the file
must be \`bytes\` long; for CSV files, count the data rows. No file may be missing, and
there must be no file that the manifest does not list (besides \`manifest.json\` and
\`manifest.intoto.json\`). For example:

    jq -r '.files[] | "\\(.sha256)  \\(.path)"' manifest.json | sha256sum -c -

## 4. Optionally, re-run the queries

With a copy of the evidence database (its sha256 is in \`generation.json\`):

    auditgate verify PACKET_DIR --public-key operator.pub.pem --db evidence.duckdb

re-runs every query in \`queries/\` read-only, with its recorded parameters, and compares
the sha256 of each result with the one recorded. You may also run each \`.sql\` file
yourself in DuckDB and compare the CSV by eye.

\`auditgate verify\` exits 0 when everything checks, 1 on any finding.
`;
}

export async function finishPacket(dir: string, opts: FinishOptions): Promise<FinishedPacket> {
  const { signingKey, generation } = opts;
  if (opts.zip) {
    const rel = relative(resolve(dir), resolve(opts.zip));
    if (!rel.startsWith(`..${sep}`) && rel !== '..') throw new Error(`the zip ${opts.zip} must be written outside the packet folder ${dir}`);
  }
  await writeFile(join(dir, GENERATION_FILE), `${JSON.stringify(generation, null, 2)}\n`);
  await writeFile(join(dir, VERIFY_FILE), verifyInstructions(signingKey.keyId));
  await writeFile(join(dir, PUBLIC_KEY_FILE), publicKeyPem(signingKey.publicKey));
  const manifest = await buildManifest(dir, opts.known);
  const manifestText = serializeManifest(manifest);
  await writeFile(join(dir, MANIFEST_FILE), manifestText);
  const manifestSha256 = sha256Hex(manifestText);
  const statement = makeStatement(manifestSha256, {
    tool: generation.tool,
    tool_version: generation.tool_version,
    generated_at: generation.generated_at,
    generated_by: generation.generated_by,
    period: generation.period,
    evidence_db_sha256: generation.evidence_db.sha256,
    policy_bundles: generation.policy_bundles,
    files: manifest.files.length,
  });
  const envelope = signStatement(statement, signingKey.privateKey, signingKey.publicKey);
  await writeFile(join(dir, SIGNATURE_FILE), `${JSON.stringify(envelope, null, 2)}\n`);
  if (opts.zip) await writePacketZip(dir, opts.zip);
  return { manifest, manifestSha256, envelope, keyId: signingKey.keyId };
}
