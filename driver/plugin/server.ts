// HTTP over the plugin's Unix socket. Docker sends no Content-Type and sometimes no body, so every
// body is parsed as JSON and an empty one means {}. Every failure is answered as {"Err": message}.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { PluginError } from './errors.js';
import type { Handler } from './routes.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export function createPluginApp(routeTable: Promise<Record<string, Handler>>, log: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ type: () => true, limit: MAX_BODY_BYTES, strict: false }));
  app.use(async (req: Request, res: Response) => {
    const name = req.path.slice(1);
    const routes = await routeTable;
    const handler = req.method === 'POST' ? routes[name] : undefined;
    if (!Object.hasOwn(routes, name) || !handler) {
      res.status(404).json({ Err: `unknown plugin method ${JSON.stringify(name.slice(0, 100))}` });
      return;
    }
    const started = process.hrtime.bigint();
    const reply = await handler(req.body === undefined ? {} : req.body);
    log.debug({ method: name, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'handled');
    res.json(reply);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(err);
    const message = messageOf(err);
    if (err instanceof PluginError || status < 500) log.info({ method: req.path.slice(1), err: message }, 'request refused');
    else log.error({ method: req.path.slice(1), err }, 'request failed');
    res.status(status).json({ Err: message });
  });
  return app;
}

function httpStatusOf(err: unknown): number {
  const status = (err as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 600) return status; // body-parser: 400, 413…
  return 500;
}

// body-parser's own messages do not say which part of the request was wrong.
function messageOf(err: unknown): string {
  const type = (err as { type?: unknown }).type;
  const message = err instanceof Error ? err.message : String(err);
  if (type === 'entity.parse.failed') return `request body is not valid JSON: ${message}`;
  if (type === 'entity.too.large') return `request body is larger than ${MAX_BODY_BYTES} bytes`;
  return message;
}
