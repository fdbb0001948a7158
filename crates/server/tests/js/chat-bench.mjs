// Chat fan-out benchmark (scripts/bench.sh --scenarios chat): N stock socket.io-client
// connections in one room, S logged-in senders each sending one message a second (the per-user
// rate a person is allowed); every receiver measures each message's delivery latency from the
// send time stamped in its text. Prints one JSON object.
//
//   node chat-bench.mjs '{"url":"http://127.0.0.1:18080","sourceId":1,"tokens":[...],
//                         "clients":5000,"duration":20}'
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";

const P = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const clients = P.clients ?? 5000;
const duration = (P.duration ?? 20) * 1000;

function open(token) {
  return new Promise((resolve, reject) => {
    const s = io(P.url, {
      auth: token ? { token } : {},
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: 20000,
    });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
  });
}

/** CPU seconds (user + system) and RSS (MiB) of the server process, from /proc. */
function usage(pid) {
  if (!pid) return null;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss: rss ? Number(rss[1]) / 1024 : null };
}

// Before any client: the server after the senders registered (argon2 hashing is what the
// registrations cost).
const atStart = usage(P.pid);
let measuring = false;
let received = 0;
const latencies = [];
const started = Date.now();
const sockets = [];
// Connect in batches so the handshakes do not all land at once.
for (let i = 0; i < clients; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(i + 100, clients); j++) batch.push(open(null));
  for (const s of await Promise.all(batch)) {
    s.on("chat-message", (m) => {
      if (!measuring) return;
      received++;
      const sent = Number(m.message_text.split(" ")[1]);
      latencies.push(Date.now() - sent);
    });
    sockets.push(s);
  }
}
await Promise.all(sockets.map((s) => s.timeout(30000).emitWithAck("join-chat", { sourceId: P.sourceId })));
const connectSeconds = (Date.now() - started) / 1000;
const senders = await Promise.all(P.tokens.map((t) => open(t)));

// Every client connected and in the room, nothing sent yet: the idle cost of a connection.
await sleep(1000);
const before = usage(P.pid);
const t0 = Date.now();
measuring = true;
let sent = 0;
let accepted = 0;
const end = Date.now() + duration;
const loops = senders.map(async (s, k) => {
  await sleep((1000 * k) / senders.length);
  while (Date.now() < end) {
    sent++;
    const reply = await s.timeout(10000).emitWithAck("send-message", { sourceId: P.sourceId, message: `bench ${Date.now()}` });
    if (reply.ok) accepted++;
    await sleep(1000);
  }
});
await Promise.all(loops);
await sleep(3000);
measuring = false;
const after = usage(P.pid);
const wall = (Date.now() - t0) / 1000;

latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? null;
const out = {
  clients: sockets.length,
  connected: sockets.filter((s) => s.connected).length,
  connect_seconds: connectSeconds,
  senders: senders.length,
  duration_s: duration / 1000,
  sent,
  accepted,
  expected_deliveries: accepted * sockets.length,
  delivered: received,
  delivered_per_s: Math.round(received / (duration / 1000)),
  latency_ms: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: latencies.at(-1) ?? null },
  server_cpu_percent: before && after ? Math.round((1000 * (after.cpu - before.cpu)) / wall) / 10 : null,
  server_rss_start_mib: atStart ? Math.round(atStart.rss * 10) / 10 : null,
  server_rss_idle_mib: before ? Math.round(before.rss * 10) / 10 : null,
  server_rss_mib: after ? Math.round(after.rss * 10) / 10 : null,
};
process.stdout.write(JSON.stringify(out) + "\n");
for (const s of [...sockets, ...senders]) s.close();
process.exit(0);
