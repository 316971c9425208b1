// ws_peer.js PORT PGHOST PGPORT DB: the peer of `make bench-realtime`, the common Node stack for
// database-driven realtime: one `pg` client LISTENs on "bench", and each notification's payload
// is broadcast by `ws` to every connected client (npm packages pg and ws, one process).
const { Client } = require('pg');
const { WebSocketServer } = require('ws');

async function main() {
  const [port, host, pgport, database] = process.argv.slice(2);
  const pg = new Client({ host, port: +pgport, database, user: 'postgres' });
  await pg.connect();
  await pg.query('LISTEN bench');
  const wss = new WebSocketServer({ port: +port, host: '127.0.0.1', perMessageDeflate: false });
  pg.on('notification', (n) => {
    for (const ws of wss.clients) if (ws.readyState === 1) ws.send(n.payload);
  });
  wss.on('listening', () => console.log('listening'));
}
main().catch((e) => { console.error(e); process.exit(1); });
