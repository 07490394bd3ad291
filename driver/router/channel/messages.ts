// The router channel's messages: compact JSON, every field checked. Client → server: lookup and
// announce; server → client: the answer to a lookup, by request id.
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
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ProtocolError(`invalid message: ${z.prettifyError(parsed.error).slice(0, 200)}`);
  return parsed.data;
}

export const decodeRequest = (payload: Buffer): Request => decode(request, payload);
export const decodeReply = (payload: Buffer): Reply => decode(reply, payload);
