import pg from 'pg';
import { API_KEY_CHANGED_CHANNEL } from './sql-ops.js';
import type { ApiKeyChange, ApiKeyWatch } from './types.js';

export interface ApiKeyListenerOptions {
  /** Wait before the first reconnection attempt, doubled after each failure up to 5 s (default 100 ms). */
  retryMs?: number;
  /** How often the idle connection is proved alive (default 5 s): a dead network sends no error. */
  heartbeatMs?: number;
}

/** The listener's application_name, which says in pg_stat_activity what the connection is for. */
export function apiKeyListenerName(schema?: string): string {
  return schema ? `hocba-api-key-listener:${schema}` : 'hocba-api-key-listener';
}

const MAX_RETRY_MS = 5000;

interface Watcher {
  onChange: ApiKeyChange;
  onError?: (err: Error) => void;
}

/**
 * One LISTEN connection per PostgreSQL store (outside the pool: a pooled connection would
 * stop listening when released), opened at the first watcher. disableApiKey sends the key's
 * id with NOTIFY in its transaction, so every instance hears it as soon as it commits.
 *
 * A notification sent while no connection listens is lost, so the feed vouches for the
 * watchers' caches only while LISTEN is in effect: when the connection drops (an error, a
 * terminated backend, a failed heartbeat) every watcher is told to forget all keys and
 * `upToDate` turns false (callers read through), and again once LISTEN is back, since
 * changes may have come and gone meanwhile. Reconnection backs off from `retryMs` to 5 s.
 * Each outage is reported once through the watchers' onError.
 */
export class ApiKeyListener {
  private readonly watchers = new Set<Watcher>();
  private client: pg.Client | null = null;
  private live = false;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly retryMs: number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly connectionString: string,
    private readonly applicationName: string,
    opts: ApiKeyListenerOptions = {},
  ) {
    this.retryMs = opts.retryMs ?? 100;
    this.heartbeatMs = opts.heartbeatMs ?? 5000;
  }

  watch(onChange: ApiKeyChange, onError?: (err: Error) => void): ApiKeyWatch {
    const w: Watcher = { onChange, onError };
    this.watchers.add(w);
    if (!this.client && !this.retryTimer && !this.closed) void this.connect();
    return {
      upToDate: () => this.live && this.watchers.has(w),
      close: () => {
        this.watchers.delete(w);
      },
    };
  }

  private tell(id: string | null): void {
    for (const w of this.watchers) w.onChange(id);
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    const client = new pg.Client({ connectionString: this.connectionString, application_name: this.applicationName, connectionTimeoutMillis: 10_000, keepAlive: true });
    this.client = client;
    client.on('error', (err) => this.drop(client, err));
    client.on('end', () => this.drop(client, new Error('the API-key listener connection ended')));
    client.on('notification', (msg) => {
      if (this.client === client && msg.channel === API_KEY_CHANGED_CHANNEL && msg.payload) this.tell(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${API_KEY_CHANGED_CHANNEL}`);
    } catch (err) {
      this.drop(client, err as Error);
      return;
    }
    if (this.client !== client) {
      // Closed (or given up) while connecting.
      client.end().catch(() => {});
      return;
    }
    this.failures = 0;
    // Listening again: whatever was disabled while nobody listened went unheard.
    this.tell(null);
    this.live = true;
    this.heartbeat = setInterval(() => this.beat(client), this.heartbeatMs).unref();
  }

  private beat(client: pg.Client): void {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error('the API-key listener connection stopped answering')), this.heartbeatMs).unref();
    });
    Promise.race([client.query('SELECT 1'), timeout]).then(
      () => clearTimeout(timer),
      (err: Error) => {
        clearTimeout(timer);
        this.drop(client, err);
      },
    );
  }

  /** The connection `client` is lost (each loss handled once): read through until LISTEN is back. */
  private drop(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    clearInterval(this.heartbeat);
    const wasLive = this.live;
    this.live = false;
    if (wasLive) this.tell(null);
    // Ends a half-dead connection for good (a pending query makes pg destroy the socket).
    client.end().catch(() => {});
    if (this.closed) return;
    if (this.failures++ === 0) for (const w of this.watchers) w.onError?.(err);
    const wait = Math.min(this.retryMs * 2 ** (this.failures - 1), MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => void this.connect(), wait).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}
