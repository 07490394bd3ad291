// Tiny TCP/UDP echo for namespaces without Docker images: node is on every test machine.
//   node echo.mjs serve tcp|udp PORT
//   node echo.mjs ask tcp|udp HOST PORT MESSAGE   → prints the reply, exits 1 after 3 s without one
import dgram from 'node:dgram';
import net from 'node:net';

const [mode, proto, a, b, c] = process.argv.slice(2);
if (mode === 'serve' && proto === 'tcp') {
  net.createServer((s) => s.pipe(s)).listen(Number(a));
} else if (mode === 'serve' && proto === 'udp') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, from) => sock.send(msg, from.port, from.address));
  sock.bind(Number(a));
} else if (mode === 'ask') {
  setTimeout(() => process.exit(1), 3000).unref();
  if (proto === 'tcp') {
    const s = net.connect(Number(b), a, () => s.end(c));
    s.on('data', (d) => process.stdout.write(d));
    s.on('end', () => process.exit(0));
    s.on('error', () => process.exit(1));
  } else {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg) => {
      process.stdout.write(msg);
      process.exit(0);
    });
    sock.send(c ?? '', Number(b), a);
  }
} else {
  process.stderr.write('usage: echo.mjs serve tcp|udp PORT | ask tcp|udp HOST PORT MESSAGE\n');
  process.exit(2);
}
