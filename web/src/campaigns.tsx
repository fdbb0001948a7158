// Brands and campaigns: creators discover open campaigns and apply (`/campaigns`,
// `/campaigns/<id>`); brands manage their team and campaigns, move them along their lifecycle
// and decide on applicants (`/brands`, `/brands/<id>`, the campaign's page); an invitation's
// link joins a brand (`/brands/join?token=`).
import { useEffect, useState, type FormEvent } from "react";
import { api, type Schemas } from "./api";
import { dateTime } from "./format";
import { Link, navigate } from "./router";
import { money } from "./tips";
import { DeliverableList, EscrowCard, HandIn, ReportCard } from "./deliverables";
import { Empty, Loading, Problem, useLoad, useUser } from "./ui";
import "./campaigns.css";

type Campaign = Schemas["CampaignView"];
type CampaignOne = Schemas["CampaignOne"];
type Application = Schemas["CampaignApplicationView"];
type Brand = Schemas["BrandView"];
type Team = Schemas["BrandTeamView"];

const TYPES: [string, string][] = [
  ["ugc", "UGC"],
  ["brand_ambassador", "Brand ambassador"],
  ["product_review", "Product review"],
  ["influencer", "Influencer"],
  ["event", "Event"],
];
const DELIVERABLES: [string, string][] = [
  ["video", "Video"],
  ["image", "Image"],
  ["story", "Story"],
  ["reel", "Reel"],
  ["post", "Post"],
  ["article", "Article"],
  ["review", "Review"],
];
const label = (list: [string, string][], v: string) => list.find(([k]) => k === v)?.[1] ?? v;
const STATUS_WORDS: Record<string, string> = {
  DRAFT: "Draft",
  PUBLISHED: "Open for applications",
  ACTIVE: "Active",
  IN_PROGRESS: "In progress",
  COMPLETED: "Completed",
  CANCELLED: "Cancelled",
};
/** What the button that moves a campaign to a status says. */
const MOVE_WORDS: Record<string, string> = {
  PUBLISHED: "Publish",
  DRAFT: "Back to draft",
  ACTIVE: "Start",
  IN_PROGRESS: "Work has begun",
  COMPLETED: "Complete",
  CANCELLED: "Cancel campaign",
};

function StatusBadge({ status }: { status: string }) {
  const tone = status === "CANCELLED" ? "bad" : status === "DRAFT" ? "neutral" : status === "COMPLETED" ? "neutral" : "good";
  return (
    <span className={`badge campaign-status ${tone}`} data-testid="campaign-status" data-status={status}>
      {STATUS_WORDS[status] ?? status}
    </span>
  );
}

/** Minor units from what a person types ("500", "499.99"). */
function toMinor(text: string): number {
  const n = Number(text.replace(/[, ]/g, ""));
  return Number.isFinite(n) ? Math.round(n * 100) : NaN;
}

function CampaignCard({ c }: { c: Campaign }) {
  return (
    <li className="campaign-card" data-testid="campaign-card">
      <Link href={`/campaigns/${encodeURIComponent(c.id)}`} className="campaign-card-link">
        <span className="campaign-card-brand">{c.brand_name}</span>
        <span className="campaign-card-title">{c.title}</span>
        <span className="campaign-card-tags">
          <span className="pill">{label(TYPES, c.type)}</span>
          <span className="pill">{label(DELIVERABLES, c.deliverable)}</span>
        </span>
        <span className="campaign-card-foot">
          <strong>{money(c.budget_minor, c.currency)}</strong>
          {c.apply_by && <span className="muted">Apply by {dateTime(c.apply_by)}</span>}
        </span>
      </Link>
    </li>
  );
}

/** `/campaigns`: open campaigns, searched and filtered; a creator's own applications on top. */
export function Discover() {
  const user = useUser();
  const params = new URLSearchParams(location.search);
  const [q, setQ] = useState(params.get("q") ?? "");
  const [type, setType] = useState(params.get("type") ?? "");
  const [deliverable, setDeliverable] = useState(params.get("deliverable") ?? "");
  const [query, setQuery] = useState({ q, type, deliverable });
  useEffect(() => {
    document.title = "Campaigns · ferrocast";
  }, []);
  const list = useLoad(() => {
    const p = new URLSearchParams();
    if (query.q) p.set("q", query.q);
    if (query.type) p.set("type", query.type);
    if (query.deliverable) p.set("deliverable", query.deliverable);
    return api<Schemas["CampaignList"]>("GET", `/api/campaigns?${p}`);
  }, [query.q, query.type, query.deliverable]);
  const mine = useLoad(() => (user ? api<Schemas["MyCampaignApplications"]>("GET", "/api/me/applications") : Promise.resolve(null)), [user?.id]);
  const search = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ q: q.trim(), type, deliverable });
  };
  return (
    <div className="campaigns-page" data-testid="discover">
      <header className="campaigns-hero">
        <h1>Campaigns</h1>
        <p className="muted">Brands looking for creators. Apply with a pitch and your rate; the brand picks whom to hire.</p>
        <form className="campaign-search" onSubmit={search} role="search" aria-label="Find campaigns">
          <input name="q" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search by product, brand or brief" aria-label="Search campaigns" />
          <select name="type" value={type} onChange={(e) => setType(e.target.value)} aria-label="Type">
            <option value="">Any type</option>
            {TYPES.map(([k, v]) => (
              <option key={k} value={k}>{v}</option>
            ))}
          </select>
          <select name="deliverable" value={deliverable} onChange={(e) => setDeliverable(e.target.value)} aria-label="Deliverable">
            <option value="">Any deliverable</option>
            {DELIVERABLES.map(([k, v]) => (
              <option key={k} value={k}>{v}</option>
            ))}
          </select>
          <button type="submit">Search</button>
        </form>
      </header>
      {mine.data && mine.data.applications.length > 0 && (
        <section className="card" aria-labelledby="mine-title" data-testid="my-applications">
          <h2 id="mine-title">Your applications</h2>
          <ul className="application-list">
            {mine.data.applications.map(({ application: a, campaign: c }) => (
              <li key={a.id} className="application-row">
                <Link href={`/campaigns/${encodeURIComponent(c.id)}`}>{c.title}</Link>
                <span className="muted">{c.brand_name}</span>
                <ApplicationBadge status={a.status} />
              </li>
            ))}
          </ul>
        </section>
      )}
      <Problem error={list.error} onRetry={list.reload} />
      {!list.data && !list.error && <Loading what="campaigns" />}
      {list.data && list.data.campaigns.length === 0 && <Empty>No open campaign matches. Try other words or filters.</Empty>}
      {list.data && list.data.campaigns.length > 0 && (
        <ul className="campaign-grid" aria-label="Open campaigns">
          {list.data.campaigns.map((c) => (
            <CampaignCard key={c.id} c={c} />
          ))}
        </ul>
      )}
    </div>
  );
}

const APPLICATION_WORDS: Record<string, [string, string]> = {
  invited: ["Invited", "warn"],
  applied: ["Applied", "neutral"],
  shortlisted: ["Shortlisted", "warn"],
  accepted: ["Hired", "good"],
  declined: ["Declined", "bad"],
  withdrawn: ["Withdrawn", "neutral"],
};

function ApplicationBadge({ status }: { status: string }) {
  const [words, tone] = APPLICATION_WORDS[status] ?? [status, "neutral"];
  return (
    <span className={`badge ${tone}`} data-testid="application-status" data-status={status}>
      {words}
    </span>
  );
}

/** `/campaigns/<id>`: the campaign; its brand's members manage it, creators apply. */
export function CampaignPage({ id }: { id: string }) {
  const user = useUser();
  const one = useLoad(() => api<CampaignOne>("GET", `/api/campaigns/${encodeURIComponent(id)}`), [id, user?.id]);
  useEffect(() => {
    if (one.data) document.title = `${one.data.campaign.title} · ferrocast`;
  }, [one.data]);
  if (one.error) return <Problem error={one.error} onRetry={one.reload} />;
  if (!one.data) return <Loading what="the campaign" />;
  const c = one.data.campaign;
  const manager = c.role === "owner" || c.role === "manager";
  const hired = !c.role && one.data.application?.status === "accepted" ? one.data.application.id : null;
  return (
    <div className="campaign-page" data-testid="campaign-page">
      <nav className="crumbs" aria-label="Breadcrumb">
        {c.role ? <Link href={`/brands/${encodeURIComponent(c.brand_id)}`}>{c.brand_name}</Link> : <Link href="/campaigns">Campaigns</Link>}
      </nav>
      <header className="campaign-head">
        <div>
          {!c.role && <p className="campaign-brand">{c.brand_name}</p>}
          <h1>{c.title}</h1>
          <p className="campaign-tags">
            <StatusBadge status={c.status} />
            <span className="pill">{label(TYPES, c.type)}</span>
            <span className="pill">{label(DELIVERABLES, c.deliverable)}</span>
          </p>
        </div>
        <dl className="campaign-facts">
          <div>
            <dt>Budget</dt>
            <dd data-testid="campaign-budget">{money(c.budget_minor, c.currency)}</dd>
          </div>
          {c.apply_by && (
            <div>
              <dt>Apply by</dt>
              <dd>{dateTime(c.apply_by)}</dd>
            </div>
          )}
          {c.due_at && (
            <div>
              <dt>Due</dt>
              <dd>{dateTime(c.due_at)}</dd>
            </div>
          )}
        </dl>
      </header>
      <div className="campaign-body">
        <div className="campaign-main">
        <section className="card" aria-labelledby="brief-title">
          <h2 id="brief-title">Brief</h2>
          <p className="campaign-brief">{c.brief}</p>
          {one.data.milestones.length > 0 && (
            <>
              <h3>Milestones</h3>
              <Milestones one={one.data} manager={manager} onChange={one.reload} />
            </>
          )}
          {manager && <MilestoneForm id={c.id} onDone={one.reload} />}
        </section>
        {c.role && c.status !== "DRAFT" && (
          <div className="campaign-work" data-testid="campaign-work">
            <DeliverableList c={c} title="Review queue" />
            <ReportCard c={c} manager={manager} />
          </div>
        )}
        {hired && (
          <div className="campaign-work">
            {["ACTIVE", "IN_PROGRESS"].includes(c.status) && <HandIn application={hired} c={c} onDone={one.reload} />}
            <DeliverableList c={c} title="Your deliverables" />
          </div>
        )}
        </div>
        <aside className="campaign-side">
          {manager && <Lifecycle c={c} onDone={one.reload} />}
          {c.role && <EscrowCard c={c} manager={manager} />}
          {c.role ? (
            <Applicants c={c} manager={manager} onChange={one.reload} />
          ) : (
            <ApplyCard one={one.data} user={!!user} onDone={one.reload} />
          )}
        </aside>
      </div>
    </div>
  );
}

function Milestones({ one, manager, onChange }: { one: CampaignOne; manager: boolean; onChange: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const tick = async (m: number, done: boolean) => {
    setError(null);
    try {
      await api("PATCH", `/api/campaigns/${encodeURIComponent(one.campaign.id)}/milestones/${m}`, { done });
      onChange();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <ul className="milestones" data-testid="milestones">
        {one.milestones.map((m) => (
          <li key={m.id} className={m.done_at ? "done" : ""}>
            {manager ? (
              <label className="compact">
                <input type="checkbox" checked={!!m.done_at} onChange={(e) => tick(m.id, e.target.checked)} />
                {m.title}
              </label>
            ) : (
              <span>{m.title}</span>
            )}
            <span className="muted">{dateTime(m.due_at)}</span>
          </li>
        ))}
      </ul>
      <Problem error={error} />
    </>
  );
}

function MilestoneForm({ id, onDone }: { id: string; onDone: () => void }) {
  const [title, setTitle] = useState("");
  const [due, setDue] = useState("");
  const [error, setError] = useState<unknown>(null);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/api/campaigns/${encodeURIComponent(id)}/milestones`, { title, due_at: new Date(due).toISOString() });
      setTitle("");
      setDue("");
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="milestone-form" onSubmit={add} aria-label="Add a milestone">
      <input name="milestone_title" required maxLength={140} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="Milestone, e.g. First cut" aria-label="Milestone" />
      <input name="milestone_due" type="datetime-local" required value={due} onChange={(e) => setDue(e.target.value)} aria-label="Due" />
      <button type="submit" className="ghost">Add milestone</button>
      <Problem error={error} />
    </form>
  );
}

/** The brand's buttons that move the campaign along its lifecycle. */
function Lifecycle({ c, onDone }: { c: Campaign; onDone: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const move = async (to: string) => {
    setError(null);
    setBusy(true);
    try {
      await api("POST", `/api/campaigns/${encodeURIComponent(c.id)}/status`, { status: to });
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (c.next_statuses.length === 0) return null;
  return (
    <section className="card lifecycle" aria-labelledby="lifecycle-title" data-testid="lifecycle">
      <h2 id="lifecycle-title">Status</h2>
      <div className="actions">
        {c.next_statuses.map((s) => (
          <button key={s} className={s === "CANCELLED" ? "ghost danger-outline" : s === "DRAFT" ? "ghost" : ""} disabled={busy} onClick={() => move(s)} data-testid={`move-${s}`}>
            {MOVE_WORDS[s] ?? s}
          </button>
        ))}
      </div>
      <Problem error={error} />
    </section>
  );
}

/** The brand's view of who applied, with its decisions, and inviting a creator. */
function Applicants({ c, manager, onChange }: { c: Campaign; manager: boolean; onChange: () => void }) {
  const list = useLoad(() => api<Schemas["CampaignApplicationList"]>("GET", `/api/campaigns/${encodeURIComponent(c.id)}/applications`), [c.id]);
  const [error, setError] = useState<unknown>(null);
  const [handle, setHandle] = useState("");
  const decide = async (a: Application, status: string) => {
    setError(null);
    try {
      await api("POST", `/api/applications/${encodeURIComponent(a.id)}/decision`, { status });
      list.reload();
      onChange();
    } catch (e) {
      setError(e);
    }
  };
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/api/campaigns/${encodeURIComponent(c.id)}/invitations`, { handle });
      setHandle("");
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const apps = list.data?.applications ?? [];
  const committed = apps.filter((a) => a.status === "accepted").reduce((s, a) => s + a.rate_minor, 0);
  return (
    <section className="card applicants" aria-labelledby="applicants-title" data-testid="applicants">
      <h2 id="applicants-title">
        Applicants <span className="count">{apps.length}</span>
      </h2>
      <p className="muted">
        {money(committed, c.currency)} of {money(c.budget_minor, c.currency)} committed
      </p>
      <Problem error={list.error} onRetry={list.reload} />
      {list.data && apps.length === 0 && <Empty>No applications yet.</Empty>}
      <ul className="applicant-list">
        {apps.map((a) => (
          <li key={a.id} className="applicant" data-testid="applicant" data-handle={a.creator_handle}>
            <div className="applicant-head">
              <Link href={`/c/${encodeURIComponent(a.creator_handle)}`} className="applicant-name">{a.creator_name}</Link>
              <ApplicationBadge status={a.status} />
            </div>
            {a.status !== "invited" && (
              <>
                <p className="applicant-rate">{money(a.rate_minor, c.currency)}</p>
                <p className="applicant-pitch">{a.pitch}</p>
              </>
            )}
            {manager && (a.status === "applied" || a.status === "shortlisted") && (
              <div className="actions">
                {a.status === "applied" && (
                  <button className="ghost small" onClick={() => decide(a, "shortlisted")}>Shortlist</button>
                )}
                <button className="small" onClick={() => decide(a, "accepted")} data-testid="accept">Hire</button>
                <button className="ghost danger-outline small" onClick={() => decide(a, "declined")}>Decline</button>
              </div>
            )}
          </li>
        ))}
      </ul>
      <Problem error={error} />
      {manager && ["PUBLISHED", "ACTIVE"].includes(c.status) && (
        <form className="invite-creator" onSubmit={invite} aria-label="Invite a creator">
          <input name="handle" required value={handle} onChange={(e) => setHandle(e.target.value)} placeholder="@handle" aria-label="Creator's handle" />
          <button type="submit" className="ghost">Invite creator</button>
        </form>
      )}
    </section>
  );
}

/** A creator's side of a campaign: apply, or where their application stands. */
function ApplyCard({ one, user, onDone }: { one: CampaignOne; user: boolean; onDone: () => void }) {
  const c = one.campaign;
  const a = one.application;
  const [pitch, setPitch] = useState("");
  const [rate, setRate] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const open = ["PUBLISHED", "ACTIVE"].includes(c.status);
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const rate_minor = toMinor(rate);
      if (a?.status === "invited") await api("POST", `/api/applications/${encodeURIComponent(a.id)}/answer`, { status: "applied", pitch, rate_minor });
      else await api("POST", `/api/campaigns/${encodeURIComponent(c.id)}/applications`, { pitch, rate_minor });
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const answer = async (status: string) => {
    if (!a) return;
    setError(null);
    try {
      await api("POST", `/api/applications/${encodeURIComponent(a.id)}/answer`, { status });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  if (!user) {
    return (
      <section className="card">
        <h2>Interested?</h2>
        <p>
          <Link href="/login">Log in</Link> with a creator account to apply.
        </p>
      </section>
    );
  }
  if (a && a.status !== "invited") {
    return (
      <section className="card" data-testid="my-application">
        <h2>Your application</h2>
        <p>
          <ApplicationBadge status={a.status} /> at {money(a.rate_minor, c.currency)}
        </p>
        <p className="applicant-pitch">{a.pitch}</p>
        {a.status === "accepted" && <p className="note">You’re hired. Deliverables are due {c.due_at ? dateTime(c.due_at) : "as the brief says"}.</p>}
        {(a.status === "applied" || a.status === "shortlisted") && (
          <button className="link small danger" onClick={() => answer("withdrawn")}>Withdraw application</button>
        )}
        <Problem error={error} />
      </section>
    );
  }
  if (!open) {
    return (
      <section className="card">
        <h2>Applications are closed</h2>
        <p className="muted">This campaign is {STATUS_WORDS[c.status]?.toLowerCase() ?? c.status}.</p>
      </section>
    );
  }
  return (
    <section className="card apply" aria-labelledby="apply-title" data-testid="apply">
      <h2 id="apply-title">{a?.status === "invited" ? `${c.brand_name} invited you` : "Apply"}</h2>
      <form onSubmit={send} aria-label="Apply to this campaign">
        <label>
          Your pitch
          <textarea name="pitch" required minLength={10} maxLength={4000} rows={5} value={pitch} onChange={(e) => setPitch(e.target.value)} placeholder="Why you, and what you would make" />
        </label>
        <label>
          Your rate ({c.currency})
          <input name="rate" required inputMode="decimal" value={rate} onChange={(e) => setRate(e.target.value)} placeholder={`up to ${money(c.budget_minor, c.currency)}`} />
        </label>
        <div className="actions">
          <button type="submit" disabled={busy}>{a?.status === "invited" ? "Accept and apply" : "Send application"}</button>
          {a?.status === "invited" && (
            <button type="button" className="ghost" onClick={() => answer("declined")}>Not for me</button>
          )}
        </div>
      </form>
      <Problem error={error} />
    </section>
  );
}

/** `/brands`: the caller's brands, and making one (brand accounts). */
export function Brands() {
  const user = useUser();
  const list = useLoad(() => (user ? api<Schemas["BrandList"]>("GET", "/api/brands") : Promise.resolve(null)), [user?.id]);
  const [name, setName] = useState("");
  const [website, setWebsite] = useState("");
  const [about, setAbout] = useState("");
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Brands · ferrocast";
  }, []);
  if (!user) {
    return (
      <section className="narrow card">
        <h1>Brands</h1>
        <p>
          <Link href="/login">Log in</Link> with a brand account to run campaigns.
        </p>
      </section>
    );
  }
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api<Schemas["BrandOne"]>("POST", "/api/brands", { name, website: website || null, about });
      navigate(`/brands/${encodeURIComponent(r.brand.id)}`);
    } catch (err) {
      setError(err);
    }
  };
  const canCreate = user.role === "brand" || user.role === "admin";
  return (
    <div className="brands-page" data-testid="brands">
      <h1>Brands</h1>
      <Problem error={list.error} onRetry={list.reload} />
      {list.data && list.data.brands.length > 0 && (
        <ul className="brand-list">
          {list.data.brands.map((b) => (
            <li key={b.id}>
              <Link href={`/brands/${encodeURIComponent(b.id)}`} className="brand-row" data-testid="brand-row">
                <span className="brand-row-name">{b.name}</span>
                <span className="muted">
                  {b.role} · {b.tier.name} tier
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      {list.data && list.data.brands.length === 0 && !canCreate && (
        <Empty>You are not in a brand’s team. A brand’s owner can invite you by email.</Empty>
      )}
      {canCreate && (
        <section className="card brand-create" aria-labelledby="brand-create-title">
          <h2 id="brand-create-title">New brand</h2>
          <form onSubmit={create} aria-label="Create a brand">
            <label>
              Name
              <input name="brand_name" required maxLength={80} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Acme Outdoors" />
            </label>
            <label>
              Website
              <input name="brand_website" type="url" value={website} onChange={(e) => setWebsite(e.target.value)} placeholder="https://" />
            </label>
            <label>
              About
              <textarea name="brand_about" rows={3} maxLength={8000} value={about} onChange={(e) => setAbout(e.target.value)} placeholder="What the brand makes, for creators deciding whether to apply" />
            </label>
            <button type="submit">Create brand</button>
          </form>
          <Problem error={error} />
        </section>
      )}
    </div>
  );
}

const limitText = (v: number | null | undefined) => (v == null ? "unlimited" : String(v));

/** `/brands/<id>`: the brand's campaigns (and a new one), its team and tier. */
export function BrandPage({ id }: { id: string }) {
  const team = useLoad(() => api<Team>("GET", `/api/brands/${encodeURIComponent(id)}`), [id]);
  const campaigns = useLoad(() => api<Schemas["CampaignList"]>("GET", `/api/brands/${encodeURIComponent(id)}/campaigns`), [id]);
  useEffect(() => {
    if (team.data) document.title = `${team.data.brand.name} · ferrocast`;
  }, [team.data]);
  if (team.error) return <Problem error={team.error} onRetry={team.reload} />;
  if (!team.data) return <Loading what="the brand" />;
  const b = team.data.brand;
  const manager = b.role === "owner" || b.role === "manager";
  return (
    <div className="brand-page" data-testid="brand-page">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href="/brands">Brands</Link>
      </nav>
      <header className="brand-head">
        <h1>{b.name}</h1>
        <p className="muted">
          {b.tier.name} tier · {team.data.seats_used} of {limitText(b.tier.seats)} seats · {limitText(b.tier.active_campaigns)} active campaigns ·{" "}
          {limitText(b.tier.creators_per_campaign)} creators each
        </p>
      </header>
      <div className="brand-body">
        <section aria-labelledby="campaigns-title">
          <h2 id="campaigns-title">Campaigns</h2>
          <Problem error={campaigns.error} onRetry={campaigns.reload} />
          {campaigns.data && campaigns.data.campaigns.length === 0 && <Empty>No campaigns yet.</Empty>}
          <ul className="brand-campaigns">
            {(campaigns.data?.campaigns ?? []).map((c) => (
              <li key={c.id}>
                <Link href={`/campaigns/${encodeURIComponent(c.id)}`} className="brand-campaign" data-testid="brand-campaign">
                  <span className="brand-campaign-title">{c.title}</span>
                  <StatusBadge status={c.status} />
                  <span className="muted">{money(c.budget_minor, c.currency)}</span>
                </Link>
              </li>
            ))}
          </ul>
          {manager && <NewCampaign brand={b} />}
        </section>
        <TeamCard team={team.data} onChange={team.reload} />
      </div>
    </div>
  );
}

function localIn(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setMinutes(0, 0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function NewCampaign({ brand }: { brand: Brand }) {
  const [f, setF] = useState({ title: "", type: "ugc", deliverable: "video", brief: "", budget: "", currency: "USD", apply: localIn(14), due: localIn(30) });
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await api<CampaignOne>("POST", `/api/brands/${encodeURIComponent(brand.id)}/campaigns`, {
        title: f.title,
        type: f.type,
        deliverable: f.deliverable,
        brief: f.brief,
        budget_minor: toMinor(f.budget),
        currency: f.currency,
        apply_by: f.apply ? new Date(f.apply).toISOString() : null,
        due_at: f.due ? new Date(f.due).toISOString() : null,
      });
      navigate(`/campaigns/${encodeURIComponent(r.campaign.id)}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card new-campaign" aria-labelledby="new-campaign-title" data-testid="new-campaign">
      <h2 id="new-campaign-title">New campaign</h2>
      <form onSubmit={create} className="campaign-form" aria-label="Write a campaign">
        <label className="wide">
          Title
          <input name="title" required maxLength={140} value={f.title} onChange={set("title")} placeholder="e.g. Trail shoe review" />
        </label>
        <label>
          Type
          <select name="type" value={f.type} onChange={set("type")}>
            {TYPES.map(([k, v]) => (
              <option key={k} value={k}>{v}</option>
            ))}
          </select>
        </label>
        <label>
          Deliverable
          <select name="deliverable" value={f.deliverable} onChange={set("deliverable")}>
            {DELIVERABLES.map(([k, v]) => (
              <option key={k} value={k}>{v}</option>
            ))}
          </select>
        </label>
        <label className="wide">
          Brief
          <textarea name="brief" required minLength={10} rows={4} value={f.brief} onChange={set("brief")} placeholder="What you want made, for whom, and what it must show" />
        </label>
        <label>
          Budget
          <input name="budget" required inputMode="decimal" value={f.budget} onChange={set("budget")} placeholder="500" />
        </label>
        <label>
          Currency
          <select name="currency" value={f.currency} onChange={set("currency")}>
            <option>USD</option>
            <option>INR</option>
          </select>
        </label>
        <label>
          Applications close
          <input name="apply_by" type="datetime-local" value={f.apply} onChange={set("apply")} />
        </label>
        <label>
          Deliverables due
          <input name="due_at" type="datetime-local" value={f.due} onChange={set("due")} />
        </label>
        <div className="wide actions">
          <button type="submit">Save as draft</button>
        </div>
      </form>
      <Problem error={error} />
    </section>
  );
}

function TeamCard({ team, onChange }: { team: Team; onChange: () => void }) {
  const b = team.brand;
  const owner = b.role === "owner";
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("manager");
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const invite = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSent(null);
    try {
      const r = await api<Schemas["BrandInviteSent"]>("POST", `/api/brands/${encodeURIComponent(b.id)}/invites`, { email, role });
      setSent(r.invite.email);
      setEmail("");
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <aside className="card team" aria-labelledby="team-title" data-testid="team">
      <h2 id="team-title">Team</h2>
      <ul className="team-list">
        {team.members.map((m) => (
          <li key={m.user_id}>
            <span>{m.display_name}</span>
            <span className="muted">{m.role}</span>
          </li>
        ))}
        {team.invites.map((i) => (
          <li key={`i${i.id}`} className="invited">
            <span>{i.email}</span>
            <span className="muted">invited · {i.role}</span>
          </li>
        ))}
      </ul>
      {owner && (
        <form className="team-invite" onSubmit={invite} aria-label="Invite to the team">
          <input name="invite_email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} placeholder="name@company.com" aria-label="Email" />
          <select name="invite_role" value={role} onChange={(e) => setRole(e.target.value)} aria-label="Role">
            <option value="manager">Manager</option>
            <option value="viewer">Viewer</option>
            <option value="owner">Owner</option>
          </select>
          <button type="submit" className="ghost">Invite</button>
        </form>
      )}
      {sent && <p className="note" role="status">Invitation mailed to {sent}.</p>}
      <Problem error={error} />
    </aside>
  );
}

/** `/brands/join?token=`: takes up an invitation for the signed-in account. */
export function JoinBrand() {
  const user = useUser();
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Join a brand · ferrocast";
    if (!user || !token) return;
    api<Schemas["BrandOne"]>("POST", "/api/brands/join", { token }).then(
      (r) => navigate(`/brands/${encodeURIComponent(r.brand.id)}`),
      setError,
    );
  }, [user?.id, token]);
  if (!user) {
    return (
      <section className="narrow card">
        <h1>Join a brand</h1>
        <p>
          <Link href={`/login?next=${encodeURIComponent(location.pathname + location.search)}`}>Log in</Link> (or{" "}
          <Link href="/register">register</Link>) with the address the invitation went to, then open the link again.
        </p>
      </section>
    );
  }
  return (
    <section className="narrow card">
      <h1>Join a brand</h1>
      {error ? <Problem error={error} /> : <Loading what="the invitation" />}
    </section>
  );
}
