// Tips and goals on the watch page and the channel: the Tip button with its dialog (amount,
// currency, gateway, name, message; the purchase is paid on the gateway's page), and the
// channel's funding goals as progress bars.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, session, type Schemas } from "./api";
import { Problem, useLoad } from "./ui";
import "./tips.css";

type Goal = Schemas["GoalView"];
type Options = Schemas["TipOptions"];

/** An amount in minor units as people read it in their language ("$5.00", "₹500.00"). */
export function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, minimumFractionDigits: minor % 100 === 0 ? 0 : 2 }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

/** A decimal amount typed by a person ("5", "5.5", "12.50") in minor units, or null. */
export function toMinor(text: string): number | null {
  const m = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + (m[2] ? Number(m[2].padEnd(2, "0")) : 0);
}

/** A goal's bar: title, raised of target, and the bar itself. */
export function GoalBar({ goal, className = "" }: { goal: Goal; className?: string }) {
  const left = goal.deadline ? Math.ceil((new Date(goal.deadline).getTime() - Date.now()) / 86_400_000) : null;
  return (
    <div className={`goal ${className}`} data-testid="goal" data-goal-id={goal.id} data-raised={goal.raised_minor}>
      <div className="goal-head">
        <strong className="goal-title">{goal.title}</strong>
        <span className="goal-figures" data-testid="goal-figures">
          <b>{money(goal.raised_minor, goal.currency)}</b> of {money(goal.target_minor, goal.currency)}
        </span>
      </div>
      <div className="goal-track" role="progressbar" aria-label={`${goal.title}: ${goal.percent}% raised`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={goal.percent}>
        <span className="goal-fill" style={{ width: `${Math.max(goal.percent, goal.raised_minor > 0 ? 2 : 0)}%` }} />
      </div>
      <div className="goal-foot muted">
        <span data-testid="goal-percent">{goal.percent}%</span>
        <span>
          {goal.contributions === 1 ? "1 supporter" : `${goal.contributions} supporters`}
          {left !== null && goal.open && ` · ${left <= 1 ? "ends today" : `${left} days left`}`}
        </span>
      </div>
    </div>
  );
}

/** A channel's open goals (nothing when it has none), asked again every `refreshMs`. */
export function ChannelGoals({ handle, refreshMs = 20000, children }: { handle: string; refreshMs?: number; children?: ReactNode }) {
  const goals = useLoad(() => api<Schemas["GoalList"]>("GET", `/api/channels/${encodeURIComponent(handle)}/goals`), [handle]);
  useEffect(() => {
    const t = setInterval(goals.reload, refreshMs);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [handle, refreshMs]);
  const list = goals.data?.goals ?? [];
  if (!list.length) return null;
  return (
    <section className="goals card" aria-label="Goals" data-testid="channel-goals">
      {list.map((g) => (
        <GoalBar key={g.id} goal={g} />
      ))}
      {children}
    </section>
  );
}

/** The Tip button; its dialog is loaded when opened. Nothing for the creator's own channel. */
export function TipButton({ handle, name, className = "" }: { handle: string; name: string; className?: string }) {
  const [open, setOpen] = useState(false);
  if (session()?.user.handle === handle) return null;
  return (
    <>
      <button type="button" className={`tip-button ${className}`} onClick={() => setOpen(true)} data-testid="tip-button">
        <svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
          <path d="M12 21s-7-4.35-9.5-9A5.5 5.5 0 0 1 12 6a5.5 5.5 0 0 1 9.5 6C19 16.65 12 21 12 21z" />
        </svg>
        Tip
      </button>
      {open && <TipDialog handle={handle} name={name} onClose={() => setOpen(false)} />}
    </>
  );
}

function TipDialog({ handle, name, onClose }: { handle: string; name: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const options = useLoad(() => api<Options>("GET", `/api/channels/${encodeURIComponent(handle)}/tipping`), [handle]);
  return (
    <dialog
      ref={ref}
      className="tip-dialog"
      aria-label={`Tip ${name}`}
      data-testid="tip-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="tip-dialog-head">
        <div>
          <p className="tip-kicker">Support the creator</p>
          <h2>Tip {name}</h2>
        </div>
        <button className="ghost small" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </header>
      {options.error ? <Problem error={options.error} onRetry={options.reload} /> : options.data ? <TipForm options={options.data} /> : <p className="muted">Loading…</p>}
    </dialog>
  );
}

function TipForm({ options }: { options: Options }) {
  const me = session()?.user;
  const [currency, setCurrency] = useState(options.currency);
  const limits = options.currencies.find((c) => c.currency === currency) ?? options.currencies[0];
  const [amount, setAmount] = useState<number | null>(limits?.suggested_minor[1] ?? limits?.min_minor ?? null);
  const [custom, setCustom] = useState("");
  const gateways = options.gateways.filter((g) => g.currencies.includes(currency));
  const [gateway, setGateway] = useState(gateways[0]?.id ?? "");
  const [displayName, setDisplayName] = useState("");
  const [message, setMessage] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!gateways.some((g) => g.id === gateway)) setGateway(gateways[0]?.id ?? "");
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [currency]);

  if (!me) {
    return (
      <div className="tip-signin">
        <p>Log in to send a tip: it is paid securely on the payment provider's page, and {options.display_name} sees it live.</p>
        <a className="button" href="/login">
          Log in to tip
        </a>
      </div>
    );
  }
  if (!options.accepts || !limits) {
    return <p className="muted">Tips cannot be paid on this server yet: no payment provider is set up.</p>;
  }
  const chosen = custom ? toMinor(custom) : amount;
  const inRange = chosen !== null && chosen >= limits.min_minor && chosen <= limits.max_minor;

  async function send(e: FormEvent) {
    e.preventDefault();
    if (!inRange || chosen === null || !gateway) return;
    setBusy(true);
    setError(null);
    try {
      // POST /api/purchases: the generic checkout (kind "tip"); the gateway's page is at `url`.
      const r = await api<{ purchase_id: string; url: string }>("POST", "/api/purchases", {
        kind: "tip",
        channel: options.handle,
        amount_minor: chosen,
        currency,
        gateway,
        ...(message.trim() ? { message: message.trim() } : {}),
        ...(displayName.trim() ? { display_name: displayName.trim() } : {}),
      });
      window.location.assign(r.url);
    } catch (err) {
      setError(err instanceof ApiError ? err : new Error("Could not reach the server; try again."));
      setBusy(false);
    }
  }

  return (
    <form className="tip-form" onSubmit={send}>
      <fieldset className="tip-amounts">
        <legend>Amount</legend>
        <div className="tip-chips">
          {limits.suggested_minor.map((a) => (
            <button
              type="button"
              key={a}
              className={`tip-chip ${!custom && amount === a ? "on" : ""}`}
              aria-pressed={!custom && amount === a}
              onClick={() => {
                setAmount(a);
                setCustom("");
              }}
            >
              {money(a, currency)}
            </button>
          ))}
        </div>
        <div className="tip-custom">
          <label>
            Other amount
            <input inputMode="decimal" placeholder={`${limits.min_minor / 100}–${limits.max_minor / 100}`} value={custom} onChange={(e) => setCustom(e.target.value)} data-testid="tip-amount" />
          </label>
          {options.currencies.length > 1 && (
            <label>
              Currency
              <select value={currency} onChange={(e) => setCurrency(e.target.value)} data-testid="tip-currency">
                {options.currencies.map((c) => (
                  <option key={c.currency}>{c.currency}</option>
                ))}
              </select>
            </label>
          )}
        </div>
        <p className={`fine ${custom && !inRange ? "error" : "muted"}`}>
          {money(limits.min_minor, currency)} to {money(limits.max_minor, currency)}
        </p>
      </fieldset>
      <label>
        Name to show <span className="muted fine">(optional)</span>
        <input maxLength={options.max_name_chars} placeholder={me.display_name} value={displayName} onChange={(e) => setDisplayName(e.target.value)} data-testid="tip-name" />
      </label>
      <label>
        Message <span className="muted fine">(optional, shown on stream)</span>
        <textarea rows={3} maxLength={options.max_message_chars} value={message} onChange={(e) => setMessage(e.target.value)} data-testid="tip-message" />
        <span className="fine muted tip-count">
          {message.length}/{options.max_message_chars}
        </span>
      </label>
      {gateways.length > 1 && (
        <fieldset className="tip-gateways">
          <legend>Pay with</legend>
          {gateways.map((g) => (
            <label key={g.id} className="compact">
              <input type="radio" name="gateway" value={g.id} checked={gateway === g.id} onChange={() => setGateway(g.id)} />
              {g.name}
            </label>
          ))}
        </fieldset>
      )}
      <Problem error={error} />
      <button type="submit" className="tip-send" disabled={!inRange || busy || !gateway} data-testid="tip-send">
        {busy ? "Opening checkout…" : inRange && chosen !== null ? `Tip ${money(chosen, currency)}` : "Choose an amount"}
      </button>
      <p className="fine muted tip-note">
        Paid on {gateways.find((g) => g.id === gateway)?.name ?? "the provider"}'s secure page. Messages follow the channel's chat rules.
      </p>
    </form>
  );
}
