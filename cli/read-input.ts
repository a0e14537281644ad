// Reads a JSON or YAML document from a file path, "-" (stdin) or an inline JSON string.
import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parse } from 'yaml';
import { CliError } from './errors.js';

export async function readDocument(source: string, what: string): Promise<unknown> {
  let raw: string;
  if (source === '-') raw = await text(process.stdin);
  else if (/^\s*[{[]/.test(source)) raw = source;
  else {
    try {
      raw = await readFile(source, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${what} ${source}: ${(err as Error).message}`);
    }
  }
  try {
    return parse(raw) as unknown;
  } catch (err) {
    throw new CliError(`${what} ${source === '-' ? '(stdin)' : source} is not valid JSON/YAML: ${(err as Error).message}`);
  }
}
