// The audit log for administrators: its state (size, the latest signed checkpoint, its age and
// whether its signature holds; a checkpoint written on demand), the entries with filters, and
// one entry's detail with its inclusion proof checked here, in the browser, against the
// checkpoint's root (RFC 9162 §2.1.3.2 with WebCrypto's SHA-256).
import { useState, type FormEvent } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import "./admin.css";

type Entry = Schemas["AuditEntry"];
type Checkpoint = Schemas["CheckpointView"];

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function sha256(parts: Uint8Array[]): Promise<Uint8Array> {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    buf.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

const node = (l: Uint8Array, r: Uint8Array) => sha256([new Uint8Array([1]), l, r]);

/** RFC 9162 §2.1.3.2: does `path` lead from the leaf to `root`? */
async function verifyInclusion(index: number, size: number, leafHex: string, path: string[], rootHex: string): Promise<boolean> {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = hexToBytes(leafHex);
  for (const p of path.map(hexToBytes)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesToHex(r) === rootHex;
}

function when(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
}

function age(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function Status({ onWritten }: { onWritten: () => void }) {
  const status = useLoad(() => api<Schemas["AuditStatus"]>("GET", "/api/admin/audit/status"));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function write() {
    setBusy(true);
    setError(null);
    try {
      await api<Checkpoint>("POST", "/api/admin/audit/checkpoints");
      status.reload();
      onWritten();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  if (status.error) return <Problem error={status.error} onRetry={status.reload} />;
  if (!status.data) return <Loading what="the audit log's state" />;
  const s = status.data;
  const c = s.latest;
  return (
    <section className="card" aria-labelledby="audit-status-title">
      <h2 id="audit-status-title">Checkpoints</h2>
      <dl className="tiles" data-testid="audit-status">
        <div><dt>Entries</dt><dd data-testid="audit-size">{s.size}</dd></div>
        <div><dt>Latest checkpoint</dt><dd data-testid="checkpoint-size">{c ? `${c.tree_size} entries` : "none yet"}</dd></div>
        <div><dt>Written</dt><dd>{c ? <span title={when(c.time)}>{age(c.time)}</span> : "—"}</dd></div>
        <div>
          <dt>Signature</dt>
          <dd data-testid="checkpoint-signature">{c ? (c.signature_valid ? "✓ valid" : "✗ does not verify") : "—"}</dd>
        </div>
      </dl>
      {c && c.tree_size < s.size && (
        <p className="muted">{s.size - c.tree_size} entries are newer than the latest checkpoint; one is written every {s.checkpoint_minutes} minutes when the log grew.</p>
      )}
      <p>
        <button onClick={write} disabled={busy} data-testid="write-checkpoint">{busy ? "Signing…" : "Write checkpoint now"}</button>
      </p>
      <Problem error={error} />
      {c && (
        <details>
          <summary>Signed note and public key</summary>
          <pre className="audit-pre" data-testid="checkpoint-note">{c.note}</pre>
          <pre className="audit-pre">{s.public_key_pem}</pre>
          <p className="muted">
            Outside ferrocast: <code>ferrocast audit export</code> writes a bundle that <code>python3 verify.py</code> and{" "}
            <code>openssl pkeyutl -verify -rawin</code> check.
          </p>
        </details>
      )}
    </section>
  );
}

function Detail({ entry, onClose }: { entry: Entry; onClose: () => void }) {
  const proof = useLoad(async () => {
    const latest = (await api<Checkpoint[]>("GET", "/api/admin/audit/checkpoints?limit=1"))[0];
    const covered = latest && latest.tree_size > entry.index ? latest : null;
    const q = covered ? `&tree_size=${covered.tree_size}` : "";
    const p = await api<Schemas["InclusionProof"]>("GET", `/api/admin/audit/proof/inclusion?index=${entry.index}${q}`);
    const ok = await verifyInclusion(p.leaf_index, p.tree_size, entry.leaf_hash, p.path, p.root_hash);
    const leafOk = bytesToHex(await sha256([new Uint8Array([0]), new TextEncoder().encode(entry.leaf)])) === entry.leaf_hash;
    return { p, ok, leafOk, covered, matchesCheckpoint: covered ? covered.root_hash === p.root_hash : null };
  }, [entry.index]);
  return (
    <section className="card audit-detail" aria-labelledby="audit-entry-title" data-testid="audit-detail">
      <header className="row">
        <h2 id="audit-entry-title">Entry {entry.index}: {entry.action}</h2>
        <button className="link small" onClick={onClose}>Close</button>
      </header>
      <dl className="audit-fields">
        <dt>Time</dt><dd>{when(entry.time)}</dd>
        <dt>Actor</dt><dd>{entry.actor}</dd>
        <dt>Subject</dt><dd>{entry.subject_kind ? `${entry.subject_kind} ${entry.subject_id}` : "—"}</dd>
        <dt>Details</dt><dd><pre className="audit-pre">{JSON.stringify(entry.details, null, 2)}</pre></dd>
        <dt>Personal data</dt>
        <dd>
          {entry.personal_erased ? <span className="muted">erased (the leaf keeps its commitment)</span> : entry.personal_commitment ? <pre className="audit-pre">{JSON.stringify(entry.personal, null, 2)}</pre> : "—"}
        </dd>
        <dt>Leaf hash</dt><dd><code className="hash">{entry.leaf_hash}</code></dd>
        <dt>Previous</dt><dd><code className="hash">{entry.prev_hash}</code></dd>
      </dl>
      {proof.error ? <Problem error={proof.error} onRetry={proof.reload} /> : null}
      {!proof.data && !proof.error && <Loading what="the inclusion proof" />}
      {proof.data && (
        <p data-testid="inclusion-result" className={proof.data.ok && proof.data.leafOk && proof.data.matchesCheckpoint !== false ? "ok" : "danger"}>
          {proof.data.ok && proof.data.leafOk && proof.data.matchesCheckpoint !== false
            ? `✓ Inclusion proof verified: the leaf hashes to its hash, and ${proof.data.p.path.length} hashes lead to the root of ${proof.data.p.tree_size} entries${proof.data.covered ? ", the signed checkpoint's" : " (no checkpoint covers it yet)"}.`
            : "✗ The inclusion proof does not verify: run `ferrocast audit verify`."}
        </p>
      )}
    </section>
  );
}

function Entries({ version }: { version: number }) {
  const [filter, setFilter] = useState({ action: "", actor: "", subject_kind: "", subject_id: "" });
  const [applied, setApplied] = useState(filter);
  const [before, setBefore] = useState<number[]>([]);
  const [open, setOpen] = useState<Entry | null>(null);
  const cursor = before.length ? before[before.length - 1] : null;
  const page = useLoad(() => {
    const q = new URLSearchParams({ limit: "25" });
    for (const [k, v] of Object.entries(applied)) if (v.trim()) q.set(k, v.trim());
    if (cursor !== null) q.set("before", String(cursor));
    return api<Schemas["EntryPage"]>("GET", `/api/admin/audit/entries?${q}`);
  }, [applied, cursor, version]);
  function submit(e: FormEvent) {
    e.preventDefault();
    setBefore([]);
    setOpen(null);
    setApplied(filter);
  }
  return (
    <>
      {open && <Detail entry={open} onClose={() => setOpen(null)} />}
      <section className="card" aria-labelledby="audit-entries-title">
        <h2 id="audit-entries-title">Entries</h2>
        <form className="audit-filters" onSubmit={submit} aria-label="Filter entries">
          <label>Action<input name="action" placeholder="auth or auth.login" value={filter.action} onChange={(e) => setFilter({ ...filter, action: e.target.value })} /></label>
          <label>Actor id<input name="actor" inputMode="numeric" value={filter.actor} onChange={(e) => setFilter({ ...filter, actor: e.target.value })} /></label>
          <label>Subject kind<input name="subject_kind" placeholder="user" value={filter.subject_kind} onChange={(e) => setFilter({ ...filter, subject_kind: e.target.value })} /></label>
          <label>Subject id<input name="subject_id" value={filter.subject_id} onChange={(e) => setFilter({ ...filter, subject_id: e.target.value })} /></label>
          <button type="submit">Filter</button>
        </form>
        {page.error ? <Problem error={page.error} onRetry={page.reload} /> : null}
        {!page.data && !page.error && <Loading what="entries" />}
        {page.data?.entries.length === 0 && <Empty>No entries match.</Empty>}
        {page.data && page.data.entries.length > 0 && (
          <div className="table-scroll">
            <table className="ledger" data-testid="audit-entries">
              <thead>
                <tr><th scope="col" className="num">#</th><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Subject</th><th scope="col"><span className="visually-hidden">Open</span></th></tr>
              </thead>
              <tbody>
                {page.data.entries.map((e) => (
                  <tr key={e.index}>
                    <td className="num">{e.index}</td>
                    <td>{when(e.time)}</td>
                    <td><code>{e.action}</code></td>
                    <td>{e.actor}</td>
                    <td>{e.subject_kind ? `${e.subject_kind} ${e.subject_id}` : "—"}</td>
                    <td><button className="link small" onClick={() => setOpen(e)}>Details<span className="visually-hidden"> of entry {e.index}</span></button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p className="pager">
          {before.length > 0 && <button className="ghost small" onClick={() => setBefore(before.slice(0, -1))}>Newer</button>}
          {page.data?.next_before != null && <button className="ghost small" onClick={() => setBefore([...before, page.data!.next_before!])}>Older</button>}
        </p>
      </section>
    </>
  );
}

export default function AdminAudit() {
  const user = useUser();
  const [version, setVersion] = useState(0);
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Audit log</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  return (
    <div className="admin audit-page">
      <header>
        <p className="crumbs"><Link href="/admin">← Administration</Link></p>
        <h1>Audit log</h1>
        <p className="muted">Every sign-in, role change, key rotation, payment, payout and administrator's action, chained by hash into a Merkle tree whose signed checkpoints anyone with the public key can check.</p>
      </header>
      <Status onWritten={() => setVersion((v) => v + 1)} />
      <Entries version={version} />
    </div>
  );
}
