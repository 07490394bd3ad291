// Opt-in timing of the router's share of connection set-up. Off unless SLIM_ROUTER_TRACE names a
// file; then every shim request and every announcement from another router appends one line
// (buffered, written about once a second):
//
//   <kind> <pid> <seq> <t0> <stage>=<ns> … @<name>=<value> …
//
// kind: connect, listen, peer or identify (pid: the shim's process, seq: its request's), or
// announce:<client host ip>:<port> (pid and seq 0). t0 is CLOCK_MONOTONIC in ns, the clock the
// shim's SLIM_SHIM_TRACE stamps use, so the lines of both sides of a connection can be joined
// (test/perf/connsetup.ts does). Each stage is the ns from t0 to when it ended; @ marks a value
// that is not a time (the connection's host port). When off the cost is a null check per request.
import { appendFileSync } from 'node:fs';

const FLUSH_MS = 1_000;
const MAX_BUFFERED = 10_000;
const KINDS: Record<number, string> = { 1: 'connect', 3: 'listen', 5: 'peer', 7: 'identify' };

export class Span {
  private readonly marks: string[] = [];
  private kind = 'request';
  private seq = 0;
  readonly t0 = process.hrtime.bigint();

  constructor(private readonly pid: number) {}

  /** What the request turned out to be, once decoded. */
  named(type: number, seq: number): void {
    this.kind = KINDS[type] ?? `type${type}`;
    this.seq = seq;
  }

  mark(stage: string): void {
    this.marks.push(`${stage}=${process.hrtime.bigint() - this.t0}`);
  }

  note(name: string, value: number): void {
    this.marks.push(`@${name}=${value}`);
  }

  line(): string {
    return `${this.kind} ${this.pid} ${this.seq} ${this.t0} ${this.marks.join(' ')}\n`;
  }
}

class TraceFile {
  private buffered: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly file: string) {}

  /** A span for one request of a shim, from now. */
  request(pid: number): Span {
    return new Span(pid);
  }

  /** An announcement that just arrived from another router (JS has it now). */
  announcement(clientHost: { ip: string; port: number }): void {
    this.write(`announce:${clientHost.ip}:${clientHost.port} 0 0 ${process.hrtime.bigint()}\n`);
  }

  end(span: Span): void {
    this.write(span.line());
  }

  private write(line: string): void {
    this.buffered.push(line);
    if (this.buffered.length >= MAX_BUFFERED) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.buffered.join('');
    this.buffered = [];
    try {
      appendFileSync(this.file, lines);
    } catch {
      // a trace that cannot be written is not worth failing requests for
    }
  }
}

/** The trace, or null (normally). */
export const routerTrace: TraceFile | null = process.env.SLIM_ROUTER_TRACE ? new TraceFile(process.env.SLIM_ROUTER_TRACE) : null;
