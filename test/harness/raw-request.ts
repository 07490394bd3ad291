// One HTTP request to a plugin socket with full control over verb, headers and bytes, for tests
// that send what Docker never would (callPlugin always POSTs well-formed JSON).
import http from 'node:http';

export interface RawReply {
  status: number;
  text: string;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  json: any;
}

export interface RawRequest {
  method?: string;
  path: string;
  body?: string | Buffer;
  /** Content-Length is set from the body unless given here (or Transfer-Encoding is). */
  headers?: Record<string, string | number>;
  agent?: http.Agent;
  timeoutMs?: number;
}

export function rawRequest(socketPath: string, r: RawRequest): Promise<RawReply> {
  const length = r.body !== undefined && !r.headers?.['Transfer-Encoding'] ? { 'Content-Length': Buffer.byteLength(r.body) } : {};
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, agent: r.agent, method: r.method ?? 'POST', path: r.path, timeout: r.timeoutMs, headers: { ...length, ...r.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no reply within ${r.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}
