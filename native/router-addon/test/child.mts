// Child process for router-addon.test.ts: a router in its own process, to see it exit (or not),
// be torn down, or run out of fds.
// usage: node --import tsx child.mts MODE SOCKET PEER   (.mts: tsc builds native/**/*.ts into dist/)
//   closed-by-node  the router replies, closes the connection and the server: must exit by itself
//   closed-by-peer  the peer hangs up, the router closes the server: must exit by itself
//   open            the server stays open: must NOT exit (the test kills it)
//   exit            process.exit() with the server and a connection open: exits 0, no crash
//   worker          a worker thread serves; on the first message it closes the connection and
//                   exits at once (the 'close' still pending, the server open): no crash, the
//                   peer sees end of file, the socket file is gone
//   serve           answer every message "ok"; print "listening"; run until killed (the test
//                   runs it with few fds allowed)
// Prints "done" when it got to the end of its part.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { listenSeqpacket } from '../index.js';

function peer(path: string, peerPath: string, ...commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(peerPath, [path, ...commands], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`peer exited ${code}`))));
  });
}

if (!isMainThread) {
  const server = listenSeqpacket(workerData as string);
  server.on('connection', (c) =>
    c.on('message', () => {
      c.close();
      process.exit(0); // in a worker: ends the thread, the env is torn down
    }),
  );
  parentPort!.postMessage('listening');
} else {
  const [mode, path, peerPath] = process.argv.slice(2) as [string, string, string];
  if (mode === 'serve') {
    const server = listenSeqpacket(path);
    server.on('connection', (c) => c.on('message', () => c.send(Buffer.from('ok'))));
    console.log('listening');
  } else if (mode === 'worker') {
    // tsx's loader does not reach workers on Node 20: register it there, then load this file.
    const code = `(async () => { (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
      await import(${JSON.stringify(import.meta.url)}); })()`;
    const worker = new Worker(code, { eval: true, workerData: path });
    const exited = new Promise((resolve) => worker.on('exit', resolve));
    worker.on('message', () => {
      Promise.all([peer(path, peerPath, 'send:hi', 'eof'), exited]).then(([out]) => {
        if (out.trim() !== 'eof') throw new Error(`peer said ${out}`);
        if (existsSync(path)) throw new Error('socket file left behind');
        console.log('done');
      });
    });
  } else {
    const server = listenSeqpacket(path);
    server.on('connection', (c) => {
      c.on('message', () => {
        c.send(Buffer.from('bye'));
        if (mode === 'exit') process.exit(0);
        if (mode === 'closed-by-node') {
          c.close();
          server.close();
        }
      });
      c.on('close', () => {
        if (mode === 'closed-by-peer') server.close();
      });
    });
    const commands = mode === 'closed-by-node' ? ['send:hi', 'expect:bye', 'eof'] : ['send:hi', 'expect:bye'];
    peer(path, peerPath, ...commands).then(() => console.log('done'));
  }
}
