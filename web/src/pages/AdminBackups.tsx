// Backups, for administrators: the schedule and its retention, the last success and the next
// one due, "Back up now" (taken in the background, followed here until it ends), and every
// backup with its outcome; and how to restore one.
import { useEffect, useState } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import { ago, bytes as size, dateTime as when } from "../format";
import "./admin.css";

type Run = Schemas["BackupRunView"];

function took(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

const BADGE: Record<string, [string, string]> = {
  running: ["warn", "Running"],
  stored: ["good", "Stored"],
  failed: ["bad", "Failed"],
  pruned: ["", "Removed by retention"],
  interrupted: ["bad", "Interrupted"],
};

function Row({ r }: { r: Run }) {
  const [tone, label] = BADGE[r.state] ?? ["", r.state];
  return (
    <tr data-testid="backup-row" data-state={r.state}>
      <th scope="row" data-label="Started">{when(r.started_at)}</th>
      <td data-label="Outcome">
        <span className={`badge ${tone}`} data-testid="backup-state">{label}</span>
        {r.error && <div className="backup-error" data-testid="backup-error">{r.error}</div>}
      </td>
      <td data-label="Size" data-testid="backup-size">{r.size_bytes != null ? size(r.size_bytes) : "—"}</td>
      <td data-label="Took">{r.duration_ms != null ? took(r.duration_ms) : "—"}</td>
      <td data-label="Node">
        <code title={r.node}>{r.node.slice(0, 8)}</code>
      </td>
      <td data-label="Stored as">
        <code data-testid="backup-key">{r.storage_key}</code>
      </td>
    </tr>
  );
}

export default function AdminBackups() {
  const user = useUser();
  const r = useLoad(() => api<Schemas["BackupsView"]>("GET", "/api/admin/backups"));
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const data = r.data;
  const busy = !!data && (!!data.running_here || data.runs.some((x) => x.state === "running"));

  // While a backup runs, its row follows it until it ends.
  useEffect(() => {
    if (!busy) return;
    const t = window.setTimeout(r.reload, 1000);
    return () => window.clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [busy, data]);

  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Backups</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }

  async function backUpNow() {
    setStarting(true);
    setError(null);
    try {
      await api<Schemas["BackupStarted"]>("POST", "/api/admin/backups");
      r.reload();
    } catch (e) {
      setError(e);
    } finally {
      setStarting(false);
    }
  }

  const last = data?.runs.find((x) => x.state === "stored" || x.state === "pruned");
  return (
    <div className="admin backups">
      <h1>Backups</h1>
      <p className="admin-links">
        <Link href="/admin" className="button ghost small">Administration</Link>
      </p>
      {r.error ? <Problem error={r.error} onRetry={r.reload} /> : null}
      {!data && !r.error && <Loading what="backups" />}
      {data && (
        <section className="card" aria-labelledby="backup-schedule-title">
          <h2 id="backup-schedule-title">Schedule</h2>
          <dl className="facts" data-testid="backup-facts">
            <dt>Automatic backups</dt>
            <dd data-testid="backup-schedule">
              {data.schedule ? (
                <>Every {data.every}, keeping {data.schedule}</>
              ) : (
                <>Off on this node. Set <code>FERROCAST_BACKUP_SCHEDULE</code> (e.g. <code>hourly=24,daily=7,weekly=4</code>) to take them.</>
              )}
            </dd>
            <dt>Last success</dt>
            <dd data-testid="backup-last">
              {data.last_success_at ? (
                <>
                  {when(data.last_success_at)} <span className="muted">({ago(data.last_success_at)}{last?.size_bytes != null ? `, ${size(last.size_bytes)}` : ""})</span>
                </>
              ) : (
                "Never"
              )}
            </dd>
            {data.next_due_at && (
              <>
                <dt>Next automatic backup</dt>
                <dd>{when(data.next_due_at)}</dd>
              </>
            )}
            <dt>Passphrase</dt>
            <dd data-testid="backup-passphrase">
              {data.passphrase_configured ? (
                "Set on this node: it encrypts the keys inside every backup. Keep a copy somewhere else — without it no backup can be restored."
              ) : (
                <>
                  <strong>Not set.</strong> Set <code>FERROCAST_BACKUP_PASSPHRASE</code> (or <code>FERROCAST_BACKUP_PASSPHRASE_FILE</code>), at least 12 characters, and restart the node.
                </>
              )}
            </dd>
          </dl>
          <div className="actions">
            <button
              type="button"
              className="button"
              onClick={backUpNow}
              disabled={starting || !!data.running_here || !data.passphrase_configured}
              data-testid="back-up-now"
            >
              {data.running_here ? "Backing up…" : starting ? "Starting…" : "Back up now"}
            </button>
            {data.running_here && (
              <span className="muted" role="status" aria-live="polite" data-testid="backup-running">
                Taking <code>{data.running_here}</code>: the database snapshot, the sealed keys and the list of stored files.
              </span>
            )}
          </div>
          <Problem error={error} />
        </section>
      )}
      {data && (
        <section className="card" aria-labelledby="backup-history-title">
          <h2 id="backup-history-title">History</h2>
          {data.runs.length === 0 ? (
            <Empty>No backup has been taken yet.</Empty>
          ) : (
            <div className="table-scroll">
              <table data-testid="backups">
                <thead>
                  <tr>
                    <th scope="col">Started</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Size</th>
                    <th scope="col">Took</th>
                    <th scope="col">Node</th>
                    <th scope="col">Stored as</th>
                  </tr>
                </thead>
                <tbody>
                  {data.runs.map((x) => (
                    <Row key={x.storage_key} r={x} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
      <section className="card" aria-labelledby="backup-restore-title">
        <h2 id="backup-restore-title">Restoring</h2>
        <p>
          Backups are stored under <code>backups/</code> in the object storage. To restore one, copy it to the new machine, point the configuration at an
          empty database (SQLite or PostgreSQL) and run:
        </p>
        <pre className="command">ferrocast restore ferrocast-20260101T010203Z.fcbak</pre>
        <p className="muted">
          It asks for the passphrase (or reads <code>FERROCAST_BACKUP_PASSPHRASE</code>), checks the whole file before writing anything, loads it, installs the
          keys, and verifies the ledger, the audit log and the stored files.
        </p>
      </section>
    </div>
  );
}
