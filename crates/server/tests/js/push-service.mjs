// A Web Push service stand-in for crates/server/tests/it/notifications.rs (and the browser
// scenario), written from the RFCs with Node's own crypto and nothing of the server's code.
//
// It plays both ends a real deployment talks to: the push service (RFC 8030: the endpoint the
// application server POSTs to) and the browser behind it (it makes each subscription's P-256
// key pair and auth secret, so it can decrypt what it receives). For every push it checks the
// VAPID authorization (RFC 8292: `vapid t=<JWT>, k=<key>`, the JWT's ES256 signature against
// k, its aud, exp and sub claims) and decrypts the aes128gcm body (RFC 8291, RFC 8188).
//
// Prints `{"port": N}` on its first line, then serves:
//   GET  /new-subscription?mode=ok|gone|fail|hang  -> {endpoint, keys: {p256dh, auth}}
//   POST /push/<id>                                -> 201 (ok), 410 (gone), 500 (fail), never (hang)
//   GET  /received                                 -> every push received, checked and decrypted
import http from "node:http";
import crypto from "node:crypto";

const subs = new Map();
const received = [];
let next = 1;

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const unb64u = (s) => Buffer.from(s, "base64url");

function hmac(key, ...parts) {
  const h = crypto.createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** RFC 8291 §3.4 and RFC 8188 §2, the receiving side. */
function decrypt(sub, body) {
  if (body.length < 21) throw new Error("body shorter than the aes128gcm header");
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const keyid = body.subarray(21, 21 + idlen);
  const records = body.subarray(21 + idlen);
  if (idlen !== 65) throw new Error(`keyid is ${idlen} bytes, not a P-256 point`);
  if (rs < 18) throw new Error(`record size ${rs} is too small`);
  if (records.length > rs) throw new Error("more than one record");
  const ecdhSecret = sub.ecdh.computeSecret(keyid);
  const uaPublic = sub.ecdh.getPublicKey();
  const prkKey = hmac(sub.auth, ecdhSecret);
  const ikm = hmac(prkKey, Buffer.from("WebPush: info\0"), uaPublic, keyid, Buffer.from([1]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from("Content-Encoding: aes128gcm\0"), Buffer.from([1])).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from("Content-Encoding: nonce\0"), Buffer.from([1])).subarray(0, 12);
  const d = crypto.createDecipheriv("aes-128-gcm", cek, nonce);
  d.setAuthTag(records.subarray(records.length - 16));
  const padded = Buffer.concat([d.update(records.subarray(0, records.length - 16)), d.final()]);
  // The last record ends with 0x02 then zero padding (RFC 8188 §2).
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error("no last-record delimiter");
  return padded.subarray(0, end).toString("utf8");
}

/** RFC 8292 §2 and §3: the JWT signed with the key in k=, for this origin. */
function checkVapid(header, origin) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header || "");
  if (!m) throw new Error(`Authorization is not "vapid t=…, k=…": ${header}`);
  const [, token, k] = m;
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("the token is not a JWS compact serialization");
  const head = JSON.parse(unb64u(parts[0]).toString());
  if (head.alg !== "ES256") throw new Error(`alg is ${head.alg}, not ES256`);
  const point = unb64u(k);
  if (point.length !== 65 || point[0] !== 4) throw new Error("k is not an uncompressed P-256 point");
  const key = crypto.createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) },
    format: "jwk",
  });
  const ok = crypto.verify(
    "sha256",
    Buffer.from(`${parts[0]}.${parts[1]}`),
    { key, dsaEncoding: "ieee-p1363" },
    unb64u(parts[2]),
  );
  if (!ok) throw new Error("the JWT's signature does not verify against k");
  const claims = JSON.parse(unb64u(parts[1]).toString());
  if (claims.aud !== origin) throw new Error(`aud is ${claims.aud}, not ${origin}`);
  const now = Math.floor(Date.now() / 1000);
  if (!(claims.exp > now && claims.exp <= now + 24 * 3600)) throw new Error(`exp ${claims.exp} is not within 24 hours`);
  if (!/^(mailto:|https:)/.test(claims.sub || "")) throw new Error(`sub ${claims.sub} is not a mailto: or https: contact`);
  return { claims, k };
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const origin = `http://127.0.0.1:${server.address().port}`;
  if (req.method === "GET" && url.pathname === "/new-subscription") {
    const ecdh = crypto.createECDH("prime256v1");
    ecdh.generateKeys();
    const id = String(next++);
    const sub = { ecdh, auth: crypto.randomBytes(16), mode: url.searchParams.get("mode") || "ok" };
    subs.set(id, sub);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ endpoint: `${origin}/push/${id}`, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(sub.auth) } }));
    return;
  }
  if (req.method === "GET" && url.pathname === "/received") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(received));
    return;
  }
  const m = /^\/push\/(\d+)$/.exec(url.pathname);
  if (req.method === "POST" && m) {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const sub = subs.get(m[1]);
      const entry = { sub: m[1], at: Date.now(), ttl: req.headers["ttl"], urgency: req.headers["urgency"], encoding: req.headers["content-encoding"] };
      try {
        if (!sub) throw new Error("no such subscription");
        if (req.headers["content-encoding"] !== "aes128gcm") throw new Error(`Content-Encoding is ${req.headers["content-encoding"]}`);
        if (!req.headers["ttl"]) throw new Error("no TTL header (RFC 8030 §5.2)");
        const { claims, k } = checkVapid(req.headers["authorization"], origin);
        entry.claims = claims;
        entry.k = k;
        entry.payload = JSON.parse(decrypt(sub, Buffer.concat(chunks)));
        entry.ok = true;
      } catch (e) {
        entry.ok = false;
        entry.error = String(e.message || e);
      }
      received.push(entry);
      const mode = sub ? sub.mode : "gone";
      if (mode === "hang") return; // never answers
      if (!entry.ok) {
        res.writeHead(400);
        res.end(entry.error);
      } else if (mode === "gone") {
        res.writeHead(410);
        res.end();
      } else if (mode === "fail") {
        res.writeHead(500);
        res.end();
      } else {
        res.writeHead(201, { location: `${origin}/message/${received.length}` });
        res.end();
      }
    });
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
