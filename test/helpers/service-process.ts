import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';

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

/** An answer of the service, with the pid of the worker that gave it (HOCBA_WORKER_PID_HEADER). */
export interface WorkerAnswer {
  status: number;
  worker: string;
  type: string;
  body: Buffer;
}

export interface CallOptions {
  token?: string;
  json?: unknown;
  body?: Buffer;
  headers?: Record<string, string>;
}

/**
 * Requests to a cluster on 127.0.0.1:`port`, each on a new connection (no keep-alive): the
 * cluster hands out connections, not requests, round-robin, so reused sockets would keep
 * talking to the same worker.
 */
export function clusterCaller(port: number) {
  return (method: string, path: string, opts: CallOptions = {}): Promise<WorkerAnswer> =>
    new Promise((ok, fail) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: Buffer | undefined = opts.body;
      if (opts.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = Buffer.from(JSON.stringify(opts.json));
      }
      const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          ok({ status: res.statusCode ?? 0, worker: String(res.headers['x-hocba-worker'] ?? ''), type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }),
        );
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end(body);
    });
}
