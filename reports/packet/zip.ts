// A packet as one .zip: written deterministically (sorted entries, fixed timestamps,
// deflate) and read back for verification. Only what packets need: regular files, stored or
// deflated, no zip64 (a packet past 4 GiB stays a folder), no encryption.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { listPacketFiles } from './manifest.js';
import { isSafeRelativePath } from './query-file.js';

export class ZipError extends Error {}

const DOS_TIME = 0; // 00:00:00
const DOS_DATE = (2020 - 1980) << 9 | 1 << 5 | 1; // 2020-01-01: fixed, so the zip depends on content alone
const UTF8 = 0x0800;
const MAX = 0xffffffff;

/** Zips every file of dir (paths relative, forward slashes, sorted) into zipPath. */
export async function writePacketZip(dir: string, zipPath: string): Promise<void> {
  const { files, other } = await listPacketFiles(dir);
  if (other.length) throw new ZipError(`the packet holds something other than files: ${other.join(', ')}`);
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const name of files) {
    const data = await readFile(join(dir, ...name.split('/')));
    const packed = deflateRawSync(data, { level: 9 });
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    if (data.length >= MAX || packed.length >= MAX || offset >= MAX) throw new ZipError('the packet is too large for a zip without zip64; keep it as a folder');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(UTF8, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(0x0314, 4); // made by: unix, 2.0
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(UTF8, 8);
    c.writeUInt16LE(8, 10);
    c.writeUInt16LE(DOS_TIME, 12);
    c.writeUInt16LE(DOS_DATE, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(packed.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nameBytes.length, 28);
    c.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    c.writeUInt32LE(offset, 42);
    parts.push(local, nameBytes, packed);
    central.push(c, nameBytes);
    offset += local.length + nameBytes.length + packed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  if (files.length > 0xffff) throw new ZipError('too many files for a zip without zip64');
  await writeFile(zipPath, Buffer.concat([...parts, cd, end]));
}

/**
 * Extracts a packet zip into dest (which must be empty). Entries that could not be part of
 * a packet written by writePacketZip (unsafe paths, duplicates, links, bad CRCs) are
 * returned as problems and not extracted; a file that is not a readable zip throws.
 */
export async function extractPacketZip(zipPath: string, dest: string): Promise<string[]> {
  const buf = await readFile(zipPath);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${zipPath} is not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === MAX || cdOffset + cdSize > eocd) throw new ZipError(`${zipPath}: zip64 or a damaged central directory is not supported`);
  const problems: string[] = [];
  const seen = new Set<string>();
  let p = cdOffset;
  for (let n = 0; n < count; n++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw new ZipError(`${zipPath}: damaged central directory`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const packedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const mode = buf.readUInt32LE(p + 38) >>> 16;
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue; // a directory entry
    const kind = mode & 0o170000;
    if (kind !== 0 && kind !== 0o100000) {
      problems.push(`${name}: not a regular file (a link or device) in the zip`);
      continue;
    }
    if (!isSafeRelativePath(name)) {
      problems.push(`${JSON.stringify(name)}: a path outside the packet in the zip`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`${name}: appears twice in the zip`);
      continue;
    }
    seen.add(name);
    if (flags & 1) {
      problems.push(`${name}: encrypted in the zip`);
      continue;
    }
    if (localOffset + 30 > buf.length || buf.readUInt32LE(localOffset) !== 0x04034b50) throw new ZipError(`${zipPath}: damaged entry ${name}`);
    const start = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
    const packed = buf.subarray(start, start + packedSize);
    let data: Buffer;
    try {
      if (method === 0) data = Buffer.from(packed);
      else if (method === 8) data = inflateRawSync(packed, { maxOutputLength: Math.max(size, 1) });
      else {
        problems.push(`${name}: compression method ${method} is not supported`);
        continue;
      }
    } catch (err) {
      problems.push(`${name}: cannot be decompressed: ${(err as Error).message}`);
      continue;
    }
    if (data.length !== size || crc32(data) !== crc) {
      problems.push(`${name}: its size or CRC does not match the zip's directory (damaged)`);
      continue;
    }
    const out = join(dest, ...name.split('/'));
    try {
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, data, { flag: 'wx' });
    } catch (err) {
      problems.push(`${name}: cannot be extracted beside the other entries: ${(err as Error).message}`);
    }
  }
  return problems;
}
