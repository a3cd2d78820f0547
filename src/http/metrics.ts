/**
 * A few Prometheus metrics in the text exposition format (version 0.0.4), kept in process.
 * Small on purpose: request counts and durations by route and status, and the domain
 * counters an operator watches at the end of the school year (signatures, certificates).
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/**
 * Identifies a label set cheaply (every request updates two series): names and values
 * joined with control characters, which no label value of ours (methods, route patterns,
 * statuses, levels, profiles) contains; the exposition form with its escaping is built
 * once per series, when the series is first seen.
 */
function seriesKey(l: Record<string, string>): string {
  let k = '';
  for (const name in l) k += name + '\u0000' + l[name] + '\u0001';
  return k;
}

class Counter {
  private readonly values = new Map<string, { text: string; v: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(l: Record<string, string> = {}, by = 1): void {
    const k = seriesKey(l);
    const cur = this.values.get(k);
    if (cur) cur.v += by;
    else this.values.set(k, { text: labels(l), v: by });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { text, v } of this.values.values()) lines.push(`${this.name}${text} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly values = new Map<string, { l: Record<string, string>; counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string) {}
  observe(l: Record<string, string>, seconds: number): void {
    const k = seriesKey(l);
    let cur = this.values.get(k);
    if (!cur) this.values.set(k, (cur = { l, counts: BUCKETS.map(() => 0), sum: 0, n: 0 }));
    // Cumulative buckets: every bucket from the first that holds the value up.
    for (let i = BUCKETS.length - 1; i >= 0 && seconds <= BUCKETS[i]!; i--) cur.counts[i]!++;
    cur.sum += seconds;
    cur.n++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { l, counts, sum, n } of this.values.values()) {
      BUCKETS.forEach((b, i) => lines.push(`${this.name}_bucket${labels({ ...l, le: String(b) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${labels({ ...l, le: '+Inf' })} ${n}`);
      lines.push(`${this.name}_sum${labels(l)} ${sum}`);
      lines.push(`${this.name}_count${labels(l)} ${n}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly requests = new Counter('hocba_http_requests_total', 'HTTP requests by method, route and status');
  readonly durations = new Histogram('hocba_http_request_duration_seconds', 'HTTP request durations by method and route');
  readonly signatures = new Counter('hocba_signatures_total', 'PDF signatures produced, by level and result');
  readonly certificatesIssued = new Counter('hocba_certificates_issued_total', 'Certificates issued, by profile and key custody');
  readonly certificateChanges = new Counter('hocba_certificate_status_changes_total', 'Certificate status changes, by action');

  render(): string {
    return [this.requests, this.durations, this.signatures, this.certificatesIssued, this.certificateChanges].map((m) => m.render()).join('\n') + '\n';
  }
}
