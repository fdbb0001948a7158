import { useState } from "react";
import { api, type Schemas } from "../api";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";

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
      <Settings />
      <StatsPanel />
      <Streams />
      <Users />
      <Subscriptions />
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
        <input type="checkbox" checked={s.registration_open} onChange={(e) => change({ registration_open: e.target.checked })} /> Registrations open
      </label>
      <Problem error={error} />
    </section>
  );
}

function Bar({ label, value, max }: { label: string; value: number; max: number }) {
  return (
    <div className="barrow">
      <span>{label}</span>
      <span className="meter" role="img" aria-label={`${label}: ${value}`}>
        <span style={{ width: `${value > 0 && max ? Math.max(2, (100 * value) / max) : 0}%` }} />
      </span>
      <strong>{value}</strong>
    </div>
  );
}

function StatsPanel() {
  const stats = useLoad(() => api<Schemas["Stats"]>("GET", "/api/admin/stats"));
  if (stats.error) return <Problem error={stats.error} onRetry={stats.reload} />;
  if (!stats.data) return <Loading what="figures" />;
  const s = stats.data;
  const max = Math.max(s.users, s.paying_subscriptions, 1);
  return (
    <section className="card" aria-labelledby="stats-title">
      <h2 id="stats-title">Figures</h2>
      <Bar label="Users" value={s.users} max={max} />
      <Bar label="Paying subscriptions" value={s.paying_subscriptions} max={max} />
      <h3>Revenue, last 30 days</h3>
      {s.revenue.last_30_days.length === 0 ? (
        <p className="muted">No payments yet.</p>
      ) : (
        <ul>
          {s.revenue.last_30_days.map((r) => (
            <li key={r.currency}>
              {r.amount} {r.currency} from {r.payments} payments
            </li>
          ))}
        </ul>
      )}
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
  const [page, setPage] = useState(1);
  const [q, setQ] = useState("");
  const users = useLoad(() => api<Schemas["UserPage"]>("GET", `/api/admin/users?page=${page}&per_page=20&q=${encodeURIComponent(q)}`), [page, q]);
  const pages = users.data ? Math.max(1, Math.ceil(users.data.total / users.data.per_page)) : 1;
  return (
    <section className="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <label>
        Search
        <input type="search" name="q" value={q} onChange={(e) => (setQ(e.target.value), setPage(1))} placeholder="email or name" />
      </label>
      {users.error ? <Problem error={users.error} onRetry={users.reload} /> : null}
      {!users.data && !users.error && <Loading what="users" />}
      <table>
        <thead>
          <tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Joined</th></tr>
        </thead>
        <tbody>
          {users.data?.users.map((u) => (
            <tr key={u.id}><td>{u.email}</td><td>{u.display_name}</td><td>{u.role}</td><td>{u.created_at.slice(0, 10)}</td></tr>
          ))}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages of users">
        <button className="ghost small" disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>Previous</button>
        <span>Page {page} of {pages}</span>
        <button className="ghost small" disabled={page >= pages} onClick={() => setPage((p) => p + 1)}>Next</button>
      </nav>
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
