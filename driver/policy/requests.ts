// Request shapes of the Slim.Policy.* methods on the plugin socket (what `slim policy` sends).
import { z } from 'zod';

export const MAX_RULES = 1000;

// eslint-disable-next-line no-control-regex
const text = (what: string) => z.string().min(1, `${what} must not be empty`).max(256, `${what} is longer than 256 characters`).regex(/^[^\u0000-\u001f\u007f]*$/, `${what} contains control characters`);

export const selector = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('any') }).strict(),
  z.object({ kind: z.literal('network'), name: text('network name') }).strict(),
  z.object({ kind: z.literal('service'), name: text('service name') }).strict(),
  z.object({ kind: z.literal('container'), name: text('container name') }).strict(),
  z.object({ kind: z.literal('label'), key: text('label key'), value: text('label value').optional() }).strict(),
]);

export const add = z
  .object({
    action: z.enum(['allow', 'deny']),
    from: selector,
    to: selector,
    port: z.number().int().min(1).max(65535).optional(),
    /** 1-based place in the list; absent = last. */
    position: z.number().int().min(1).max(MAX_RULES).optional(),
  })
  .strict();

export const remove = z.object({ ids: z.array(z.string().min(1).max(64)).min(1).max(MAX_RULES) }).strict();

export const list = z.object({}).strict();
