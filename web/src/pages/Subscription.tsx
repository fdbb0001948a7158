// Plan and billing: the current plan with its usage, the plans in the user's currency, checkout
// through the gateways this server has (Stripe Checkout, Razorpay Hosted Checkout, ePayco Smart
// Checkout), cancel at period end / resume, and payment history with a receipt per payment
// (/dashboard/subscription/receipts/<id>, printable).
import { useEffect, useState } from "react";
import { api, ApiError, session, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, useLoad } from "../ui";

type Plan = Schemas["PlanView"];
type Mine = Schemas["MySubscription"];
type Options = Schemas["BillingOptions"];
type Gateway = Schemas["GatewayOption"];
type Cycle = "monthly" | "yearly";

/** `minor` units of `currency` in the reader's way of writing money: ₹799, $9.99. */
export function money(minor: number, currency: string): string {
  const whole = minor % 100 === 0;
  try {
    return new Intl.NumberFormat(currency === "INR" ? "en-IN" : "en-US", {
      style: "currency",
      currency,
      minimumFractionDigits: whole ? 0 : 2,
      maximumFractionDigits: whole ? 0 : 2,
    }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

/** An RFC 3339 time as a date a person reads (`3 January 2027`). */
export function day(rfc3339: string): string {
  const d = new Date(rfc3339);
  return Number.isNaN(d.getTime()) ? rfc3339 : d.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

function price(p: Plan, cycle: Cycle, currency: string): number {
  if (currency === "INR") return cycle === "yearly" ? p.price_yearly_inr_minor : p.price_monthly_inr_minor;
  return cycle === "yearly" ? p.price_yearly_minor : p.price_monthly_minor;
}

const STATUS: Record<string, string> = { active: "Active", trialing: "Trial", past_due: "Payment overdue", canceled: "Ended" };

/** ePayco's Smart Checkout script, as its documentation describes it. */
type EpaycoScript = {
  checkout: { configure(o: { sessionId: string; type: "standard" | "onpage"; test: boolean }): { open(): void } };
};

/** Loads a script once (the server's Content-Security-Policy allows ePayco's origin). */
export function loadScript(src: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const existing = document.querySelector(`script[src="${CSS.escape(src)}"]`);
    if (existing) return resolve();
    const el = document.createElement("script");
    el.src = src;
    el.async = true;
    el.onload = () => resolve();
    el.onerror = () => {
      el.remove();
      reject(new ApiError(0, "ePayco's checkout could not be loaded", "Check your connection and try again, or pay another way."));
    };
    document.head.appendChild(el);
  });
}

/** ePayco Smart Checkout: a session for the purchase, opened in ePayco's redirecting ("standard")
 * mode; ePayco sends the buyer back with `?ref_payco=…`. */
async function payWithEpayco(purchase: Schemas["Purchase"]) {
  const r = await api<Schemas["EpaycoCheckout"]>("POST", "/api/payments/epayco/checkout", purchase);
  await loadScript(r.script_url);
  const ePayco = (window as unknown as { ePayco?: EpaycoScript }).ePayco;
  if (!ePayco?.checkout?.configure) throw new ApiError(0, "ePayco's checkout did not start", "Try again, or pay another way.");
  ePayco.checkout.configure({ sessionId: r.session_id, type: "standard", test: r.test }).open();
}

/** What the gateway's return says, in words (`?checkout=…` after Stripe or Razorpay). */
function checkoutNotice(): { ok: boolean; text: string } | null {
  const q = new URLSearchParams(location.search);
  const outcome = q.get("checkout");
  if (outcome === "success") return { ok: true, text: "Payment received — thank you. Your new plan is active." };
  if (outcome === "canceled") return { ok: false, text: "Checkout was canceled; nothing was charged." };
  if (outcome === "failed") return { ok: false, text: `The payment did not go through: ${q.get("message") ?? "the gateway refused it"}. Nothing was charged; try again or use another way to pay.` };
  return null;
}

export default function Subscription() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const mine = useLoad(() => api<Mine>("GET", "/api/subscriptions/my-subscription"));
  const plans = useLoad(() => api<Schemas["PlanList"]>("GET", "/api/subscriptions/plans"));
  const options = useLoad(() => api<Options>("GET", "/api/payments/options"));
  const history = useLoad(() => api<Schemas["PaymentList"]>("GET", "/api/payments/history"));
  const [notice] = useState(checkoutNotice);
  const [refPayco] = useState(() => new URLSearchParams(location.search).get("ref_payco"));
  const [cycle, setCycle] = useState<Cycle>("monthly");
  // Said once: a reload or a shared link does not repeat the gateway's outcome.
  useEffect(() => {
    if (location.search) window.history.replaceState(null, "", location.pathname);
  }, []);

  const error = mine.error ?? plans.error ?? options.error;
  if (error) return <Problem error={error} onRetry={() => (mine.reload(), plans.reload(), options.reload())} />;
  if (!mine.data || !plans.data || !options.data) return <Loading what="your plan" />;
  const currency = options.data.currency;
  const yearlyOffered = plans.data.plans.some((p) => p.price_yearly_minor > 0 && p.price_monthly_minor > 0);
  const reload = () => {
    mine.reload();
    history.reload();
  };

  return (
    <div className="billing">
      <p className="crumbs"><Link href="/dashboard">← Dashboard</Link></p>
      <h1>Plan and billing</h1>
      {notice && (
        <p className={notice.ok ? "notice ok-notice" : "problem"} role={notice.ok ? "status" : "alert"} data-testid="checkout-notice">
          {notice.text}
        </p>
      )}
      {refPayco && <EpaycoReturn reference={refPayco} onPaid={reload} />}
      <Current mine={mine.data} renewedBy={options.data.renewed_by ?? null} onChange={reload} />
      <section aria-labelledby="plans-title">
        <div className="plans-head">
          <h2 id="plans-title">Plans</h2>
          <div className="plan-controls">
            {yearlyOffered && (
              <div className="segmented" role="group" aria-label="Billing period">
                {(["monthly", "yearly"] as const).map((c) => (
                  <button key={c} type="button" className={cycle === c ? "on" : ""} aria-pressed={cycle === c} onClick={() => setCycle(c)}>
                    {c === "monthly" ? "Monthly" : "Yearly"}
                  </button>
                ))}
              </div>
            )}
            <CurrencyPicker options={options.data} onChange={(o) => options.setData(o)} />
          </div>
        </div>
        {options.data.gateways.length === 0 && (
          <p className="notice">Payments are not set up on this server yet, so plans cannot be bought here. Ask its operator to configure Stripe, Razorpay or ePayco.</p>
        )}
        <div className="plan-grid">
          {plans.data.plans.map((p) => (
            <PlanCard key={p.id} plan={p} current={p.id === mine.data!.subscription.plan.id} cycle={cycle} currency={currency} gateways={options.data!.gateways.filter((g) => g.currencies.includes(currency))} renewedBy={options.data!.renewed_by ?? null} upgrade={p.price_monthly_minor > mine.data!.subscription.plan.price_monthly_minor} />
          ))}
        </div>
        {options.data.gateways
          .filter((g) => !g.currencies.includes(currency))
          .map((g) => (
            <p key={g.id} className="muted fine" data-testid={`gateway-currency-${g.id}`}>
              {g.name} takes {g.currencies.join(" or ")} only; switch the currency to {g.currencies.join(" or ")} to pay with {g.name}.
            </p>
          ))}
        <p className="muted fine">
          Prices in {currency === "INR" ? "Indian rupees" : "US dollars"}{options.data.currency_chosen ? "" : ", from your browser's language"}. A new plan starts as soon as the payment is confirmed; paying for your current plan again extends it by one period. Downgrading never deletes anything: what is over the new limits stays, you just cannot add more.
        </p>
      </section>
      <History list={history.data} error={history.error} onRetry={history.reload} />
    </div>
  );
}

/** The currency prices are shown and charged in; the choice is kept for the account. */
export function CurrencyPicker({ options, onChange }: { options: Options; onChange: (o: Options) => void }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <label className="currency">
        Currency
        <select
          name="currency"
          value={options.currency}
          onChange={async (e) => {
            setError(null);
            try {
              onChange(await api<Options>("PUT", "/api/payments/currency", { currency: e.target.value } satisfies Schemas["SetCurrency"]));
            } catch (err) {
              setError(err);
            }
          }}
        >
          {options.currencies.map((c) => (
            <option key={c} value={c}>{c === "INR" ? "INR (₹)" : c === "USD" ? "USD ($)" : c}</option>
          ))}
        </select>
      </label>
      <Problem error={error} />
    </>
  );
}

function Meter({ label, used, max, unit }: { label: string; used: number; max: number; unit?: string }) {
  const pct = max >= 9999 ? 0 : max > 0 ? Math.min(100, Math.round((used / max) * 100)) : 100;
  return (
    <div className="meter-row">
      <div className="meter-label">
        <span>{label}</span>
        <span data-testid={`usage-${label.toLowerCase()}`}>
          {max >= 9999 ? `${used} used, no limit` : `${used} of ${max}`}
          {unit ? ` ${unit}` : ""}
        </span>
      </div>
      <span className={`meter ${pct >= 100 ? "full" : pct >= 90 ? "near" : ""}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={used}>
        <span style={{ width: `${pct}%` }} />
      </span>
    </div>
  );
}

function Current({ mine, renewedBy, onChange }: { mine: Mine; renewedBy: string | null; onChange: () => void }) {
  const s = mine.subscription;
  const u = mine.usage;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const paid = s.id != null && !s.plan.is_default;
  async function portal() {
    setBusy(true);
    setError(null);
    try {
      location.assign((await api<Schemas["Redirect"]>("POST", "/api/payments/stripe/portal")).url);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  async function renew(action: "cancel" | "resume") {
    if (action === "cancel" && !confirm(`End ${s.plan.name} on ${day(s.current_period_end)}? You keep it until then, and nothing is deleted.`)) return;
    setBusy(true);
    setError(null);
    setDone("");
    try {
      const r = await api<Schemas["Renewal"]>("POST", `/api/subscriptions/${action}`);
      setDone(action === "cancel" ? `Your plan ends on ${day(r.current_period_end)}; nothing is deleted.` : "Your plan renews as before.");
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  const status = s.cancel_at_period_end && s.status !== "canceled" ? `Ends ${day(s.current_period_end)}` : (STATUS[s.status] ?? s.status);
  return (
    <section className="card current-plan" aria-labelledby="current-title">
      <div className="current-head">
        <div>
          <p className="eyebrow">Current plan</p>
          <h2 id="current-title" data-testid="current-plan">{s.plan.name}</h2>
        </div>
        <span className={`badge ${s.cancel_at_period_end || s.status === "past_due" ? "warn" : s.status === "active" || s.status === "trialing" ? "good" : ""}`} data-testid="plan-status">
          {status}
        </span>
      </div>
      <p className="muted">
        {paid
          ? s.cancel_at_period_end
            ? `Paid ${s.billing_cycle}; ends on ${day(s.current_period_end)} and you move to the free plan. Nothing is deleted.`
            : s.status === "past_due"
              ? `The last renewal was not paid; pay again before access ends.`
              : `Paid ${s.billing_cycle}; the current period ends on ${day(s.current_period_end)}.`
          : `The free plan. Usage counts from the 1st of each month (UTC); this month ends on ${day(s.current_period_end)}.`}
      </p>
      <div className="meters">
        <Meter label="Sources" used={u.sources_used} max={s.plan.max_sources} />
        <Meter label="Destinations" used={u.destinations_used} max={s.plan.max_destinations} />
        <Meter label="Hours" used={Math.round(u.streaming_hours_used * 10) / 10} max={s.plan.max_streaming_hours_monthly} unit="this month" />
      </div>
      {paid && s.status !== "canceled" && (
        <p className="actions">
          {s.cancel_at_period_end ? (
            <button onClick={() => renew("resume")} disabled={busy}>{busy ? "Please wait…" : "Keep my plan"}</button>
          ) : (
            <button className="ghost" onClick={() => renew("cancel")} disabled={busy}>{busy ? "Please wait…" : "Cancel at period end"}</button>
          )}
          {renewedBy === "stripe" && (
            <button className="ghost" onClick={portal} disabled={busy}>Card and invoices at Stripe</button>
          )}
        </p>
      )}
      {done && <p role="status" className="ok">{done}</p>}
      <Problem error={error} />
    </section>
  );
}

function PlanCard({ plan, current, cycle, currency, gateways, renewedBy, upgrade }: { plan: Plan; current: boolean; cycle: Cycle; currency: string; gateways: Gateway[]; renewedBy: string | null; upgrade: boolean }) {
  const [busy, setBusy] = useState("");
  const [error, setError] = useState<unknown>(null);
  const amount = price(plan, cycle, currency);
  const monthly = price(plan, "monthly", currency);
  const saves = cycle === "yearly" && monthly > 0 && amount > 0 && amount < monthly * 12 ? Math.round((1 - amount / (monthly * 12)) * 100) : 0;
  async function buy(g: Gateway) {
    setBusy(g.id);
    setError(null);
    const purchase = { plan_id: plan.id, billing_cycle: cycle, currency } satisfies Schemas["Purchase"];
    try {
      if (g.checkout === "redirect") {
        const r = await api<Schemas["Redirect"]>("POST", "/api/payments/stripe/checkout", purchase);
        location.assign(r.url);
        return;
      }
      if (g.checkout === "script") {
        await payWithEpayco(purchase);
        return;
      }
      const r = await api<Schemas["RazorpayOrder"]>("POST", "/api/payments/create-order", purchase);
      // Razorpay's hosted Checkout takes a posted form; it posts the outcome back to the server.
      const form = document.createElement("form");
      form.method = "POST";
      form.action = r.checkout.url;
      for (const f of r.checkout.fields) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = f.name;
        input.value = f.value;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    } catch (e) {
      setError(e instanceof ApiError && e.code === "GATEWAY_DISABLED" ? new ApiError(e.status, `${g.name} is not available right now`, "Pay another way, or try again later.") : e);
      setBusy("");
    }
  }
  return (
    <article className={`card plan${current ? " current" : ""}`} aria-labelledby={`plan-${plan.id}`} data-testid={`plan-${plan.name}`}>
      <header>
        <h3 id={`plan-${plan.id}`}>{plan.name}</h3>
        {current && <span className="badge good">Current plan</span>}
      </header>
      <p className="price">
        {amount > 0 ? (
          <>
            <strong data-testid="price">{money(amount, currency)}</strong> <span className="muted">/ {cycle === "yearly" ? "year" : "month"}</span>
          </>
        ) : (
          <strong data-testid="price">Free</strong>
        )}
      </p>
      {saves > 0 && <p className="saves">Save {saves}% against monthly</p>}
      <p className="muted">{plan.description}</p>
      <ul className="limits">
        <li><strong>{plan.max_sources}</strong> {plan.max_sources === 1 ? "source" : "sources"}</li>
        <li>{plan.max_destinations >= 9999 ? <><strong>Unlimited</strong> restream destinations</> : <><strong>{plan.max_destinations}</strong> restream {plan.max_destinations === 1 ? "destination" : "destinations"}</>}</li>
        <li><strong>{plan.max_streaming_hours_monthly}</strong> streaming hours a month</li>
        {plan.transcode_ladder.length > 0 && (
          <li data-testid="plan-ladder">
            <strong>Adaptive bitrate</strong>: viewers get {plan.transcode_ladder.join(", ")} besides your source
          </li>
        )}
        {plan.features.map((f) => (
          <li key={f}>{f.replace(/_/g, " ")}</li>
        ))}
      </ul>
      <div className="buy">
        {current && amount > 0 && renewedBy && <p className="muted fine">Renews automatically through {GATEWAY_NAMES[renewedBy] ?? renewedBy}.</p>}
        {amount > 0 &&
          !(current && renewedBy) &&
          gateways.map((g) => (
            <button key={g.id} className={current ? "ghost" : ""} disabled={busy !== ""} onClick={() => buy(g)}>
              {busy === g.id ? "Opening checkout…" : `${current ? "Extend" : upgrade ? "Upgrade" : "Switch"} with ${g.name}`}
            </button>
          ))}
        {amount <= 0 && !current && <p className="muted fine">Every account falls back to it when a paid plan ends.</p>}
      </div>
      <Problem error={error} />
    </article>
  );
}

/** The buyer is back from ePayco (`?ref_payco=…`): what ePayco and this server say of the payment.
 * The plan is granted by ePayco's signed confirmation, not by this return; while ePayco has
 * accepted the payment and its confirmation is on its way, the page asks again for a while. */
function EpaycoReturn({ reference, onPaid }: { reference: string; onPaid: () => void }) {
  const [outcome, setOutcome] = useState<Schemas["EpaycoOutcome"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let live = true;
    let timer = 0;
    const ask = async (tries: number) => {
      try {
        const o = await api<Schemas["EpaycoOutcome"]>("GET", `/api/payments/epayco/reference/${encodeURIComponent(reference)}`);
        if (!live) return;
        setOutcome(o);
        setError(null);
        if (o.status === "paid") onPaid();
        else if (o.status === "accepted" && tries < 30) timer = window.setTimeout(() => ask(tries + 1), 2000);
      } catch (e) {
        if (live) setError(e);
      }
    };
    ask(0);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [reference]);
  if (error) return <Problem error={error} />;
  if (!outcome) return <p className="notice" role="status">Asking ePayco how the payment went…</p>;
  const ok = outcome.status === "paid" || outcome.status === "accepted";
  const waiting = outcome.status === "accepted" || outcome.status === "pending";
  return (
    <p className={ok || waiting ? `notice${outcome.status === "paid" ? " ok-notice" : ""}` : "problem"} role={ok || waiting ? "status" : "alert"} data-testid="checkout-notice" data-status={outcome.status}>
      {outcome.message} <span className="muted">ePayco reference {reference}.</span>
    </p>
  );
}

function History({ list, error, onRetry }: { list: Schemas["PaymentList"] | null; error: unknown; onRetry: () => void }) {
  return (
    <section className="card" aria-labelledby="history-title">
      <h2 id="history-title">Payment history</h2>
      {error ? <Problem error={error} onRetry={onRetry} /> : null}
      {!list && !error && <Loading what="your payments" />}
      {list && list.payments.length === 0 && <Empty>No payments yet. Receipts appear here after you pay.</Empty>}
      {list && list.payments.length > 0 && (
        <div className="table-wrap">
          <table className="payments">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Plan</th>
                <th scope="col">Amount</th>
                <th scope="col">Paid with</th>
                <th scope="col">Status</th>
                <th scope="col"><span className="sr-only">Receipt</span></th>
              </tr>
            </thead>
            <tbody>
              {list.payments.map((p) => (
                <tr key={p.id} data-testid="payment">
                  <td>{day(p.created_at)}</td>
                  <td>{p.plan ?? p.description}</td>
                  <td>{money(p.amount_minor, p.currency)}</td>
                  <td>{GATEWAY_NAMES[p.provider] ?? p.provider}</td>
                  <td>{p.status === "succeeded" ? <span className="badge good">Paid</span> : <span className="badge warn">Failed</span>}</td>
                  <td>{p.status === "succeeded" && <Link href={`/dashboard/subscription/receipts/${encodeURIComponent(p.id)}`}>Receipt</Link>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const GATEWAY_NAMES: Record<string, string> = { stripe: "Stripe", razorpay: "Razorpay", epayco: "ePayco" };

/** One payment as a receipt, laid out to print. */
export function Receipt({ id }: { id: string }) {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const r = useLoad(() => api<Schemas["Receipt"]>("GET", `/api/payments/receipts/${encodeURIComponent(id)}`), [id]);
  if (r.error) return <Problem error={r.error} onRetry={r.reload} />;
  if (!r.data) return <Loading what="the receipt" />;
  const p = r.data;
  return (
    <div className="receipt-page">
      <p className="crumbs no-print"><Link href="/dashboard/subscription">← Plan and billing</Link></p>
      <article className="card receipt" aria-labelledby="receipt-title">
        <header>
          <div>
            <p className="eyebrow">Receipt</p>
            <h1 id="receipt-title">{money(p.amount_minor, p.currency)} paid</h1>
          </div>
          <span className="badge good">Paid</span>
        </header>
        <dl className="receipt-fields">
          <dt>Date</dt>
          <dd data-testid="receipt-date">{day(p.created_at)}</dd>
          <dt>Plan</dt>
          <dd data-testid="receipt-plan">{p.plan ?? "—"}</dd>
          <dt>Description</dt>
          <dd>{p.description}</dd>
          <dt>Amount</dt>
          <dd data-testid="receipt-amount">
            {p.amount} {p.currency}
          </dd>
          <dt>Paid with</dt>
          <dd data-testid="receipt-gateway">{GATEWAY_NAMES[p.provider] ?? p.provider}</dd>
          <dt>Gateway reference</dt>
          <dd><code data-testid="receipt-reference">{p.reference}</code></dd>
          <dt>Receipt number</dt>
          <dd><code>{p.id}</code></dd>
          <dt>Billed to</dt>
          <dd>{p.billed_to}</dd>
          <dt>Seller</dt>
          <dd>{p.seller}</dd>
        </dl>
        <p className="no-print">
          <button onClick={() => window.print()}>Print or save as PDF</button>
        </p>
      </article>
    </div>
  );
}
