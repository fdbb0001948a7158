// Administrators' revenue and payouts: the platform's fees, tax and the money held for creators
// per currency, paid purchases by kind, the payout queue (approve: a Stripe transfer or a bank
// transfer; reject with a reason; mark a bank transfer paid), the CSV export for the bank, and
// tax rates per country.
import { useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import { formatMoney } from "./Earnings";
import "./admin.css";
import "../earnings.css";

const KIND: Record<string, string> = { tip: "Tips", membership: "Memberships", ppv: "Pay-per-view" };

function Totals() {
  const r = useLoad(() => api<Schemas["RevenueReport"]>("GET", "/api/admin/revenue"));
  if (r.error) return <Problem error={r.error} onRetry={r.reload} />;
  if (!r.data) return <Loading what="revenue" />;
  const d = r.data;
  return (
    <section className="card" aria-labelledby="rev-title">
      <h2 id="rev-title">Revenue</h2>
      <p className="muted">
        Income is held {d.hold_days} days before creators can be paid; the smallest payout is {(d.payout_minimum_minor / 100).toFixed(2)}. Payouts go through {d.stripe_connect ? "Stripe Connect where the creator is onboarded, else bank transfer" : "bank transfer (Stripe is not configured)"}.
      </p>
      {d.ledger.length === 0 && <Empty>No money has moved yet.</Empty>}
      {d.ledger.map((l) => (
        <dl className="tiles" key={l.currency} data-testid="revenue-tiles">
          <div><dt>Platform fees · {l.currency}</dt><dd data-testid="platform-fees">{l.platform_fees}</dd></div>
          <div><dt>Tax collected</dt><dd>{l.tax}</dd></div>
          <div><dt>Owed to creators</dt><dd>{l.creators}</dd></div>
          <div><dt>Payouts in flight</dt><dd>{l.payouts_in_flight}</dd></div>
          <div><dt>Paid to creators</dt><dd>{l.payouts_paid}</dd></div>
        </dl>
      ))}
      {d.by_kind.length > 0 && (
        <div className="table-scroll">
          <table className="ledger" data-testid="revenue-by-kind">
            <thead>
              <tr><th scope="col">Kind</th><th scope="col" className="num">Purchases</th><th scope="col" className="num">Gross</th><th scope="col" className="num">Tax</th><th scope="col" className="num">Reversed</th></tr>
            </thead>
            <tbody>
              {d.by_kind.map((k) => (
                <tr key={`${k.kind}-${k.gross.currency}`}>
                  <th scope="row">{KIND[k.kind] ?? k.kind}</th>
                  <td className="num">{k.count}</td>
                  <td className="num">{formatMoney(k.gross.amount_minor, k.gross.currency)}</td>
                  <td className="num">{formatMoney(k.tax.amount_minor, k.tax.currency)}</td>
                  <td className="num">{k.reversed}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Queue() {
  const [filter, setFilter] = useState("open");
  const list = useLoad(() => api<Schemas["AdminPayoutList"]>("GET", `/api/admin/payouts?status=${filter}`), [filter]);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  async function act(p: Schemas["AdminPayout"], what: "approve" | "reject" | "paid") {
    const amount = formatMoney(p.amount.amount_minor, p.amount.currency);
    let body: unknown = undefined;
    if (what === "approve") {
      const how = p.pays_by === "stripe" ? "It is transferred now to their Stripe account." : "It is queued for a bank transfer (the CSV export); mark it paid once sent.";
      if (!confirm(`Approve ${amount} to ${p.email}? ${how}`)) return;
    } else if (what === "reject") {
      const reason = prompt(`Reject ${amount} to ${p.email}? The money becomes available to them again. Why (they read this)?`);
      if (!reason?.trim()) return;
      body = { reason } satisfies Schemas["Rejection"];
    } else {
      const reference = prompt(`Mark ${amount} to ${p.email} paid by bank transfer? The transfer's reference (optional):`);
      if (reference === null) return;
      body = { reference: reference || null } satisfies Schemas["PaidByBank"];
    }
    setError(null);
    setDone(null);
    setBusy(p.id);
    try {
      const r = await api<Schemas["PayoutView"]>("POST", `/api/admin/payouts/${p.id}/${what}`, body);
      setDone(
        r.status === "paid"
          ? `${amount} to ${p.email} is paid${r.reference ? ` (${r.reference})` : ""}.`
          : r.status === "approved"
            ? `${amount} to ${p.email} is approved for a bank transfer.`
            : `${amount} to ${p.email} is rejected.`,
      );
      list.reload();
    } catch (e) {
      setError(e);
      list.reload();
    } finally {
      setBusy(null);
    }
  }
  async function exportCsv() {
    setError(null);
    try {
      const s = session();
      const r = await fetch("/api/admin/payouts/export.csv", { headers: s ? { authorization: `Bearer ${s.access_token}` } : {} });
      if (!r.ok) throw new Error(`the export failed (${r.status})`);
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `payouts-${new Date().toISOString().slice(0, 10)}.csv`;
      a.click();
      URL.revokeObjectURL(url);
      list.reload();
    } catch (e) {
      setError(e);
    }
  }
  const rows = list.data?.payouts ?? [];
  return (
    <section className="card" aria-labelledby="queue-title">
      <header className="section-head">
        <h2 id="queue-title">Payouts</h2>
        <span className="row-actions">
          <label className="compact">
            <span className="visually-hidden">Which payouts</span>
            <select name="status" value={filter} onChange={(e) => setFilter(e.target.value)}>
              <option value="open">To do</option>
              <option value="paid">Paid</option>
              <option value="rejected">Rejected</option>
              <option value="">All</option>
            </select>
          </label>
          <button className="ghost small" onClick={exportCsv} data-testid="export-payouts">Export bank transfers (CSV)</button>
        </span>
      </header>
      {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
      {!list.data && !list.error && <Loading what="payouts" />}
      {list.data && rows.length === 0 && <Empty>{filter === "open" ? "No payouts waiting." : "None."}</Empty>}
      <ul className="queue" data-testid="payout-queue">
        {rows.map((p) => (
          <li key={p.id} data-testid="payout-row" data-status={p.status}>
            <div className="who">
              <span className="amount">{formatMoney(p.amount.amount_minor, p.amount.currency)}</span>{" "}
              <span className={`badge ${p.status === "paid" ? "good" : p.status === "rejected" ? "bad" : "pending"}`}>{p.status}</span>
              <div>
                <strong>{p.display_name}</strong> <span className="muted">{p.email}</span>
              </div>
              <div className="muted small-text">
                requested {p.requested_at.slice(0, 10)} · {p.pays_by === "stripe" ? "Stripe Connect" : p.pays_by === "bank" ? "bank transfer" : "no payout method"}
                {p.exported_at && ` · exported ${p.exported_at.slice(0, 10)}`}
                {p.reference && <> · <code>{p.reference}</code></>}
                {p.reason && ` · ${p.reason}`}
              </div>
            </div>
            <div className="decide">
              {p.status === "requested" && (
                <button disabled={busy === p.id || p.pays_by === "none"} onClick={() => act(p, "approve")} data-testid="approve-payout">
                  {p.pays_by === "stripe" ? "Approve and transfer" : "Approve"}
                </button>
              )}
              {p.status === "approved" && (
                <button disabled={busy === p.id} onClick={() => act(p, "paid")} data-testid="mark-paid">Mark paid</button>
              )}
              {(p.status === "requested" || p.status === "approved") && (
                <button className="ghost danger" disabled={busy === p.id} onClick={() => act(p, "reject")}>Reject</button>
              )}
            </div>
            {p.last_error && p.status === "requested" && <p className="error">Last attempt failed: {p.last_error}</p>}
          </li>
        ))}
      </ul>
      {done && <p className="ok" role="status" data-testid="payout-done">{done}</p>}
      <Problem error={error} />
    </section>
  );
}

function TaxRates() {
  const rates = useLoad(() => api<Schemas["TaxRates"]>("GET", "/api/admin/tax-rates"));
  const [country, setCountry] = useState("");
  const [percent, setPercent] = useState("");
  const [label, setLabel] = useState("VAT");
  const [error, setError] = useState<unknown>(null);
  async function save(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      rates.setData(await api<Schemas["TaxRates"]>("PUT", `/api/admin/tax-rates/${encodeURIComponent(country.trim())}`, { percent, label } satisfies Schemas["TaxRateChange"]));
      setCountry("");
      setPercent("");
    } catch (err) {
      setError(err);
    }
  }
  async function remove(c: string) {
    if (!confirm(`Remove the tax rate of ${c}? Purchases from there include no tax from now on.`)) return;
    try {
      rates.setData(await api<Schemas["TaxRates"]>("DELETE", `/api/admin/tax-rates/${c}`));
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section className="card" aria-labelledby="tax-title">
      <h2 id="tax-title">Tax rates</h2>
      <p className="muted">The tax included in prices paid from each country; receipts show it.</p>
      {rates.error ? <Problem error={rates.error} onRetry={rates.reload} /> : null}
      {rates.data && rates.data.rates.length === 0 && <p className="muted">No tax rates: prices include no tax.</p>}
      {rates.data && rates.data.rates.length > 0 && (
        <table className="ledger" data-testid="tax-rates">
          <thead>
            <tr><th scope="col">Country</th><th scope="col">Name</th><th scope="col" className="num">Rate</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
          </thead>
          <tbody>
            {rates.data.rates.map((t) => (
              <tr key={t.country}>
                <th scope="row">{t.country}</th>
                <td>{t.label}</td>
                <td className="num">{Number(t.percent)} %</td>
                <td><button className="link small danger" onClick={() => remove(t.country)}>Remove<span className="visually-hidden"> {t.country}</span></button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="tax-form" onSubmit={save}>
        <label>
          Country
          <input name="country" maxLength={2} placeholder="DE" value={country} onChange={(e) => setCountry(e.target.value.toUpperCase())} required />
        </label>
        <label>
          Rate %
          <input name="percent" inputMode="decimal" placeholder="19" value={percent} onChange={(e) => setPercent(e.target.value)} required />
        </label>
        <label>
          Name on receipts
          <input name="label" maxLength={40} value={label} onChange={(e) => setLabel(e.target.value)} />
        </label>
        <button type="submit">Set rate</button>
      </form>
      <Problem error={error} />
    </section>
  );
}

export default function AdminRevenue() {
  const user = useUser();
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Revenue and payouts</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  return (
    <div className="admin revenue-page">
      <header>
        <p className="crumbs"><Link href="/admin">← Administration</Link></p>
        <h1>Revenue and payouts</h1>
      </header>
      <Totals />
      <Queue />
      <TaxRates />
    </div>
  );
}
