// The creator's Tips & goals (`/dashboard/tips`): the overlay addresses for OBS (copy, send a
// test alert, rotate the token), funding goals (create, end, delete, with their bars), and the
// tips received. Tips and goal progress arrive live over the creator's socket.
import { useEffect, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { useSocket } from "../live";
import { navigate } from "../router";
import { Empty, Loading, Problem, useLoad, StudioTabs } from "../ui";
import { GoalBar, money, toMinor } from "../tips";
import "../tips.css";

type Goal = Schemas["GoalView"];

export default function Tips() {
  useEffect(() => {
    if (!session()) navigate("/login");
    document.title = "Tips & goals · ferrocast";
  }, []);
  const socket = useSocket();
  const tips = useLoad(() => api<Schemas["TipList"]>("GET", "/api/me/tips"));
  const goals = useLoad(() => api<Schemas["GoalList"]>("GET", "/api/me/goals"));
  useEffect(() => {
    if (!socket) return;
    const onTip = () => tips.reload();
    const onGoal = (g: Goal) => goals.setData((l) => (l ? { goals: l.goals.some((x) => x.id === g.id) ? l.goals.map((x) => (x.id === g.id ? g : x)) : [g, ...l.goals] } : l));
    socket.on("tip-alert", onTip);
    socket.on("goal-progress", onGoal);
    return () => {
      socket.off("tip-alert", onTip);
      socket.off("goal-progress", onGoal);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket]);
  return (
    <div className="dashboard tips-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Tips &amp; goals</h1>
          <StudioTabs current="/dashboard/tips" />
        </div>
      </header>
      <div className="tips-grid">
        <div className="tips-page">
          <Overlays />
          <Goals goals={goals.data?.goals ?? null} error={goals.error} reload={goals.reload} />
        </div>
        <section className="card" aria-labelledby="tips-received">
          <h2 id="tips-received">Tips received</h2>
          <Problem error={tips.error} onRetry={tips.reload} />
          {!tips.data && !tips.error && <Loading what="your tips" />}
          {tips.data && tips.data.tips.length === 0 && <Empty>No tips yet. Viewers tip from your channel and your watch pages; each shows on your overlay and in your chat.</Empty>}
          {tips.data && tips.data.tips.length > 0 && (
            <ul className="tip-list" data-testid="tips-received">
              {tips.data.tips.map((t) => (
                <li key={t.id}>
                  <span className="tip-amount">{money(t.amount_minor, t.currency)}</span>
                  <strong>{t.name}</strong>
                  <time className="muted" dateTime={t.paid_at}>
                    {new Date(t.paid_at).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })}
                  </time>
                  {(t.message || t.status !== "paid") && (
                    <span className="tip-message">
                      {t.status !== "paid" && <span className="badge bad">{t.status}</span>} {t.message}
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </div>
  );
}

function CopyField({ label, value, testId }: { label: string; value: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <>
      <span className="label-text">{label}</span>
      <div className="overlay-url">
        <code data-testid={testId} title={value}>
          {value}
        </code>
        <button
          type="button"
          className="ghost small"
          onClick={async () => {
            await navigator.clipboard?.writeText(value).catch(() => {});
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          }}
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </>
  );
}

function Overlays() {
  const overlay = useLoad(() => api<Schemas["OverlayView"]>("GET", "/api/me/overlay"));
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  async function rotate() {
    if (!confirm("Make new overlay addresses? The current ones stop working at once: paste the new ones into OBS.")) return;
    try {
      overlay.setData(await api<Schemas["OverlayView"]>("POST", "/api/me/overlay/rotate"));
      setNote("New addresses made. The old ones no longer work.");
      setError(null);
    } catch (e) {
      setError(e);
    }
  }
  async function test() {
    try {
      await api("POST", "/api/me/overlay/test");
      setNote("Test alert sent to your open alert overlays.");
      setError(null);
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section className="card" aria-labelledby="overlays-title" data-testid="overlays">
      <h2 id="overlays-title">Overlays for OBS</h2>
      <ol className="overlay-steps">
        <li>In OBS, add a source: Browser.</li>
        <li>Paste an address below; width 800, height 600.</li>
        <li>Keep them secret: anyone with them sees your alerts. Rotate if one leaks.</li>
      </ol>
      <Problem error={overlay.error ?? error} onRetry={overlay.error ? overlay.reload : undefined} />
      {overlay.data && (
        <>
          <CopyField label="Tip alerts" value={overlay.data.alerts_url} testId="overlay-alerts-url" />
          <CopyField label="Goal bar" value={overlay.data.goal_url} testId="overlay-goal-url" />
          <div className="tips-actions">
            <button type="button" className="ghost" onClick={test} data-testid="overlay-test">
              Send a test alert
            </button>
            <button type="button" className="danger-outline ghost" onClick={rotate} data-testid="overlay-rotate">
              Rotate addresses
            </button>
          </div>
        </>
      )}
      {note && (
        <p className="muted" role="status">
          {note}
        </p>
      )}
    </section>
  );
}

function Goals({ goals, error, reload }: { goals: Goal[] | null; error: unknown; reload: () => void }) {
  const [title, setTitle] = useState("");
  const [target, setTarget] = useState("");
  const [currency, setCurrency] = useState("USD");
  const [deadline, setDeadline] = useState("");
  const [problem, setProblem] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const me = session()?.user;
  const options = useLoad(() => (me?.handle ? api<Schemas["TipOptions"]>("GET", `/api/channels/${encodeURIComponent(me.handle)}/tipping`) : Promise.resolve(null)));
  useEffect(() => {
    if (options.data) setCurrency(options.data.currency);
  }, [options.data]);
  async function create(e: FormEvent) {
    e.preventDefault();
    const minor = toMinor(target);
    if (minor === null) {
      setProblem(new Error("Target: an amount such as 500 or 49.99."));
      return;
    }
    setBusy(true);
    try {
      await api<Goal>("POST", "/api/me/goals", {
        title,
        target_minor: minor,
        currency,
        ...(deadline ? { deadline: new Date(deadline).toISOString() } : {}),
      } satisfies Schemas["GoalInput"]);
      setTitle("");
      setTarget("");
      setDeadline("");
      setProblem(null);
      reload();
    } catch (err) {
      setProblem(err);
    } finally {
      setBusy(false);
    }
  }
  async function act(g: Goal, how: "end" | "delete") {
    if (how === "delete" && !confirm(`Delete the goal “${g.title}”? What it raised stays yours.`)) return;
    try {
      if (how === "end") await api("PATCH", `/api/me/goals/${g.id}`, { end: true } satisfies Schemas["GoalChange"]);
      else await api("DELETE", `/api/me/goals/${g.id}`);
      reload();
    } catch (err) {
      setProblem(err);
    }
  }
  return (
    <section className="card" aria-labelledby="goals-title">
      <h2 id="goals-title">Goals</h2>
      <p className="muted">Tips and memberships paid in the goal's currency count towards it, from when you create it. Open goals show on your channel and on the goal overlay.</p>
      <form className="goal-form" onSubmit={create} aria-label="New goal">
        <label>
          What for
          <input required maxLength={80} placeholder="e.g. A new microphone" value={title} onChange={(e) => setTitle(e.target.value)} data-testid="goal-title" />
        </label>
        <label>
          Target
          <input required inputMode="decimal" placeholder="500" value={target} onChange={(e) => setTarget(e.target.value)} data-testid="goal-target" />
        </label>
        <label>
          Currency
          <select value={currency} onChange={(e) => setCurrency(e.target.value)}>
            {(options.data?.currencies.map((c) => c.currency) ?? ["USD"]).map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Deadline <span className="muted fine">(optional)</span>
          <input type="datetime-local" value={deadline} onChange={(e) => setDeadline(e.target.value)} />
        </label>
        <div className="goal-form-actions">
          <button type="submit" disabled={busy || !title.trim() || !target.trim()} data-testid="goal-create">
            Create goal
          </button>
        </div>
      </form>
      <Problem error={problem ?? error} />
      {goals && goals.length > 0 && (
        <div className="goal-list" data-testid="my-goals">
          {goals.map((g) => (
            <div key={g.id} className={`goal-item ${g.open ? "" : "closed"}`}>
              <GoalBar goal={g} />
              <div className="tips-actions">
                {!g.open && <span className="badge">Ended</span>}
                {g.open && (
                  <button type="button" className="ghost small" onClick={() => act(g, "end")}>
                    End
                  </button>
                )}
                <button type="button" className="link small danger" onClick={() => act(g, "delete")}>
                  Delete
                </button>
              </div>
            </div>
          ))}
        </div>
      )}
    </section>
  );
}
