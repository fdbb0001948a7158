// The moderation queue (moderators and administrators): open reports oldest first, each with
// the item as it is now, its context (the chat around a message, a comment's thread, a video's
// thumbnail), the author's earlier decisions and strikes, and the decisions to take; the
// appeals to decide; and the decided reports.
import { useEffect, useState } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { kindName, OutcomeBadge, when, whenTime } from "../safety";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import { Snapshot } from "./Standing";
import "../safety.css";

type Entry = Schemas["QueueEntry"];
type Tab = "open" | "appeals" | "decided";

export default function Moderation() {
  const user = useUser();
  const [tab, setTab] = useState<Tab>("open");
  useEffect(() => {
    document.title = "Moderation · ferrocast";
  }, []);
  if (!user || (user.role !== "moderator" && user.role !== "admin")) {
    return (
      <section className="narrow card">
        <h1>Moderation</h1>
        <p>The moderation queue is for moderators and administrators.</p>
      </section>
    );
  }
  return (
    <div className="moderation" data-testid="moderation">
      <header className="moderation-head">
        <div>
          <h1>Moderation</h1>
          <p className="muted">Reports from viewers, oldest first. A decision closes every open report of the same item.</p>
        </div>
      </header>
      <div className="queue-tabs" role="group" aria-label="Show">
        <button type="button" aria-pressed={tab === "open"} onClick={() => setTab("open")} data-testid="tab-open">
          Open reports
        </button>
        <button type="button" aria-pressed={tab === "appeals"} onClick={() => setTab("appeals")} data-testid="tab-appeals">
          Appeals
        </button>
        <button type="button" aria-pressed={tab === "decided"} onClick={() => setTab("decided")} data-testid="tab-decided">
          Decided
        </button>
      </div>
      {tab === "appeals" ? <AppealsList /> : <ReportsList status={tab === "open" ? "open" : "all"} admin={user.role === "admin"} />}
    </div>
  );
}

function ReportsList({ status, admin }: { status: string; admin: boolean }) {
  const q = useLoad(() => api<Schemas["Queue"]>("GET", `/api/moderation/reports?status=${status}`), [status]);
  if (q.error) return <Problem error={q.error} onRetry={q.reload} />;
  if (!q.data) return <Loading what="the queue" />;
  const reports = status === "open" ? q.data.reports : q.data.reports.filter((e) => e.report.status !== "open");
  if (reports.length === 0) return <Empty>{status === "open" ? "The queue is empty. Nothing waits for a decision." : "No decided reports yet."}</Empty>;
  return (
    <div data-testid="queue">
      {reports.map((e) => (
        <QueueCard key={e.report.id} entry={e} admin={admin} onDecided={q.reload} />
      ))}
    </div>
  );
}

const DECISIONS: [string, string, string][] = [
  ["dismiss", "Dismiss", "ghost"],
  ["remove", "Remove", ""],
  ["warn", "Remove & warn", ""],
  ["strike", "Strike", "danger"],
];

function QueueCard({ entry, admin, onDecided }: { entry: Entry; admin: boolean; onDecided: () => void }) {
  const { report: r, item } = entry;
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  async function decide(outcome: string) {
    if ((outcome === "suspend" || outcome === "ban") && !confirm(`${outcome === "ban" ? "Ban" : "Suspend"} ${item.owner?.name ?? "this account"}? They will not be able to sign in.`)) return;
    setBusy(true);
    setError(null);
    try {
      const d = await api<Schemas["Decided"]>("POST", `/api/moderation/reports/${r.id}/decision`, { outcome, note } satisfies Schemas["NewDecision"]);
      setDone(`${outcomeWords(outcome)} — ${d.decided.length} report${d.decided.length === 1 ? "" : "s"} closed.`);
      setTimeout(onDecided, 900);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const removable = item.kind !== "channel";
  return (
    <article className="queue-entry" data-testid="queue-entry" aria-label={`Report ${r.id}`}>
      <div>
        <div className="queue-kicker">
          <span className="kind">{kindName(item.kind)}</span>
          <span>{r.category_label}</span>
          <span>· reported {whenTime(r.created_at)}{entry.reporter ? ` by ${entry.reporter}` : ""}</span>
          {entry.open_reports > 1 && <span className="badge safety-badge bad">{entry.open_reports} open reports</span>}
          {r.status !== "open" && <OutcomeBadge status={r.status} outcome={r.outcome} />}
        </div>
        <h2>
          {item.url ? (
            <Link href={item.url}>{item.title || `The ${kindName(item.kind)}`}</Link>
          ) : (
            item.title || `The ${kindName(item.kind)}`
          )}
          {!item.present && <span className="badge safety-badge neutral" style={{ marginLeft: 8 }}>No longer shown</span>}
        </h2>
        {r.details && <p className="muted">“{r.details}”</p>}
        <div className="queue-item" data-testid="queue-item">
          {item.thumbnail && <img className="thumb" src={item.thumbnail} alt="" />}
          {item.context.length === 0 ? (
            item.text ? <p>{item.text}</p> : <Snapshot value={r.snapshot} />
          ) : (
            <ol className="queue-context" aria-label="Context" data-testid="queue-context">
              {item.context.map((l) => (
                <li key={l.id} className={`${l.reported ? "reported" : ""} ${l.deleted ? "deleted" : ""}`} data-reported={l.reported ? "true" : undefined}>
                  <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}</time>
                  <strong>{l.author}</strong> <span className="text">{l.text}</span>
                </li>
              ))}
            </ol>
          )}
        </div>
      </div>
      <aside className="queue-side">
        {item.owner && (
          <div>
            <h3 className="muted" style={{ fontSize: "0.8rem", margin: "0 0 4px", textTransform: "uppercase", letterSpacing: "0.05em" }}>Author</h3>
            <div className="queue-person">
              <strong>{item.owner.name}</strong>
              {item.owner.handle && <Link href={`/c/${item.owner.handle}`}>@{item.owner.handle}</Link>}
              <span className={`badge safety-badge ${item.owner.active_strikes > 0 ? "bad" : "neutral"}`}>
                {item.owner.active_strikes} active strike{item.owner.active_strikes === 1 ? "" : "s"}
              </span>
              {item.owner.restricted && <span className="badge safety-badge bad">Restricted</span>}
              {item.owner.banned ? <span className="badge safety-badge bad">Banned</span> : item.owner.suspended && <span className="badge safety-badge bad">Suspended</span>}
            </div>
          </div>
        )}
        {(entry.history.length > 0 || entry.strikes.length > 0) && (
          <div>
            <h3 className="muted" style={{ fontSize: "0.8rem", margin: "0 0 4px", textTransform: "uppercase", letterSpacing: "0.05em" }}>History</h3>
            <ul className="queue-history" data-testid="queue-history">
              {entry.strikes.map((s) => (
                <li key={`s${s.id}`}>
                  <span>Strike: {s.reason}</span>
                  <span className={`badge safety-badge ${s.active ? "bad" : "neutral"}`}>{s.overturned ? "overturned" : s.active ? `until ${when(s.expires_at)}` : "expired"}</span>
                </li>
              ))}
              {entry.history.slice(0, 8).map((h) => (
                <li key={`r${h.id}`}>
                  <span>
                    {kindName(h.kind)} · {h.category_label} · {when(h.created_at)}
                  </span>
                  <OutcomeBadge status={h.status} outcome={h.outcome} />
                </li>
              ))}
            </ul>
          </div>
        )}
        {r.status === "open" &&
          (done ? (
            <p className="queue-decided" role="status" data-testid="queue-decided">
              {done}
            </p>
          ) : (
            <div className="queue-decide">
              <label>
                Note for the author (optional)
                <textarea maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} placeholder="Which rule, and why" />
              </label>
              <Problem error={error} />
              <div className="queue-actions">
                {DECISIONS.filter(([o]) => o === "dismiss" || removable || o === "strike" || o === "warn").map(([o, label, cls]) => (
                  <button key={o} type="button" className={cls} disabled={busy} onClick={() => decide(o)} data-testid={`decide-${o}`}>
                    {removable || o === "dismiss" ? label : o === "warn" ? "Warn" : label}
                  </button>
                ))}
                {admin && (
                  <>
                    <button type="button" className="danger-outline" disabled={busy} onClick={() => decide("suspend")} data-testid="decide-suspend">
                      Suspend
                    </button>
                    <button type="button" className="danger" disabled={busy} onClick={() => decide("ban")} data-testid="decide-ban">
                      Ban
                    </button>
                  </>
                )}
              </div>
            </div>
          ))}
        {r.status !== "open" && r.note && <p className="note">Note: {r.note}</p>}
      </aside>
    </article>
  );
}

function outcomeWords(o: string): string {
  return { dismiss: "Dismissed", remove: "Removed", warn: "Removed and warned", strike: "Strike issued", suspend: "Account suspended", ban: "Account banned" }[o] ?? o;
}

function AppealsList() {
  const list = useLoad(() => api<Schemas["Appeals"]>("GET", "/api/moderation/appeals?status=all"), []);
  if (list.error) return <Problem error={list.error} onRetry={list.reload} />;
  if (!list.data) return <Loading what="the appeals" />;
  if (list.data.appeals.length === 0) return <Empty>No appeals.</Empty>;
  return (
    <ul className="safety-list" data-testid="appeals-queue">
      {list.data.appeals.map((e) => (
        <AppealCard key={e.appeal.id} entry={e} onDecided={list.reload} />
      ))}
    </ul>
  );
}

function AppealCard({ entry, onDecided }: { entry: Schemas["AppealEntry"]; onDecided: () => void }) {
  const { appeal: a } = entry;
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function decide(decision: "overturn" | "uphold") {
    setBusy(true);
    setError(null);
    try {
      await api("POST", `/api/moderation/appeals/${a.id}/decision`, { decision, note } satisfies Schemas["AppealDecision"]);
      onDecided();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <li className="safety-item" data-testid="appeal-entry">
      <div className="safety-item-head">
        <h3>
          {entry.user?.name ?? "A user"} appeals {entry.strike ? "a strike" : `a decision on their ${kindName(entry.report?.kind ?? "")}`}
        </h3>
        {a.status === "open" ? <span className="badge safety-badge open">Open</span> : <span className={`badge safety-badge ${a.status === "overturned" ? "good" : "neutral"}`}>{a.status === "overturned" ? "Overturned" : "Upheld"}</span>}
      </div>
      <p className="meta">
        Sent {whenTime(a.created_at)}
        {entry.user ? ` · ${entry.user.active_strikes} active strikes${entry.user.restricted ? " · restricted" : ""}` : ""}
      </p>
      {entry.strike && (
        <p className="note">
          Strike: {entry.strike.reason} (issued {when(entry.strike.issued_at)}, counts until {when(entry.strike.expires_at)})
        </p>
      )}
      {entry.report && (
        <>
          <p className="note">
            Decision: <OutcomeBadge status={entry.report.status} outcome={entry.report.outcome} /> {entry.report.category_label}
          </p>
          <Snapshot value={entry.report.snapshot} />
        </>
      )}
      <blockquote>{a.statement}</blockquote>
      {a.status === "open" ? (
        <div className="appeal-form">
          <label>
            Decision note (the user reads it)
            <textarea maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} />
          </label>
          <Problem error={error} />
          <div className="row">
            <button type="button" className="ghost small" disabled={busy || !note.trim()} onClick={() => decide("uphold")} data-testid="appeal-uphold">
              Uphold
            </button>
            <button type="button" className="small" disabled={busy || !note.trim()} onClick={() => decide("overturn")} data-testid="appeal-overturn">
              Overturn
            </button>
          </div>
        </div>
      ) : (
        a.decision_note && <p className="note">Note: {a.decision_note}</p>
      )}
    </li>
  );
}
