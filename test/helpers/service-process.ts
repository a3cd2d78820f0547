import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number | null>;
}

/**
 * The service (or any command) as a child process of a test, its output collected for the
 * failure messages, stopped with SIGTERM and awaited when the test ends; `afterExit` then
 * cleans up what it used (its data folder).
 */
export function startProcess(t: Test, command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; afterExit?: () => unknown }): ServiceProcess {
  let log = '';
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await opts.afterExit?.();
  });
  return { child, log: () => log, exited };
}
