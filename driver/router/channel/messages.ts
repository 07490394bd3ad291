// The router channel's messages: compact JSON, every field checked. Client → server: lookup and
// announce; server → client: the answer to a lookup, by request id.
import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { ProtocolError } from './wire.js';

/** Payload cap (the MAC comes on top). Real messages are under 300 bytes. */
export const MAX_PAYLOAD = 4096;

const port = z.number().int().min(1).max(65535);
const overlayAddr = z.strictObject({ ip: z.ipv4(), port });
const requestId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const announcementSchema = z.strictObject({
  clientHost: overlayAddr,
  clientOverlay: overlayAddr,
  dst: overlayAddr,
});

const request = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('lookup'), id: requestId, ip: z.ipv4(), port }),
  z.strictObject({ t: z.literal('announce'), a: announcementSchema }),
]);

const reply = z.discriminatedUnion('t', [
  /** port: the host port serving the overlay address there, null when none does */
  z.strictObject({ t: z.literal('port'), id: requestId, port: port.nullable() }),
  /** the lookup failed there (its handler threw, or answered nonsense) */
  z.strictObject({ t: z.literal('error'), id: requestId, message: z.string().max(200) }),
]);

/** What announcementSchema makes of `a` (a copy with exactly its fields), or null where it would
 *  fail — without zod: one announcement is sent per replaced connection, on connect()'s path,
 *  and the receiving router checks it with the schema anyway (a bad one would close the channel,
 *  so it must never leave). test/unit/router-channel.test.ts holds the two to the same answers. */
export function checkedAnnouncement(a: unknown): z.infer<typeof announcementSchema> | null {
  if (!isPlainRecord(a, 3)) return null;
  const clientHost = checkedAddr(a.clientHost);
  const clientOverlay = checkedAddr(a.clientOverlay);
  const dst = checkedAddr(a.dst);
  return clientHost && clientOverlay && dst ? { clientHost, clientOverlay, dst } : null;
}

function isPlainRecord(v: unknown, keys: number): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === keys;
}

function checkedAddr(v: unknown): { ip: string; port: number } | null {
  if (!isPlainRecord(v, 2)) return null;
  const { ip, port: p } = v;
  if (typeof ip !== 'string' || !isIPv4(ip) || typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) return null;
  return { ip, port: p };
}

export type Request = z.infer<typeof request>;
export type Reply = z.infer<typeof reply>;
export const lookupTarget = z.strictObject({ ip: z.ipv4(), port });

export function encodeMessage(message: Request | Reply): Buffer {
  const payload = Buffer.from(JSON.stringify(message));
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`router channel message of ${payload.length} bytes`);
  return payload;
}

function decode<T>(schema: z.ZodType<T>, payload: Buffer): T {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ProtocolError('payload is not JSON');
  }
  return parsed(schema, value);
}

function parsed<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ProtocolError(`invalid message: ${z.prettifyError(result.error).slice(0, 200)}`);
  return result.data;
}

/** A request. Announcements, one per replaced connection, are checked by checkedAnnouncement
 *  (the schema's rules without zod's cost); everything else by the schema. */
export function decodeRequest(payload: Buffer): Request {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new ProtocolError('payload is not JSON');
  }
  if (isPlainRecord(value, 2) && value.t === 'announce' && 'a' in value) {
    const a = checkedAnnouncement(value.a);
    if (!a) throw new ProtocolError('invalid message: malformed announcement');
    return { t: 'announce', a };
  }
  return parsed(request, value);
}
export const decodeReply = (payload: Buffer): Reply => decode(reply, payload);
