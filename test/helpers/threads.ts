import { readdirSync, readFileSync } from 'node:fs';

/** Each thread of this process and its nice value, as the kernel reports it (field 19 of /proc/self/task/<tid>/stat). Linux only. */
export function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // The fields after the command name, which ends with the last ")": state is field 3, nice field 19.
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return out;
}
