// Scenarios for crates/server/tests/realtime.rs, run with the stock socket.io-client. The Rust
// test passes a scenario name and its parameters as JSON (argv[2], argv[3]); this prints what
// the clients observed as one JSON object on stdout, and the Rust test judges it.
import { io } from "socket.io-client";

const [scenario, paramsJson] = process.argv.slice(2);
const P = JSON.parse(paramsJson);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Connects; resolves with the socket, or rejects with the connect_error message. */
function connect(url, token, transports = ["websocket"]) {
  return new Promise((resolve, reject) => {
    const s = io(url, {
      auth: token ? { token } : {},
      transports,
      reconnection: false,
      timeout: 15000,
    });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close();
      reject(new Error(e.message));
    });
  });
}

/** Emits with an acknowledgement; resolves with the server's reply. */
function ask(s, event, data, ms = 15000) {
  return s.timeout(ms).emitWithAck(event, data);
}

/** Waits until `pred()` holds or `ms` pass; returns whether it held. */
async function until(pred, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(10);
  }
  return pred();
}

async function chat() {
  const out = {};
  const src = { sourceId: P.sourceId };
  try {
    await connect(P.url, "not-a-token");
    out.badToken = "connected";
  } catch (e) {
    out.badToken = e.message;
  }
  // The anonymous reader uses long polling, the others WebSocket: both transports are covered.
  const anon = await connect(P.url, null, ["polling"]);
  const [a, b, c] = await Promise.all(P.tokens.map((t) => connect(P.url, t)));
  const seen = { anon: [], b: [] };
  anon.on("chat-message", (m) => seen.anon.push(m));
  b.on("chat-message", (m) => seen.b.push(m));
  for (const s of [anon, a, b, c]) out.join = await ask(s, "join-chat", src);
  out.anonSend = await ask(anon, "send-message", { ...src, message: "hello" });
  out.badEvent = await ask(a, "send-message", { sourceId: "x" });
  out.empty = await ask(a, "send-message", { ...src, message: "   " });
  // Ten messages fired without waiting: they must arrive in the order sent.
  const acks = [];
  for (let i = 0; i < 10; i++) acks.push(ask(a, "send-message", { ...src, message: `m${i}` }));
  out.acks = await Promise.all(acks);
  await until(() => seen.b.length >= 10 && seen.anon.length >= 10);
  out.bTexts = seen.b.map((m) => m.message_text);
  out.anonTexts = seen.anon.map((m) => m.message_text);
  out.first = seen.b[0];
  // B drops; C writes while B is away; B reconnects, rejoins, reads the history and gets the next.
  b.disconnect();
  out.whileAway = await ask(c, "send-message", { ...src, message: "while you were away" });
  b.connect();
  await until(() => b.connected);
  out.rejoin = await ask(b, "join-chat", src);
  const res = await fetch(`${P.url}/api/chat/messages/${P.sourceId}?limit=50`);
  out.history = (await res.json()).messages.map((m) => m.message_text);
  await ask(c, "send-message", { ...src, message: "welcome back" });
  await until(() => seen.b.some((m) => m.message_text === "welcome back"));
  out.bAfter = seen.b.slice(10).map((m) => m.message_text);
  // Stream room: status on join, viewer counts, reactions.
  const statuses = [];
  const counts = [];
  const reactions = [];
  anon.on("stream-status", (status, info) => statuses.push([status, info]));
  anon.on("viewer-count", (v) => counts.push(v.count));
  anon.on("reaction", (r) => reactions.push(r.reaction));
  out.joinStream = await ask(anon, "join-stream", src);
  await ask(b, "join-stream", src);
  out.reaction = await ask(b, "send-reaction", { ...src, reaction: "heart" });
  out.badReaction = await ask(b, "send-reaction", { ...src, reaction: "<script>" });
  await until(() => reactions.length >= 1 && counts.includes(2));
  out.statuses = statuses;
  out.counts = counts;
  out.reactions = reactions;
  // C logs out: its open socket may no longer write.
  await fetch(`${P.url}/api/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${P.tokens[2]}` } });
  out.afterLogout = await ask(c, "send-message", { ...src, message: "am I still here?" });
  for (const s of [anon, a, b, c]) s.close();
  // Let the long-polling client's close request reach the server before the process exits.
  await sleep(500);
  return out;
}

async function flood() {
  const out = {};
  const src = { sourceId: P.sourceId };
  const [flooder, calm, observer] = await Promise.all(P.tokens.map((t) => connect(P.url, t)));
  const received = [];
  observer.on("chat-message", (m) => received.push({ text: m.message_text, at: Date.now() }));
  const errors = [];
  flooder.on("error", (e) => errors.push(e.message));
  for (const s of [flooder, calm, observer]) await ask(s, "join-chat", src);
  let closed = null;
  flooder.on("disconnect", (reason) => (closed = reason));
  // 1 000 messages in about a second from one client, while another writes calmly.
  const flooding = (async () => {
    for (let i = 0; i < 1000; i++) {
      flooder.emit("send-message", { ...src, message: `flood ${i}` });
      if (i % 10 === 9) await sleep(10);
    }
  })();
  const sentAt = {};
  for (let i = 0; i < 5; i++) {
    const text = `calm ${i}`;
    sentAt[text] = Date.now();
    calm.emit("send-message", { ...src, message: text });
    await sleep(200);
  }
  await flooding;
  await until(() => received.filter((m) => m.text.startsWith("calm")).length >= 5);
  await sleep(500);
  out.flooderDelivered = received.filter((m) => m.text.startsWith("flood")).length;
  out.calm = received.filter((m) => m.text.startsWith("calm")).map((m) => ({ text: m.text, ms: m.at - sentAt[m.text] }));
  out.flooderErrors = errors.length;
  out.flooderError = errors[0];
  out.flooderClosed = closed;
  // An oversized packet closes that connection only.
  const big = await connect(P.url, P.tokens[0]);
  let bigClosed = null;
  big.on("disconnect", (reason) => (bigClosed = reason));
  big.emit("send-message", { ...src, message: "x".repeat(100 * 1024) });
  await until(() => bigClosed !== null);
  out.oversized = bigClosed;
  // A malformed Socket.IO packet (cut-off JSON) closes that connection only.
  const bad = await connect(P.url, P.tokens[0]);
  let badClosed = null;
  bad.on("disconnect", (reason) => (badClosed = reason));
  bad.io.engine.write('42["send-message",{"sourceId":');
  await until(() => badClosed !== null);
  out.malformed = badClosed;
  // Everyone else carries on.
  out.calmStillConnected = calm.connected && observer.connected;
  const after = await ask(calm, "send-message", { ...src, message: "still here" });
  out.after = after;
  await until(() => received.some((m) => m.text === "still here"));
  out.afterDelivered = received.some((m) => m.text === "still here");
  for (const s of [flooder, calm, observer, big, bad]) s.close();
  return out;
}

async function twoNodes() {
  const out = {};
  const src = { sourceId: P.sourceId };
  const x = await connect(P.urls[0], P.tokens[0]);
  const y = await connect(P.urls[1], P.tokens[1]);
  const seen = { x: [], y: [] };
  const counts = { x: [], y: [] };
  x.on("chat-message", (m) => seen.x.push(m.message_text));
  y.on("chat-message", (m) => seen.y.push(m.message_text));
  x.on("viewer-count", (v) => counts.x.push(v.count));
  y.on("viewer-count", (v) => counts.y.push(v.count));
  for (const s of [x, y]) {
    await ask(s, "join-chat", src);
    await ask(s, "join-stream", src);
  }
  out.fromA = await ask(x, "send-message", { ...src, message: "from node A" });
  out.fromB = await ask(y, "send-message", { ...src, message: "from node B" });
  await until(() => seen.x.length >= 2 && seen.y.length >= 2 && counts.x.includes(2) && counts.y.includes(2));
  out.seen = seen;
  out.counts = counts;
  x.close();
  y.close();
  return out;
}

async function moderation() {
  const out = {};
  const src = { sourceId: P.sourceId };
  const api = async (token, method, path, body) => {
    const res = await fetch(`${P.url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  const [ownerT, viewerT, modT] = P.tokens;
  const uuid = async (t) => (await api(t, "GET", "/auth/me")).body.uuid;
  const [viewerId, modId] = [await uuid(viewerT), await uuid(modT)];
  const [owner, viewer, mod] = await Promise.all(P.tokens.map((t) => connect(P.url, t)));
  const deleted = [];
  const banned = [];
  viewer.on("message-deleted", (d) => deleted.push(d.id));
  viewer.on("user-banned", (b) => banned.push(b));
  for (const s of [owner, viewer, mod]) await ask(s, "join-chat", src);
  const say = (s, message) => ask(s, "send-message", { ...src, message });
  const settings = (t, slow, words, links) =>
    api(t, "PUT", `/chat/settings/${P.sourceId}`, { slow_mode_seconds: slow, blocked_words: words, links_allowed: links });

  out.viewerMakesMod = (await api(viewerT, "PUT", `/chat/moderators/${P.sourceId}/${modId}`)).status;
  out.ownerMakesMod = (await api(ownerT, "PUT", `/chat/moderators/${P.sourceId}/${modId}`)).status;
  out.moderators = (await api(modT, "GET", `/chat/moderators/${P.sourceId}`)).body;
  out.viewerSettings = (await settings(viewerT, 0, [], true)).status;
  out.badSettings = await settings(modT, 99999, [], true);
  out.modSettings = await settings(modT, 0, ["Spoiler"], false);
  out.blocked = await say(viewer, "big SPOILER here");
  out.link = await say(viewer, "visit example.com now");
  out.modLink = await say(mod, "example.com is fine for moderators");
  await settings(modT, 60, ["Spoiler"], false);
  out.first = await say(viewer, "one");
  out.slow = await say(viewer, "two");
  out.modNotSlow = [await say(mod, "m1"), await say(mod, "m2")];
  await settings(modT, 0, [], true);
  const hello = await say(viewer, "hello");
  out.hello = hello;
  out.viewerDeletes = (await api(viewerT, "DELETE", `/chat/messages/${P.sourceId}/${hello.id}`)).status;
  out.modDeletes = (await api(modT, "DELETE", `/chat/messages/${P.sourceId}/${hello.id}`)).status;
  await until(() => deleted.includes(hello.id));
  out.deleted = deleted;
  out.history = (await (await fetch(`${P.url}/api/chat/messages/${P.sourceId}`)).json()).messages.map((m) => m.message_text);
  out.viewerBans = (await api(viewerT, "POST", "/chat/bans", { source_id: P.sourceId, user_id: modId })).status;
  out.globalByMod = (await api(modT, "POST", "/chat/bans", { user_id: viewerId })).status;
  const timeout = await api(modT, "POST", "/chat/bans", { source_id: P.sourceId, user_id: viewerId, duration_seconds: 600, reason: "cool down" });
  out.timeout = timeout;
  await until(() => banned.length > 0);
  out.banned = banned;
  out.whileTimedOut = await say(viewer, "let me talk");
  out.bans = (await api(modT, "GET", `/chat/bans/${P.sourceId}`)).body;
  out.lift = (await api(ownerT, "DELETE", `/chat/bans/${P.sourceId}/${timeout.body.id}`)).status;
  out.afterLift = await say(viewer, "thanks");
  out.log = (await api(ownerT, "GET", `/chat/moderation/${P.sourceId}`)).body.actions.map((a) => a.action);
  for (const s of [owner, viewer, mod]) s.close();
  return out;
}

async function lifecycle() {
  // An anonymous viewer in the stream room while the Rust test publishes with ffmpeg.
  const s = await connect(P.url, null);
  const statuses = [];
  let ended = null;
  s.on("stream-status", (status, info) => statuses.push([status, info.sourceId]));
  s.on("stream-ended", (e) => (ended = e));
  await ask(s, "join-stream", { playbackId: P.playbackId });
  await until(() => ended !== null, 40000);
  s.close();
  return { statuses, ended };
}

// Two logged-in users while the Rust test streams to a destination of the owner's: each
// collects the `destination-status` events it hears until the owner has heard a retry or a
// failure (or 40 s pass).
async function destinations() {
  const [owner, other] = await Promise.all([connect(P.url, P.owner), connect(P.url, P.other)]);
  const seen = { owner: [], other: [] };
  owner.on("destination-status", (e) => seen.owner.push(e));
  other.on("destination-status", (e) => seen.other.push(e));
  await until(() => seen.owner.some((e) => e.state === "retrying" || e.state === "failed"), 40000);
  await sleep(300);
  owner.close();
  other.close();
  return seen;
}

// The merged feed of a source with platform connectors: a reader joins, the creator says
// `ready` (which the connectors carry to each platform, whose fakes then start talking), and
// the reader collects every chat message until each platform has sent `P.perPlatform`.
async function feed() {
  const reader = await connect(P.url, null);
  const creator = await connect(P.url, P.token);
  const src = { sourceId: P.sourceId };
  const seen = [];
  const statuses = [];
  reader.on("chat-message", (m) => seen.push(m));
  reader.on("connector-status", (s) => statuses.push(s));
  await ask(reader, "join-chat", src);
  await ask(creator, "join-chat", src);
  const ready = await ask(creator, "send-message", { ...src, message: "ready" });
  const count = (p) => seen.filter((m) => m.platform === p).length;
  const complete = await until(
    () => P.platforms.every((p) => count(p) >= P.perPlatform),
    40000,
  );
  // Anything late (a duplicate would be) has a moment to arrive.
  await sleep(500);
  reader.close();
  creator.close();
  return { ready, complete, messages: seen, statuses };
}

// `P.n` sockets from this one address at once: the node caps them per address (the HTTP
// connection cap refuses the rest at accept). Those admitted join a stream; the viewer count
// counts the address only a few times. Then everything closes.
async function crowd() {
  const tries = await Promise.allSettled(
    Array.from({ length: P.n }, () => connect(P.url, null)),
  );
  const sockets = tries.filter((t) => t.status === "fulfilled").map((t) => t.value);
  const refusals = {};
  for (const t of tries) {
    if (t.status === "rejected") {
      const m = t.reason.message;
      refusals[m] = (refusals[m] || 0) + 1;
    }
  }
  let count = null;
  if (sockets.length > 0) {
    sockets[0].on("viewer-count", (c) => (count = c.count));
    for (const s of sockets) await ask(s, "join-stream", { playbackId: P.playbackId });
    await until(() => count !== null && count > 0, 5000);
    await sleep(300);
  }
  for (const s of sockets) s.close();
  return { connected: sockets.length, refusals, viewerCount: count };
}

// The studio: the owner's dashboard (two tabs) and P.others' sockets in a source's stream room
// while the Rust test publishes. Collects the viewer counts and the `stream-stats` samples
// each hears until the owner has P.samples samples; the owner's tabs must not count.
async function studio() {
  const owner = await connect(P.url, P.owner);
  // Each other viewer on its own node, where given.
  const others = await Promise.all(P.others.map((t, i) => connect(P.otherUrls?.[i] ?? P.url, t)));
  const seen = { ownerStats: [], othersStats: [], counts: [] };
  owner.on("stream-stats", (s) => seen.ownerStats.push(s));
  for (const o of others) o.on("stream-stats", (s) => seen.othersStats.push(s));
  owner.on("viewer-count", (c) => seen.counts.push(c.count));
  const room = { sourceId: P.sourceId };
  await ask(owner, "join-stream", room);
  for (const o of others) await ask(o, "join-stream", room);
  // A second tab of the owner's, joined last: the count stays.
  const tab = await connect(P.url, P.owner);
  await ask(tab, "join-stream", room);
  await until(() => seen.ownerStats.length >= P.samples, 40000);
  seen.viewersInLastSample = seen.ownerStats.at(-1)?.viewers ?? null;
  for (const s of [owner, tab, ...others]) s.close();
  return seen;
}

// A viewer on a stream's watch page while its creator changes its metadata (P.change, through
// the API with P.token): the viewer is told (`stream-info`).
async function streamInfo() {
  const s = await connect(P.url, null);
  const seen = [];
  s.on("stream-info", (e) => seen.push(e));
  await ask(s, "join-stream", { playbackId: P.playbackId });
  const res = await fetch(`${P.url}/api/sources/${P.sourceId}/metadata`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${P.token}`, "content-type": "application/json" },
    body: JSON.stringify(P.change),
  });
  await until(() => seen.length > 0, 5000);
  s.close();
  return { status: res.status, seen };
}

// P.n viewers on the watch page of P.playbackId while the Rust test's encoders publish: reads
// "live now" until that stream leads it with P.n viewers (or 20 s pass); the last listing.
async function audience() {
  const sockets = await Promise.all(Array.from({ length: P.n }, () => connect(P.url, null)));
  for (const s of sockets) await ask(s, "join-stream", { playbackId: P.playbackId });
  let listing = null;
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    listing = await (await fetch(`${P.url}/api/browse/live`)).json();
    const first = listing.streams?.[0];
    if (first?.playback_id === P.playbackId && first.viewers === P.n) break;
    await sleep(200);
  }
  for (const s of sockets) s.close();
  return listing;
}

/** A signed-in page waiting for notices: prints the `notification` events that arrive within
 * P.ms of connecting (or until P.count arrived), with when each came. */
async function notifications() {
  const s = await connect(P.url, P.token);
  const start = Date.now();
  const seen = [];
  s.on("notification", (n) => seen.push({ ...n, afterMs: Date.now() - start }));
  // Tells the test that the socket is in its room: it may go live now.
  process.stderr.write("connected\n");
  await until(() => seen.length >= (P.count ?? 1), P.ms ?? 20000);
  s.close();
  return { notifications: seen, connectedAt: start };
}

/** An anonymous listener of a radio station: joins its room by handle and prints the answer
 * and every `now-playing` event within P.ms (or until one with `dj` false follows one with
 * `dj` true, when P.untilHandBack). */
async function radio() {
  const s = await connect(P.url);
  const joined = await ask(s, "join-radio", { handle: P.handle });
  const seen = [];
  s.on("now-playing", (n) => seen.push(n));
  process.stderr.write("connected\n");
  await until(() => {
    const dj = seen.findIndex((n) => n.dj);
    return P.untilHandBack && dj >= 0 && seen.slice(dj + 1).some((n) => !n.dj && n.title);
  }, P.ms ?? 40000);
  s.close();
  return { joined, seen };
}

const scenarios = { radio, chat, flood, twoNodes, moderation, lifecycle, feed, crowd, destinations, studio, streamInfo, audience, notifications };
const run = scenarios[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error("scenario timed out");
  process.exit(3);
}, 60000);
try {
  const out = await run();
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  console.error(e.stack || String(e));
  process.exit(1);
}
