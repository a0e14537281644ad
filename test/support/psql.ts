// Runs the real psql against a gateway (or a tap in front of it) with a token as the password.
import { spawn } from 'node:child_process';
import { FIXTURE_DB } from './fixture-db.js';

export interface PsqlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runPsql(port: number, token: string, args: string[], input = ''): Promise<PsqlRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'agent', '-d', FIXTURE_DB, ...args], {
      env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
