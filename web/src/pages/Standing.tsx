// My standing: the caller's strikes (each with when it stops counting), whether streaming and
// uploads are restricted, decisions on their content, their appeals (and the form to make one),
// and the reports they made with what became of them.
import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { kindName, OutcomeBadge, when, whenTime } from "../safety";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import "../safety.css";

type Standing = Schemas["StandingView"];

export default function Standing() {
  const user = useUser();
  const standing = useLoad(() => api<Standing>("GET", "/api/me/standing"), []);
  useEffect(() => {
    document.title = "My standing · ferrocast";
  }, []);
  if (!user) {
    return (
      <section className="narrow card">
        <h1>My standing</h1>
        <p>
          <Link href="/login">Log in</Link> to see your reports, strikes and appeals.
        </p>
      </section>
    );
  }
  if (standing.error) return <Problem error={standing.error} onRetry={standing.reload} />;
  if (!standing.data) return <Loading what="your standing" />;
  const s = standing.data;
  return (
    <div className="standing" data-testid="standing">
      <h1>My standing</h1>
      <Hero s={s} />
      <section className="standing-section" aria-labelledby="strikes-title">
        <h2 id="strikes-title">
          Strikes <span className="count">{s.strikes.length}</span>
        </h2>
        {s.strikes.length === 0 ? (
          <Empty>No strikes. Keep it up.</Empty>
        ) : (
          <ul className="safety-list" data-testid="strikes">
            {s.strikes.map((x) => (
              <li key={x.id} className={`safety-item ${x.active ? "" : "inactive"}`} data-testid="strike">
                <div className="safety-item-head">
                  <h3>{x.reason}</h3>
                  {x.overturned ? (
                    <span className="badge safety-badge good">Overturned</span>
                  ) : x.active ? (
                    <span className="badge safety-badge bad">Counts until {when(x.expires_at)}</span>
                  ) : (
                    <span className="badge safety-badge neutral">Expired {when(x.expires_at)}</span>
                  )}
                </div>
                <p className="meta">Issued {when(x.issued_at)}</p>
                {x.overturned && x.overturn_note && <p className="note">Appeal granted: {x.overturn_note}</p>}
                {x.appeal ? (
                  <p className="note">
                    Appeal: <AppealState status={x.appeal} />
                  </p>
                ) : (
                  !x.overturned && x.active && <AppealForm what="strike" body={{ strike_id: x.id }} onDone={standing.reload} />
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      {s.decisions.length > 0 && (
        <section className="standing-section" aria-labelledby="decisions-title">
          <h2 id="decisions-title">
            Decisions on your content <span className="count">{s.decisions.length}</span>
          </h2>
          <ul className="safety-list">
            {s.decisions.map((d) => (
              <li key={d.report_id} className="safety-item" data-testid="decision">
                <div className="safety-item-head">
                  <h3>Your {kindName(d.kind)}</h3>
                  <OutcomeBadge status="resolved" outcome={d.outcome} />
                </div>
                <p className="meta">
                  {d.category_label} · {when(d.decided_at)}
                </p>
                <Snapshot value={d.snapshot} />
                {d.note && <p className="note">Moderator's note: {d.note}</p>}
                {d.appeal ? (
                  <p className="note">
                    Appeal: <AppealState status={d.appeal} />
                  </p>
                ) : (
                  <AppealForm what="decision" body={{ report_id: d.report_id }} onDone={standing.reload} />
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      {s.appeals.length > 0 && (
        <section className="standing-section" aria-labelledby="appeals-title">
          <h2 id="appeals-title">
            Appeals <span className="count">{s.appeals.length}</span>
          </h2>
          <ul className="safety-list" data-testid="appeals">
            {s.appeals.map((a) => (
              <li key={a.id} className="safety-item">
                <div className="safety-item-head">
                  <h3>{a.strike_id ? "Appeal of a strike" : "Appeal of a decision"}</h3>
                  <AppealState status={a.status} />
                </div>
                <p className="meta">Sent {whenTime(a.created_at)}{a.decided_at ? ` · decided ${whenTime(a.decided_at)}` : ""}</p>
                <blockquote>{a.statement}</blockquote>
                {a.decision_note && <p className="note">Decision: {a.decision_note}</p>}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section className="standing-section" aria-labelledby="reports-title">
        <h2 id="reports-title">
          My reports <span className="count">{s.reports.length}</span>
        </h2>
        {s.reports.length === 0 ? (
          <Empty>You have not reported anything. If something breaks the rules, use Report next to it.</Empty>
        ) : (
          <ul className="safety-list" data-testid="my-reports">
            {s.reports.map((r) => (
              <li key={r.id} className="safety-item" data-testid="my-report">
                <div className="safety-item-head">
                  <h3>
                    A {kindName(r.kind)} · {r.category_label}
                  </h3>
                  <OutcomeBadge status={r.status} outcome={r.outcome} />
                </div>
                <p className="meta">
                  Reported {whenTime(r.created_at)}
                  {r.resolved_at ? ` · reviewed ${whenTime(r.resolved_at)}` : ""}
                </p>
                <Snapshot value={r.snapshot} />
                {r.outcome_text && (
                  <p className="note" data-testid="report-outcome">
                    {r.outcome_text}
                  </p>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function Hero({ s }: { s: Standing }) {
  const tone = s.restricted ? "restricted" : s.active_strikes > 0 ? "warned" : "";
  return (
    <section className={`standing-hero ${tone}`} aria-label="Your account" data-testid="standing-hero">
      <div className="strike-meter" aria-label={`${s.active_strikes} of ${s.restrict_at} strikes`}>
        {Array.from({ length: s.restrict_at }, (_, i) => (
          <span key={i} className={i < s.active_strikes ? "on" : ""}>
            {i + 1}
          </span>
        ))}
      </div>
      <div>
        {s.restricted ? (
          <>
            <h2>Streaming and uploads are restricted</h2>
            <p>
              {s.active_strikes} strikes count now{s.restricted_until ? `; the restriction lifts on ${when(s.restricted_until)} if nothing changes` : ""}. You can still sign in, watch, chat and appeal.
            </p>
          </>
        ) : s.active_strikes > 0 ? (
          <>
            <h2>
              {s.active_strikes} of {s.restrict_at} strikes
            </h2>
            <p>Each strike counts for 90 days. At {s.restrict_at}, streaming and uploads are restricted until enough expire.</p>
          </>
        ) : (
          <>
            <h2>Your account is in good standing</h2>
            <p>No strikes count against you. Each strike counts for 90 days; {s.restrict_at} restrict streaming and uploads.</p>
          </>
        )}
      </div>
    </section>
  );
}

function AppealState({ status }: { status: string }) {
  if (status === "open") return <span className="badge safety-badge open">Waiting for a decision</span>;
  if (status === "overturned") return <span className="badge safety-badge good">Granted</span>;
  return <span className="badge safety-badge neutral">Turned down</span>;
}

/** What an item said when it was reported: its title and text. */
export function Snapshot({ value }: { value: unknown }) {
  const v = (value ?? {}) as { title?: string; text?: string };
  if (!v.title && !v.text) return null;
  return (
    <blockquote>
      {v.title && <strong>{v.title}</strong>}
      {v.title && v.text ? ": " : ""}
      {v.text}
    </blockquote>
  );
}

function AppealForm({ what, body, onDone }: { what: string; body: { strike_id?: number; report_id?: number }; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [statement, setStatement] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (!open) {
    return (
      <p className="note">
        <button type="button" className="link small" onClick={() => setOpen(true)} data-testid="appeal-open">
          Appeal this {what}
        </button>
      </p>
    );
  }
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api("POST", "/api/appeals", { ...body, statement } satisfies Schemas["NewAppeal"]);
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="appeal-form" onSubmit={submit} data-testid="appeal-form">
      <label>
        Why should it be overturned?
        <textarea maxLength={1000} value={statement} onChange={(e) => setStatement(e.target.value)} placeholder="Give the context the moderators may have missed" required />
      </label>
      <Problem error={error} />
      <div className="row">
        <button type="button" className="ghost small" onClick={() => setOpen(false)}>
          Cancel
        </button>
        <button type="submit" className="small" disabled={busy || !statement.trim()}>
          {busy ? "Sending…" : "Send appeal"}
        </button>
      </div>
    </form>
  );
}
