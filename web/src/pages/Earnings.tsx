// The creator's earnings: balances (pending while held, available, in flight, paid), a payout
// request, how they are paid (Stripe Connect onboarding or bank details), income over the last
// 30 days by kind, recent movements, payouts, monthly statements (a printable page and CSV) and
// collaborator splits. Also the printable statement page and a buyer's purchase receipt.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, useLoad, StudioTabs } from "../ui";
import "../studio.css";
import "../analytics.css";
import "../earnings.css";

type Earnings = Schemas["Earnings"];
type Balance = Schemas["BalanceView"];

const KIND: Record<string, string> = {
  tip: "Tips",
  membership: "Memberships",
  ppv: "Pay-per-view",
  refund: "Refunds",
  chargeback: "Chargebacks",
  payout_request: "Payout requested",
  payout_rejected: "Payout returned",
  income: "Income",
};
/** One movement's kind, in the singular. */
const ONE: Record<string, string> = {
  tip: "Tip",
  membership: "Membership",
  ppv: "Pay-per-view",
  refund: "Refund",
  chargeback: "Chargeback",
  payout_request: "Payout requested",
  payout_rejected: "Payout returned",
  income: "Income",
};
/** The ledger's line when it says more than the kind does. */
const details = (kind: string, memo: string) => (memo && !(ONE[kind] ?? kind).toLowerCase().startsWith(memo.toLowerCase()) ? memo : "");
const STATUS: Record<string, string> = { requested: "Waiting for approval", approved: "Bank transfer on its way", paid: "Paid", rejected: "Rejected" };

/** Minor units as money in a currency: "$12.50", "₹1,200.00". */
export function formatMoney(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

const day = (iso: string) => new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
const monthName = (ym: string) => new Date(`${ym}-01T00:00:00Z`).toLocaleDateString(undefined, { year: "numeric", month: "long", timeZone: "UTC" });

/** "12.34" (major units, at most two decimals) in minor units; null when not money. */
function toMinor(text: string): number | null {
  const m = /^\s*(\d{1,10})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** Downloads an authenticated CSV. */
async function download(path: string, name: string) {
  const s = session();
  const r = await fetch(path, { headers: s ? { authorization: `Bearer ${s.access_token}` } : {} });
  if (!r.ok) throw new Error(`the download failed (${r.status})`);
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  URL.revokeObjectURL(url);
}

function Balances({ e }: { e: Earnings }) {
  if (e.balances.length === 0)
    return (
      <Empty>
        <p>No earnings yet. Tips, memberships and pay-per-view sales appear here once they are paid; they are held {e.hold_days} days before you can be paid out.</p>
      </Empty>
    );
  return (
    <>
      {e.balances.map((b) => (
        <dl className="tiles balance" key={b.currency} data-testid="balance" data-currency={b.currency}>
          <div className="primary">
            <dt>Available · {b.currency}</dt>
            <dd data-testid="balance-available">{formatMoney(b.available_minor, b.currency)}</dd>
          </div>
          <div>
            <dt>Pending ({e.hold_days}-day hold)</dt>
            <dd data-testid="balance-pending">{formatMoney(b.pending_minor, b.currency)}</dd>
          </div>
          <div>
            <dt>In flight</dt>
            <dd data-testid="balance-in-flight">{formatMoney(b.in_flight_minor, b.currency)}</dd>
          </div>
          <div>
            <dt>Paid out</dt>
            <dd data-testid="balance-paid">{formatMoney(b.paid_minor, b.currency)}</dd>
          </div>
        </dl>
      ))}
    </>
  );
}

function RequestPayout({ e, onDone }: { e: Earnings; onDone: (msg: string) => void }) {
  const payable = e.balances.filter((b) => b.available_minor > 0);
  const [currency, setCurrency] = useState(payable[0]?.currency ?? e.balances[0]?.currency ?? "USD");
  const bal: Balance | undefined = e.balances.find((b) => b.currency === currency);
  const [amount, setAmount] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const hasMethod = e.method.stripe_ready || !!e.method.bank_holder;
  const min = e.payout_minimum_minor;
  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const minor = toMinor(amount || ((bal?.available_minor ?? 0) / 100).toFixed(2));
    if (minor === null) return setError(new Error("enter an amount such as 25.00"));
    setBusy(true);
    setError(null);
    try {
      const p = await api<Schemas["PayoutView"]>("POST", "/api/me/payouts", { amount_minor: minor, currency } satisfies Schemas["PayoutRequest"]);
      setAmount("");
      onDone(`Payout of ${formatMoney(p.amount.amount_minor, p.amount.currency)} requested. An administrator approves it, usually within a few days.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="card" aria-labelledby="payout-title">
      <h2 id="payout-title">Get paid</h2>
      {e.balances.length === 0 ? (
        <p className="muted">Nothing to pay out yet.</p>
      ) : (
        <form className="payout-form" onSubmit={submit}>
          <label>
            Amount
            <span className="money-input">
              <input name="amount" inputMode="decimal" placeholder={bal ? (bal.available_minor / 100).toFixed(2) : "0.00"} value={amount} onChange={(ev) => setAmount(ev.target.value)} aria-describedby="payout-help" />
              <select name="currency" aria-label="Currency" value={currency} onChange={(ev) => setCurrency(ev.target.value)}>
                {e.balances.map((b) => (
                  <option key={b.currency}>{b.currency}</option>
                ))}
              </select>
            </span>
          </label>
          <button type="submit" disabled={busy || !hasMethod || (bal?.available_minor ?? 0) < min} data-testid="request-payout">
            Request payout
          </button>
          <p id="payout-help" className="muted small-text">
            {bal ? `${formatMoney(bal.available_minor, currency)} available · ` : ""}minimum {formatMoney(min, currency)}
            {!hasMethod && " · add a way to be paid below first"}
          </p>
        </form>
      )}
      <Problem error={error} />
    </section>
  );
}

function Method({ e, reload }: { e: Earnings; reload: () => void }) {
  const m = e.method;
  const [error, setError] = useState<unknown>(null);
  const [holder, setHolder] = useState("");
  const [details, setDetails] = useState("");
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  async function connect() {
    setError(null);
    try {
      const link = await api<Schemas["ConnectLink"]>("POST", "/api/me/payouts/connect");
      location.assign(link.url);
    } catch (err) {
      setError(err);
    }
  }
  async function saveBank(ev: FormEvent) {
    ev.preventDefault();
    setError(null);
    try {
      await api("PUT", "/api/me/payouts/bank", { holder, details } satisfies Schemas["BankDetails"]);
      setEditing(false);
      setHolder("");
      setDetails("");
      setSaved("Bank details saved.");
      reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section className="card" aria-labelledby="method-title">
      <h2 id="method-title">How you get paid</h2>
      <div className="methods">
        {m.stripe_available && (
          <div className={`method ${m.stripe_ready ? "ready" : ""}`} data-testid="stripe-method">
            <h3>Stripe</h3>
            {m.stripe_ready ? (
              <p>
                <span className="badge good">Connected</span> Payouts go to your Stripe account <code>{m.stripe_account}</code> as soon as they are approved.
              </p>
            ) : m.stripe_account ? (
              <p>Your Stripe account is created; finish Stripe's onboarding to receive payouts.</p>
            ) : (
              <p>Connect a Stripe account to be paid directly, in a few minutes.</p>
            )}
            {!m.stripe_ready && (
              <button onClick={connect} data-testid="connect-stripe">
                {m.stripe_account ? "Finish onboarding" : "Connect with Stripe"}
              </button>
            )}
          </div>
        )}
        <div className={`method ${m.bank_holder ? "ready" : ""}`} data-testid="bank-method">
          <h3>Bank transfer</h3>
          {m.bank_holder && !editing ? (
            <p>
              {m.bank_holder} · <span className="mono">{m.bank_masked}</span>{" "}
              <button className="link small" onClick={() => setEditing(true)}>Change</button>
            </p>
          ) : !editing ? (
            <p>
              {m.stripe_available ? "Or be paid by bank transfer." : "Payouts are made by bank transfer."}{" "}
              <button className="link small" onClick={() => setEditing(true)}>Add bank details</button>
            </p>
          ) : (
            <form className="bank-form" onSubmit={saveBank}>
              <label>
                Account holder
                <input name="holder" maxLength={140} value={holder} onChange={(ev) => setHolder(ev.target.value)} autoComplete="name" required />
              </label>
              <label>
                IBAN and BIC, or account and routing numbers
                <textarea name="details" maxLength={500} rows={2} value={details} onChange={(ev) => setDetails(ev.target.value)} required />
              </label>
              <p className="muted small-text">Stored encrypted; only administrators see them, when they make the transfer.</p>
              <div className="row-actions">
                <button type="submit">Save</button>
                <button type="button" className="ghost" onClick={() => setEditing(false)}>Cancel</button>
              </div>
            </form>
          )}
        </div>
      </div>
      {saved && <p className="ok" role="status">{saved}</p>}
      <Problem error={error} />
    </section>
  );
}

function Income({ e }: { e: Earnings }) {
  const byCurrency = useMemo(() => {
    const m = new Map<string, Schemas["KindTotal"][]>();
    for (const k of e.last_30_days) m.set(k.amount.currency, [...(m.get(k.amount.currency) ?? []), k]);
    return [...m.entries()];
  }, [e]);
  return (
    <section className="card" aria-labelledby="income-title">
      <h2 id="income-title">Last 30 days</h2>
      {byCurrency.length === 0 && <p className="muted">No income in the last 30 days.</p>}
      {byCurrency.map(([currency, kinds]) => {
        const top = Math.max(1, ...kinds.map((k) => Math.abs(k.amount.amount_minor)));
        return (
          <ul className="kind-bars" key={currency} data-testid="income-kinds">
            {kinds.map((k) => (
              <li key={k.kind} className={k.amount.amount_minor < 0 ? "negative" : ""}>
                <span className="name">{KIND[k.kind] ?? k.kind} <span className="muted">×{k.count}</span></span>
                <span className="track" aria-hidden="true"><span className="fill" style={{ width: `${(Math.abs(k.amount.amount_minor) / top) * 100}%` }} /></span>
                <strong>{formatMoney(k.amount.amount_minor, currency)}</strong>
              </li>
            ))}
          </ul>
        );
      })}
      <h3>Recent activity</h3>
      {e.recent.length === 0 ? (
        <p className="muted">Nothing yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="ledger lines" data-testid="recent">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">What</th>
                <th scope="col">From</th>
                <th scope="col" className="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {e.recent.map((r, i) => (
                <tr key={i}>
                  <td>{day(r.at)}</td>
                  <td>
                    {ONE[r.kind] ?? r.kind}
                    {new Date(r.available_at) > new Date() && r.amount.amount_minor > 0 && <span className="badge pending" title={`Available ${day(r.available_at)}`}>held</span>}
                  </td>
                  <td className="muted">{r.from ?? ""}</td>
                  <td className={`num ${r.amount.amount_minor < 0 ? "neg" : "pos"}`}>{formatMoney(r.amount.amount_minor, r.amount.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Payouts({ e }: { e: Earnings }) {
  return (
    <section className="card" aria-labelledby="payouts-title">
      <h2 id="payouts-title">Payouts</h2>
      {e.payouts.length === 0 ? (
        <p className="muted">No payouts yet.</p>
      ) : (
        <ul className="rows payouts" data-testid="my-payouts">
          {e.payouts.map((p) => (
            <li key={p.id} data-status={p.status}>
              <strong>{formatMoney(p.amount.amount_minor, p.amount.currency)}</strong>
              <span className={`badge ${p.status === "paid" ? "good" : p.status === "rejected" ? "bad" : "pending"}`} data-testid="payout-status">{STATUS[p.status] ?? p.status}</span>
              <span className="muted">
                requested {day(p.requested_at)}
                {p.paid_at && ` · paid ${day(p.paid_at)}`}
                {p.method && ` · ${p.method === "stripe" ? "Stripe" : "bank transfer"}`}
                {p.reference && <> · <code>{p.reference}</code></>}
                {p.reason && ` · ${p.reason}`}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Statements({ e }: { e: Earnings }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <section className="card" aria-labelledby="statements-title">
      <h2 id="statements-title">Monthly statements</h2>
      {e.statement_months.length === 0 ? (
        <p className="muted">Your first statement appears with your first income.</p>
      ) : (
        <ul className="rows statements" data-testid="statements">
          {e.statement_months.slice(0, 24).map((m) => (
            <li key={m}>
              <span>{monthName(m)}</span>
              <span className="row-actions">
                <Link href={`/dashboard/earnings/statements/${m}`}>View and print</Link>
                <button className="link small" onClick={() => download(`/api/me/statements/${m}.csv`, `statement-${m}.csv`).catch(setError)}>CSV</button>
              </span>
            </li>
          ))}
        </ul>
      )}
      <Problem error={error} />
    </section>
  );
}

type Row = { handle: string; percent: string };

function SplitEditor() {
  const splits = useLoad(() => api<Schemas["SplitList"]>("GET", "/api/me/splits"));
  const videos = useLoad(() => api<Schemas["VideoList"]>("GET", "/api/videos?page=1&limit=50").catch(() => null));
  const sources = useLoad(() => api<Schemas["SourceList"]>("GET", "/api/sources").catch(() => null));
  const [scope, setScope] = useState("channel");
  const [target, setTarget] = useState("");
  const [rows, setRows] = useState<Row[]>([{ handle: "", percent: "" }]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const bps = (p: string) => {
    const m = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*$/.exec(p);
    return m ? Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0")) : NaN;
  };
  const total = rows.reduce((a, r) => a + (Number.isNaN(bps(r.percent)) ? 0 : bps(r.percent)), 0);
  function edit(s: Schemas["SplitView"]) {
    setScope(s.scope);
    setTarget(s.scope === "channel" ? "" : s.target);
    setRows(s.shares.map((x) => ({ handle: x.handle, percent: x.percent })));
  }
  async function save(ev: FormEvent, clear = false) {
    ev.preventDefault();
    setError(null);
    setSaved(null);
    try {
      const body: Schemas["SplitChange"] = {
        scope,
        target: scope === "channel" ? null : target,
        shares: clear ? [] : rows.filter((r) => r.handle.trim()).map((r) => ({ handle: r.handle.trim(), percent: r.percent.trim(), display_name: "" })),
      };
      splits.setData(await api<Schemas["SplitList"]>("PUT", "/api/me/splits", body));
      setSaved(clear ? "The split is removed: that income is yours alone." : "Split saved. It applies to income from now on.");
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section className="card" aria-labelledby="splits-title">
      <h2 id="splits-title">Collaborator splits</h2>
      <p className="muted">Share the income of your channel, one video or one live stream with collaborators, after tax and the platform's fee. Include yourself; the shares add up to 100 %.</p>
      {splits.error ? <Problem error={splits.error} onRetry={splits.reload} /> : null}
      {splits.data && splits.data.splits.length > 0 && (
        <ul className="rows split-list" data-testid="split-list">
          {splits.data.splits.map((s) => (
            <li key={`${s.scope}:${s.target}`}>
              <strong>{s.name}</strong> <span className="muted">({s.scope === "source" ? "live stream" : s.scope})</span>
              <span className="shares">
                {s.shares.map((x) => (
                  <span key={x.handle} className="pill">@{x.handle} {Number(x.percent)}%</span>
                ))}
              </span>
              <button className="link small" onClick={() => edit(s)}>Edit</button>
            </li>
          ))}
        </ul>
      )}
      <form className="split-form" onSubmit={save}>
        <div className="split-target">
          <label>
            Income of
            <select name="scope" value={scope} onChange={(ev) => (setScope(ev.target.value), setTarget(""))}>
              <option value="channel">My channel (everything)</option>
              <option value="video">One video</option>
              <option value="source">One live stream</option>
            </select>
          </label>
          {scope === "video" && (
            <label>
              Video
              <select name="target" value={target} onChange={(ev) => setTarget(ev.target.value)} required>
                <option value="">Choose…</option>
                {videos.data?.videos.map((v) => (
                  <option key={v.id} value={v.id}>{v.title}</option>
                ))}
              </select>
            </label>
          )}
          {scope === "source" && (
            <label>
              Stream
              <select name="target" value={target} onChange={(ev) => setTarget(ev.target.value)} required>
                <option value="">Choose…</option>
                {sources.data?.sources.map((s) => (
                  <option key={s.id} value={String(s.id)}>{s.name}</option>
                ))}
              </select>
            </label>
          )}
        </div>
        {rows.map((r, i) => (
          <div className="share-row" key={i}>
            <label>
              <span className={i ? "visually-hidden" : ""}>Channel handle</span>
              <input name="handle" placeholder="@handle" value={r.handle} onChange={(ev) => setRows(rows.map((x, j) => (j === i ? { ...x, handle: ev.target.value } : x)))} />
            </label>
            <label>
              <span className={i ? "visually-hidden" : ""}>Share %</span>
              <input name="percent" inputMode="decimal" placeholder="50" value={r.percent} onChange={(ev) => setRows(rows.map((x, j) => (j === i ? { ...x, percent: ev.target.value } : x)))} />
            </label>
            {rows.length > 1 && (
              <button type="button" className="link small danger" aria-label={`Remove share ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>Remove</button>
            )}
          </div>
        ))}
        <div className="row-actions">
          <button type="button" className="ghost small" onClick={() => setRows([...rows, { handle: "", percent: "" }])} disabled={rows.length >= 20}>Add a collaborator</button>
          <span className={`sum ${total === 10000 ? "ok-sum" : "bad-sum"}`} data-testid="split-sum">Total {(total / 100).toFixed(2).replace(/\.00$/, "")} %</span>
        </div>
        <div className="row-actions">
          <button type="submit" disabled={total !== 10000} data-testid="save-split">Save split</button>
          <button type="button" className="ghost" onClick={(ev) => save(ev as unknown as FormEvent, true)}>Remove this split</button>
        </div>
      </form>
      {saved && <p className="ok" role="status" data-testid="split-saved">{saved}</p>}
      <Problem error={error} />
    </section>
  );
}

export default function EarningsPage() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const [notice, setNotice] = useState<string | null>(null);
  const earnings = useLoad(async () => {
    // Back from Stripe's onboarding: read the account's state from Stripe first.
    const q = new URLSearchParams(location.search).get("connect");
    if (q) {
      await api("POST", "/api/me/payouts/connect/refresh").catch(() => null);
      history.replaceState(null, "", "/dashboard/earnings");
    }
    return api<Earnings>("GET", "/api/me/earnings");
  });
  const e = earnings.data;
  return (
    <div className="analytics-page earnings-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Earnings</h1>
          <StudioTabs current="/dashboard/earnings" />
        </div>
      </header>
      {earnings.error ? <Problem error={earnings.error} onRetry={earnings.reload} /> : null}
      {!e && !earnings.error && <Loading what="your earnings" />}
      {notice && <p className="ok-notice" role="status" data-testid="earnings-notice">{notice}</p>}
      {e && (
        <>
          <section className="card" aria-labelledby="balance-title">
            <h2 id="balance-title">Balance</h2>
            <Balances e={e} />
          </section>
          <div className="earnings-grid">
            <RequestPayout e={e} onDone={(m) => (setNotice(m), earnings.reload())} />
            <Method e={e} reload={earnings.reload} />
          </div>
          <Income e={e} />
          <div className="earnings-grid">
            <Payouts e={e} />
            <Statements e={e} />
          </div>
          <SplitEditor />
        </>
      )}
    </div>
  );
}

/** A month's statement, printable. */
export function StatementPage({ month }: { month: string }) {
  const s = useLoad(() => api<Schemas["Statement"]>("GET", `/api/me/statements/${encodeURIComponent(month)}`), [month]);
  if (s.error) return <Problem error={s.error} onRetry={s.reload} />;
  if (!s.data) return <Loading what="the statement" />;
  const d = s.data;
  return (
    <div className="receipt-page statement-page">
      <p className="crumbs no-print"><Link href="/dashboard/earnings">← Earnings</Link></p>
      <article className="card receipt statement" aria-labelledby="statement-title">
        <header>
          <div>
            <p className="eyebrow">Statement</p>
            <h1 id="statement-title">{monthName(d.month)}</h1>
          </div>
          <p className="muted">{d.issuer}</p>
        </header>
        <p>{d.creator}</p>
        <div className="table-scroll">
        <table className="ledger totals" data-testid="statement-totals">
          <thead>
            <tr><th scope="col">Currency</th><th scope="col" className="num">Opening</th><th scope="col" className="num">Income</th><th scope="col" className="num">Refunds</th><th scope="col" className="num">Payouts</th><th scope="col" className="num">Closing</th></tr>
          </thead>
          <tbody>
            {d.totals.map((t) => (
              <tr key={t.currency}><th scope="row">{t.currency}</th><td className="num">{t.opening}</td><td className="num">{t.income}</td><td className="num">{t.reversals}</td><td className="num">{t.payouts}</td><td className="num"><strong>{t.closing}</strong></td></tr>
            ))}
          </tbody>
        </table>
        </div>
        <div className="table-scroll">
        <table className="ledger lines" data-testid="statement-lines">
          <thead>
            <tr><th scope="col">Date</th><th scope="col">What</th><th scope="col">Details</th><th scope="col" className="num">Amount</th><th scope="col" className="num">Balance</th></tr>
          </thead>
          <tbody>
            {d.lines.length === 0 && <tr><td colSpan={5} className="muted">No movements this month.</td></tr>}
            {d.lines.map((l, i) => (
              <tr key={i}><td>{day(l.at)}</td><td>{ONE[l.kind] ?? l.kind}</td><td className="muted">{[l.from, details(l.kind, l.memo)].filter(Boolean).join(" · ")}</td><td className="num">{l.amount.amount} {l.amount.currency}</td><td className="num">{l.balance}</td></tr>
            ))}
          </tbody>
        </table>
        </div>
        <p className="no-print"><button onClick={() => window.print()}>Print or save as PDF</button></p>
      </article>
    </div>
  );
}

/** A purchase's receipt for its buyer (a tip, membership or pay-per-view), with its tax. */
export function PurchaseReceipt({ id }: { id: string }) {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const r = useLoad(() => api<Schemas["PurchaseReceipt"]>("GET", `/api/me/purchases/${encodeURIComponent(id)}/receipt`), [id]);
  if (r.error) return <Problem error={r.error} onRetry={r.reload} />;
  if (!r.data) return <Loading what="the receipt" />;
  const p = r.data;
  return (
    <div className="receipt-page">
      <article className="card receipt" aria-labelledby="receipt-title">
        <header>
          <div>
            <p className="eyebrow">Receipt</p>
            <h1 id="receipt-title">{formatMoney(p.amount.amount_minor, p.amount.currency)} paid</h1>
          </div>
          <span className={`badge ${p.status === "paid" ? "good" : "bad"}`}>{p.status === "paid" ? "Paid" : p.status === "refunded" ? "Refunded" : "Disputed"}</span>
        </header>
        <dl className="receipt-fields">
          <dt>Date</dt>
          <dd>{p.paid_at ? day(p.paid_at) : "—"}</dd>
          <dt>Description</dt>
          <dd>{p.description}</dd>
          <dt>Amount before tax</dt>
          <dd data-testid="receipt-net">{p.net.amount} {p.net.currency}</dd>
          <dt>{p.tax_label ? `${p.tax_label}${p.tax_country ? ` (${p.tax_country})` : ""}` : "Tax"}</dt>
          <dd data-testid="receipt-tax">{p.tax.amount} {p.tax.currency}</dd>
          <dt>Total</dt>
          <dd data-testid="receipt-amount"><strong>{p.amount.amount} {p.amount.currency}</strong></dd>
          <dt>Paid with</dt>
          <dd>{p.provider}</dd>
          {p.reference && (
            <>
              <dt>Gateway reference</dt>
              <dd><code>{p.reference}</code></dd>
            </>
          )}
          <dt>Receipt number</dt>
          <dd><code>{p.id}</code></dd>
          <dt>Billed to</dt>
          <dd>{p.billed_to}</dd>
          <dt>Seller</dt>
          <dd>{p.seller}</dd>
        </dl>
        <p className="no-print"><button onClick={() => window.print()}>Print or save as PDF</button></p>
      </article>
    </div>
  );
}
