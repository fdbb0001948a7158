import { useState } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import "./admin.css";

const ROLES = ["viewer", "creator", "brand", "moderator", "admin"] as const;

type Site = Schemas["SiteSettings"];

export default function Admin() {
  const user = useUser();
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Administration</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  return (
    <div className="admin">
      <h1>Administration</h1>
      <p className="admin-links">
        <Link href="/admin/revenue" className="button ghost small" data-testid="revenue-link">Revenue and payouts</Link>{" "}
        <Link href="/admin/audit" className="button ghost small" data-testid="audit-link">Audit log</Link>{" "}
        <Link href="/admin/dmca" className="button ghost small" data-testid="dmca-link">Copyright notices</Link>{" "}
        <Link href="/admin/nodes" className="button ghost small" data-testid="nodes-link">Nodes</Link>{" "}
        <Link href="/admin/backups" className="button ghost small" data-testid="backups-link">Backups</Link>
      </p>
      <Settings />
      <StatsPanel />
      <Streams />
      <Users />
      <Subscriptions />
      <BrandTiers />
      <Actions />
    </div>
  );
}

function Settings() {
  const site = useLoad(() => api<Site>("GET", "/api/admin/settings"));
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  async function change(body: Schemas["SettingsChange"]) {
    setError(null);
    try {
      site.setData(await api<Site>("PUT", "/api/admin/settings", body));
    } catch (e) {
      setError(e);
    }
  }
  if (site.error) return <Problem error={site.error} onRetry={site.reload} />;
  if (!site.data) return <Loading what="settings" />;
  const s = site.data;
  return (
    <section className="card" aria-labelledby="settings-title">
      <h2 id="settings-title">Site</h2>
      <label className="toggle">
        <input type="checkbox" checked={s.maintenance_mode} onChange={(e) => change({ maintenance_mode: e.target.checked })} /> Maintenance mode (only administrators get in)
      </label>
      <form
        className="inline"
        onSubmit={(e) => {
          e.preventDefault();
          change({ maintenance_message: message ?? s.maintenance_message });
        }}
      >
        <label>
          Maintenance message
          <input name="maintenance_message" maxLength={500} value={message ?? s.maintenance_message} onChange={(e) => setMessage(e.target.value)} placeholder="We will be back shortly." />
        </label>
        <button type="submit">Save</button>
      </form>
      <label className="toggle">
        <input type="checkbox" checked={s.new_registrations_enabled} onChange={(e) => change({ new_registrations_enabled: e.target.checked })} /> Registrations open
      </label>
      <Problem error={error} />
    </section>
  );
}

/** A round number at or above `v`, for a chart's top line; for counts, an even whole one. */
function niceMax(v: number, whole: boolean): number {
  if (v <= 0) return whole ? 2 : 1;
  const step = 10 ** Math.floor(Math.log10(v));
  // Counts: an even top, so the middle line is a whole number too.
  const steps = whole ? [2, 4, 10, 20] : [1, 2, 2.5, 5, 10];
  for (const m of steps) if (m * step >= v && (!whole || Number.isInteger((m * step) / 2))) return m * step;
  return 20 * step;
}

const W = 600;
const H = 170;
const PAD = { l: 44, r: 10, t: 10, b: 24 };

/** A daily series as a line over its area, with the top value, the first, middle and last days. */
function Chart({ title, days, values, format, total }: { title: string; days: string[]; values: number[]; format: (v: number) => string; total: string }) {
  const whole = values.every(Number.isInteger);
  const max = niceMax(Math.max(0, ...values), whole);
  const n = values.length;
  const x = (i: number) => PAD.l + (i * (W - PAD.l - PAD.r)) / Math.max(1, n - 1);
  const y = (v: number) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
  const line = values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const area = n ? `${line}L${x(n - 1).toFixed(1)},${y(0)}L${x(0).toFixed(1)},${y(0)}Z` : "";
  const ticks = n > 2 ? [0, Math.floor((n - 1) / 2), n - 1] : [0, n - 1];
  const short = (d: string) => d.slice(5);
  return (
    <figure className="chart" data-testid="chart">
      <figcaption>
        <span>{title}</span> <strong>{total}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} per day from ${days[0]} to ${days[n - 1]}: ${values.map(format).join(", ")}`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={PAD.l - 6} y={y(max * f) + 4} textAnchor="end">{format(max * f)}</text>
          </g>
        ))}
        <path d={area} className="area" />
        <path d={line} className="line" />
        {values.map((v, i) => (
          <circle key={i} cx={x(i)} cy={y(v)} r={n > 45 ? 0 : 2.5} className="dot">
            <title>{`${days[i]}: ${format(v)}`}</title>
          </circle>
        ))}
        {ticks.map((i) => (
          <text key={i} x={x(i)} y={H - 6} textAnchor={i === 0 ? "start" : i === n - 1 ? "end" : "middle"}>{short(days[i] ?? "")}</text>
        ))}
      </svg>
    </figure>
  );
}

const count = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function StatsPanel() {
  const [days, setDays] = useState(30);
  const stats = useLoad(() => api<Schemas["Stats"]>("GET", "/api/admin/stats"));
  const series = useLoad(() => api<Schemas["DailyStats"]>("GET", `/api/admin/stats/daily?days=${days}`), [days]);
  const audience = useLoad(() => {
    const day = 86_400_000;
    const from = Math.floor((Date.now() - (days - 1) * day) / day) * day;
    return api<Schemas["SiteSeries"]>("GET", `/api/admin/analytics?step=day&from=${from}`);
  }, [days]);
  const a = audience.data?.buckets;
  const aDays = a?.map((b) => b.from.slice(0, 10)) ?? [];
  const s = stats.data?.stats;
  const d = series.data;
  return (
    <section className="card" aria-labelledby="stats-title">
      <header className="row">
        <h2 id="stats-title">Figures</h2>
        <label className="compact">
          Period{" "}
          <select name="days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
            <option value={365}>365 days</option>
          </select>
        </label>
      </header>
      {stats.error ? <Problem error={stats.error} onRetry={stats.reload} /> : null}
      {s && (
        <dl className="tiles" data-testid="figures">
          <div><dt>Users</dt><dd>{s.total_users}</dd></div>
          <div><dt>Active today</dt><dd>{s.active_users_today}</dd></div>
          <div><dt>Live now</dt><dd>{s.active_streams}</dd></div>
          <div><dt>Paying</dt><dd>{s.active_subscriptions}</dd></div>
          <div><dt>Hours today</dt><dd>{s.streaming_hours_today}</dd></div>
        </dl>
      )}
      {series.error ? <Problem error={series.error} onRetry={series.reload} /> : null}
      {!d && !series.error && <Loading what="charts" />}
      {d && (
        <div className="charts">
          <Chart title="Users" days={d.days} values={d.users} format={count} total={`${d.users[d.users.length - 1] ?? 0} (+${sum(d.new_users)})`} />
          <Chart title="Streams started" days={d.days} values={d.streams} format={count} total={String(sum(d.streams))} />
          <Chart title="Hours streamed" days={d.days} values={d.streaming_hours} format={count} total={`${sum(d.streaming_hours).toFixed(1)} h`} />
          {d.revenue.length === 0 ? (
            <Chart title="Revenue" days={d.days} values={d.days.map(() => 0)} format={count} total="no payments" />
          ) : (
            d.revenue.map((r) => (
              <Chart key={r.currency} title={`Revenue, ${r.currency}`} days={d.days} values={r.amount_minor.map((m) => m / 100)} format={(v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : count(v))} total={`${(sum(r.amount_minor) / 100).toFixed(2)} ${r.currency}`} />
            ))
          )}
        </div>
      )}
      {audience.error ? <Problem error={audience.error} onRetry={audience.reload} /> : null}
      {a && (
        <>
          <h3>Audience</h3>
          <div className="charts" data-testid="audience-charts">
            <Chart title="Live streams started" days={aDays} values={a.map((b) => b.live_streams)} format={count} total={String(sum(a.map((b) => b.live_streams)))} />
            <Chart title="Most viewers at once" days={aDays} values={a.map((b) => b.peak_viewers)} format={count} total={String(Math.max(0, ...a.map((b) => b.peak_viewers)))} />
            <Chart title="Unique viewers" days={aDays} values={a.map((b) => b.unique_viewers)} format={count} total={String(sum(a.map((b) => b.unique_viewers)))} />
            <Chart title="Watch hours" days={aDays} values={a.map((b) => b.watch_ms / 3_600_000)} format={count} total={`${(sum(a.map((b) => b.watch_ms)) / 3_600_000).toFixed(1)} h`} />
            <Chart title="Sign-ups" days={aDays} values={a.map((b) => b.signups)} format={count} total={String(sum(a.map((b) => b.signups)))} />
            <Chart title="Uploads" days={aDays} values={a.map((b) => b.uploads)} format={count} total={String(sum(a.map((b) => b.uploads)))} />
          </div>
        </>
      )}
    </section>
  );
}

/** Brands and their tiers: an administrator moves a brand to a larger (or smaller) tier. */
function BrandTiers() {
  const list = useLoad(() => api<Schemas["AdminBrandList"]>("GET", "/api/admin/brands"));
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  async function move(id: string, name: string, tier: string) {
    setError(null);
    setSaved(null);
    try {
      await api("PUT", `/api/admin/brands/${encodeURIComponent(id)}/tier`, { tier });
      setSaved(`${name} is on ${tier} now.`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  }
  const brands = list.data?.brands ?? [];
  return (
    <section className="card" aria-labelledby="brands-title" data-testid="admin-brands">
      <h2 id="brands-title">Brands</h2>
      {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
      {!list.data && !list.error && <Loading what="brands" />}
      {list.data && brands.length === 0 && <Empty>No brands yet.</Empty>}
      <ul className="rows">
        {brands.map((b) => (
          <li key={b.brand.id} data-testid="admin-brand">
            <strong>{b.brand.name}</strong> — {b.members} member{b.members === 1 ? "" : "s"}, {b.active_campaigns} active campaign{b.active_campaigns === 1 ? "" : "s"}{" "}
            <select aria-label={`Tier of ${b.brand.name}`} value={b.brand.tier.name} onChange={(e) => move(b.brand.id, b.brand.name, e.target.value)} style={{ width: "auto", display: "inline-block", margin: "0 0 0 8px" }}>
              {list.data!.tiers.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </li>
        ))}
      </ul>
      {saved && <p className="note" role="status">{saved}</p>}
      <Problem error={error} />
    </section>
  );
}

function Streams() {
  const streams = useLoad(() => api<Schemas["ActiveStreams"]>("GET", "/api/streams/active"));
  const [error, setError] = useState<unknown>(null);
  async function stop(id: number, name: string) {
    if (!confirm(`Stop ${name}?`)) return;
    try {
      await api("DELETE", `/api/streams/active/${id}`);
      streams.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section className="card" aria-labelledby="streams-title">
      <h2 id="streams-title">Live now</h2>
      {streams.error ? <Problem error={streams.error} onRetry={streams.reload} /> : null}
      {!streams.data && !streams.error && <Loading what="live streams" />}
      {streams.data?.streams.length === 0 && <Empty>Nobody is live.</Empty>}
      <ul className="rows">
        {streams.data?.streams.map((s) => (
          <li key={s.source_id}>
            <a href={`/watch/${s.playback_id}`}>{s.name}</a> — {s.status}, {Math.round(s.uptime_seconds / 60)} min{" "}
            <button className="link small danger" onClick={() => stop(s.source_id, s.name)}>Stop</button>
          </li>
        ))}
      </ul>
      <Problem error={error} />
    </section>
  );
}

function Users() {
  const me = useUser();
  const [page, setPage] = useState(1);
  const [q, setQ] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const users = useLoad(() => api<Schemas["UserPage"]>("GET", `/api/admin/users?page=${page}&limit=20&q=${encodeURIComponent(q)}`), [page, q]);
  const plans = useLoad(() => api<Schemas["PlanList"]>("GET", "/api/subscriptions/plans"));
  const pages = users.data?.pagination.total_pages ?? 1;
  async function change(u: Schemas["AdminUser"], planId: number) {
    const plan = plans.data?.plans.find((p) => p.id === planId);
    if (!plan || !confirm(`Put ${u.email} on ${plan.name} for a month? No payment is taken; it replaces their current subscription.`)) return;
    setError(null);
    try {
      await api("PUT", `/api/admin/users/${u.uuid}/subscription`, { plan_id: planId, billing_cycle: "monthly" } satisfies Schemas["PlanChange"]);
      setDone(`${u.email} is on ${plan.name}.`);
      users.reload();
    } catch (e) {
      setError(e);
    }
  }
  async function setRole(u: Schemas["AdminUser"], role: string) {
    if (role === u.role || !confirm(`Make ${u.email} ${role === "admin" ? "an administrator" : `a ${role}`}? It applies to their next request.`)) return;
    setError(null);
    try {
      await api("PUT", `/api/admin/users/${u.uuid}/role`, { role } satisfies Schemas["RoleChange"]);
      setDone(`${u.email} is now ${role}.`);
      users.reload();
    } catch (e) {
      setError(e);
    }
  }
  async function suspend(u: Schemas["AdminUser"], on: boolean) {
    const question = on
      ? `Suspend ${u.email}? They are signed out, cannot log in, their API keys and stream keys stop working and their live streams end, until you reactivate them.`
      : `Reactivate ${u.email}? They can log in and stream again.`;
    if (!confirm(question)) return;
    setError(null);
    try {
      await api("POST", `/api/admin/users/${u.uuid}/${on ? "suspend" : "reactivate"}`);
      setDone(on ? `${u.email} is suspended.` : `${u.email} is active again.`);
      users.reload();
    } catch (e) {
      setError(e);
    }
  }
  async function cancel(u: Schemas["AdminUser"]) {
    if (!confirm(`End ${u.email}'s ${u.subscription.plan_name} subscription now? Nothing is refunded here.`)) return;
    setError(null);
    try {
      await api("DELETE", `/api/admin/users/${u.uuid}/subscription`);
      setDone(`${u.email}'s subscription is canceled.`);
      users.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <label>
        Search
        <input type="search" name="q" value={q} onChange={(e) => (setQ(e.target.value), setPage(1))} placeholder="email or name" />
      </label>
      {users.error ? <Problem error={users.error} onRetry={users.reload} /> : null}
      {!users.data && !users.error && <Loading what="users" />}
      <ul className="users">
        {users.data?.users.map((u) => (
          <li key={u.id} data-testid="user-row">
            <div className="who">
              <strong>{u.email}</strong> <span className="muted">{u.display_name} · {u.role} · joined {u.created_at.slice(0, 10)}</span>
              {u.suspended && <span className="badge suspended" data-testid="user-suspended">Suspended</span>}
            </div>
            <div className="account">
              <label className="compact">
                <span className="visually-hidden">Role of {u.email}</span>
                <select name="role" aria-label={`Role of ${u.email}`} value={u.role} disabled={u.uuid === me?.uuid} onChange={(e) => setRole(u, e.target.value)}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>{r}</option>
                  ))}
                </select>
              </label>
              {u.uuid !== me?.uuid && (
                <button className={`link small ${u.suspended ? "" : "danger"}`} onClick={() => suspend(u, !u.suspended)}>
                  {u.suspended ? `Reactivate` : `Suspend`}<span className="visually-hidden"> {u.email}</span>
                </button>
              )}
            </div>
            <div className="plan">
              <span data-testid="user-plan">
                {u.subscription.plan_name}
                {u.subscription.status !== "active" && ` (${u.subscription.status.replace("_", " ")})`}
              </span>
              <label className="compact">
                <span className="visually-hidden">Plan for {u.email}</span>
                <select name="plan" aria-label={`Plan for ${u.email}`} value="" onChange={(e) => e.target.value && change(u, Number(e.target.value))}>
                  <option value="">Change plan…</option>
                  {plans.data?.plans.filter((p) => p.id !== u.subscription.plan_id && !p.is_default).map((p) => (
                    <option key={p.id} value={p.id}>{p.name}</option>
                  ))}
                </select>
              </label>
              {u.subscription.id && (
                <button className="link small danger" onClick={() => cancel(u)}>Cancel subscription</button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {done && <p className="ok" role="status" data-testid="user-done">{done}</p>}
      <Problem error={error} />
      <nav className="pager" aria-label="Pages of users">
        <button className="ghost small" disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>Previous</button>
        <span>Page {page} of {pages}</span>
        <button className="ghost small" disabled={page >= pages} onClick={() => setPage((p) => p + 1)}>Next</button>
      </nav>
    </section>
  );
}

/** The plan named in an action's details, if any. */
function planOf(details: unknown): string | null {
  const plan = (details as { plan?: unknown } | null)?.plan;
  return typeof plan === "string" ? plan : null;
}

/** The role named in a role change's details, if any. */
function roleOf(details: unknown): string | null {
  const to = (details as { to?: unknown } | null)?.to;
  return typeof to === "string" ? to : null;
}

function Actions() {
  const log = useLoad(() => api<Schemas["AdminActions"]>("GET", "/api/admin/actions"));
  const what: Record<string, string> = {
    subscription_plan_changed: "changed the plan of",
    subscription_canceled: "canceled the subscription of",
    settings_changed: "changed the site's settings",
    stream_stopped: "stopped a stream of",
    role_changed: "changed the role of",
    user_suspended: "suspended",
    user_reactivated: "reactivated",
    destination_retried: "retried a destination of",
    payout_approved: "approved a payout to",
    payout_rejected: "rejected a payout to",
    payout_marked_paid: "marked paid a payout to",
    payouts_exported: "exported payouts for bank transfer",
    tax_rate_set: "set a tax rate",
    tax_rate_removed: "removed a tax rate",
  };
  return (
    <section className="card" aria-labelledby="actions-title">
      <h2 id="actions-title">Administrators' actions</h2>
      {log.error ? <Problem error={log.error} onRetry={log.reload} /> : null}
      {log.data?.actions.length === 0 && <Empty>Nothing yet.</Empty>}
      <ul className="rows" data-testid="admin-actions">
        {log.data?.actions.slice(0, 20).map((a) => (
          <li key={a.id}>
            <span className="muted">{a.created_at.slice(0, 16).replace("T", " ")}</span> {a.admin ?? "a former administrator"} {what[a.action] ?? a.action} {a.target ?? ""}
            {planOf(a.details) ? ` → ${planOf(a.details)}` : ""}
            {roleOf(a.details) ? ` → ${roleOf(a.details)}` : ""}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Subscriptions() {
  const subs = useLoad(() => api<Schemas["SubscriptionPage"]>("GET", "/api/admin/subscriptions?per_page=50"));
  return (
    <section className="card" aria-labelledby="subs-title">
      <h2 id="subs-title">Subscriptions</h2>
      {subs.error ? <Problem error={subs.error} onRetry={subs.reload} /> : null}
      {!subs.data && !subs.error && <Loading what="subscriptions" />}
      {subs.data?.subscriptions.length === 0 && <Empty>No paid subscriptions yet.</Empty>}
      <ul className="rows">
        {subs.data?.subscriptions.map((s) => (
          <li key={s.id}>
            {s.email}: {s.plan} ({s.billing_cycle}, {s.status}{s.provider ? `, ${s.provider}` : ""}) until {s.current_period_end.slice(0, 10)}
          </li>
        ))}
      </ul>
    </section>
  );
}
