// CPU time a process has used so far (user + system), from /proc: what a proxy spends per
// transaction, beside what it achieves.
import { readFile } from 'node:fs/promises';

// USER_HZ: the unit of /proc/<pid>/stat's times, 100 on Linux builds we know of.
const TICKS_PER_SECOND = 100;

export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") "; utime and stime are the 12th and 13th of those.
  const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
}
