// The work of a campaign: the brand's escrow, creators handing in deliverables and the brand
// reviewing them (`/deliverables/<id>`: versions, history, review, usage rights, hotspots), the
// attribution report, and the brand's embed of an approved deliverable
// (`/embed/deliverables/<id>`).
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "./api";
import { dateTime } from "./format";
import { Link } from "./router";
import { money } from "./tips";
import { Empty, Loading, Problem, useLoad } from "./ui";
import { VodPlayer } from "./videos";
import "./campaigns.css";

type Campaign = Schemas["CampaignView"];
type Deliverable = Schemas["DeliverableView"];
type DeliverableOne = Schemas["DeliverableOne"];
type Escrow = Schemas["CampaignEscrowView"];
type Video = Schemas["VideoView"];

const KINDS: [string, string][] = [
  ["VIDEO", "Video"],
  ["REEL", "Reel"],
  ["STORY", "Story"],
  ["REVIEW", "Review"],
  ["POST", "Post"],
  ["ARTICLE", "Article"],
  ["IMAGE", "Image"],
];
const VIDEO_KINDS = ["VIDEO", "REEL", "STORY"];

const STATUS: Record<string, [string, string]> = {
  submitted: ["In review", "warn"],
  revision_requested: ["Revision requested", "bad"],
  approved: ["Approved", "good"],
  rejected: ["Rejected", "bad"],
};

const ACTIONS: Record<string, string> = {
  submitted: "handed in version",
  resubmitted: "handed in version",
  rolled_back: "went back to version",
  approved: "approved version",
  revision_requested: "asked for changes to version",
  rejected: "rejected version",
  rights_proposed: "proposed usage rights",
  rights_consented: "consented to the usage rights",
};

const RIGHTS: Record<string, string> = {
  exclusive: "Exclusive",
  non_exclusive: "Non-exclusive",
  limited: "Limited",
  perpetual: "Perpetual",
};

export function DeliverableBadge({ status }: { status: string }) {
  const [word, tone] = STATUS[status] ?? [status, ""];
  return (
    <span className={`badge ${tone}`} data-testid="deliverable-status">
      {word}
    </span>
  );
}

/** The brand's escrow: what is paid in, released and held; paying the rest through Stripe. */
export function EscrowCard({ c, manager }: { c: Campaign; manager: boolean }) {
  const escrow = useLoad(() => api<Escrow>("GET", `/api/campaigns/${encodeURIComponent(c.id)}/escrow`), [c.id, c.status]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const returned = new URLSearchParams(location.search).get("escrow");
  const fund = async () => {
    setError(null);
    setBusy(true);
    try {
      const started = await api<Schemas["CampaignEscrowStarted"]>("POST", `/api/campaigns/${encodeURIComponent(c.id)}/escrow`, { gateway: "stripe" });
      location.assign(started.url);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const refund = async () => {
    setError(null);
    setBusy(true);
    try {
      await api("POST", `/api/campaigns/${encodeURIComponent(c.id)}/escrow/refund`);
      escrow.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const e = escrow.data;
  const share = e && e.budget_minor > 0 ? Math.min(100, ((e.funded_minor - e.refunded_minor) / e.budget_minor) * 100) : 0;
  return (
    <section className="card escrow" aria-labelledby="escrow-title" data-testid="escrow">
      <h2 id="escrow-title">Escrow</h2>
      <Problem error={escrow.error} onRetry={escrow.reload} />
      {e && (
        <>
          <div className="escrow-meter" role="img" aria-label={`${Math.round(share)} % of the budget in escrow`}>
            <span style={{ width: `${share}%` }} />
          </div>
          <dl className="escrow-facts">
            <div>
              <dt>Held</dt>
              <dd data-testid="escrow-held">{money(e.held_minor, e.currency)}</dd>
            </div>
            <div>
              <dt>Released</dt>
              <dd>{money(e.released_minor, e.currency)}</dd>
            </div>
            {e.refunded_minor > 0 && (
              <div>
                <dt>Refunded</dt>
                <dd>{money(e.refunded_minor, e.currency)}</dd>
              </div>
            )}
          </dl>
          {returned === "paid" && e.due_minor > 0 && <p className="note">Stripe is confirming your payment; this updates in a moment.</p>}
          {e.due_minor > 0 && !["COMPLETED", "CANCELLED"].includes(c.status) ? (
            <>
              <p className="muted">Creators are paid from escrow when you approve their work. {money(e.due_minor, e.currency)} of the budget is not in escrow yet.</p>
              {manager && (
                <button onClick={fund} disabled={busy} data-testid="fund-escrow">
                  {busy ? "Opening Stripe…" : `Pay ${money(e.due_minor, e.currency)} into escrow`}
                </button>
              )}
            </>
          ) : c.status === "CANCELLED" && e.held_minor > 0 ? (
            <>
              <p className="note">{money(e.held_minor, e.currency)} could not be refunded yet: the gateway refused it.</p>
              {manager && (
                <button className="ghost" onClick={refund} disabled={busy} data-testid="refund-escrow">
                  Try the refund again
                </button>
              )}
            </>
          ) : (
            e.due_minor === 0 && <p className="muted">The whole budget is in escrow. Unreleased funds are refunded if you cancel.</p>
          )}
        </>
      )}
      {!e && !escrow.error && <Loading what="the escrow" />}
      <Problem error={error} />
    </section>
  );
}

/** A campaign's deliverables: the brand's review queue, or a creator's own. */
export function DeliverableList({ c, title = "Deliverables" }: { c: Campaign; title?: string }) {
  const list = useLoad(() => api<Schemas["DeliverableList"]>("GET", `/api/campaigns/${encodeURIComponent(c.id)}/deliverables`), [c.id]);
  const items = list.data?.deliverables ?? [];
  const waiting = items.filter((d) => d.status === "submitted").length;
  return (
    <section className="card deliverables" aria-labelledby="deliverables-title" data-testid="deliverables">
      <h2 id="deliverables-title">
        {title} {waiting > 0 && <span className="count">{waiting} to review</span>}
      </h2>
      <Problem error={list.error} onRetry={list.reload} />
      {list.data && items.length === 0 && <Empty>Nothing handed in yet.</Empty>}
      <ul className="deliverable-list">
        {items.map((d) => (
          <li key={d.id}>
            <Link href={`/deliverables/${encodeURIComponent(d.id)}`} className="deliverable-row" data-testid="deliverable-row">
              <span className="deliverable-row-title">{d.title}</span>
              <span className="muted">
                {d.creator_name} · v{d.version}
              </span>
              <DeliverableBadge status={d.status} />
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A hired creator hands in a deliverable: one of their videos, or text and a link. */
export function HandIn({ application, c, onDone }: { application: string; c: Campaign; onDone: () => void }) {
  const [kind, setKind] = useState(c.deliverable.toUpperCase());
  const [title, setTitle] = useState("");
  const [video, setVideo] = useState("");
  const [body, setBody] = useState("");
  const [link, setLink] = useState("");
  const [note, setNote] = useState("");
  const [disclosure, setDisclosure] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const one = await api<DeliverableOne>("POST", `/api/applications/${encodeURIComponent(application)}/deliverables`, {
        type: kind,
        title,
        video: video || null,
        body,
        link: link || null,
        note,
        disclosure: disclosure || null,
      });
      onDone();
      history.pushState(null, "", `/deliverables/${encodeURIComponent(one.deliverable.id)}`);
      dispatchEvent(new PopStateEvent("popstate"));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card hand-in" aria-labelledby="hand-in-title" data-testid="hand-in">
      <h2 id="hand-in-title">Hand in your work</h2>
      <form onSubmit={send} aria-label="Hand in a deliverable">
        <div className="two">
          <label>
            Type
            <select name="type" value={kind} onChange={(e) => setKind(e.target.value)}>
              {KINDS.map(([k, w]) => (
                <option key={k} value={k}>
                  {w}
                </option>
              ))}
            </select>
          </label>
          <label>
            Title
            <input name="title" required maxLength={140} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What it is" />
          </label>
        </div>
        <VideoChoice value={video} onChange={setVideo} required={VIDEO_KINDS.includes(kind)} />
        {!VIDEO_KINDS.includes(kind) && (
          <>
            <label>
              Text
              <textarea name="body" rows={4} maxLength={20000} value={body} onChange={(e) => setBody(e.target.value)} />
            </label>
            <label>
              Link (where it is published)
              <input name="link" type="url" value={link} onChange={(e) => setLink(e.target.value)} placeholder="https://" />
            </label>
          </>
        )}
        <Disclosure value={disclosure} onChange={setDisclosure} kind={kind} />
        <label>
          Note to the brand
          <textarea name="note" rows={2} maxLength={4000} value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>{busy ? "Handing in…" : "Hand in for review"}</button>
      </form>
      <Problem error={error} />
    </section>
  );
}

function Disclosure({ value, onChange, kind }: { value: string; onChange: (v: string) => void; kind: string }) {
  return (
    <label>
      Disclosure {kind === "IMAGE" ? "(optional)" : ""}
      <input name="disclosure" maxLength={280} value={value} onChange={(e) => onChange(e.target.value)} placeholder="#ad · Paid partnership with the brand" />
      <small className="hint">The FTC asks you to say plainly that you were paid. {kind === "IMAGE" ? "" : "The brand cannot approve this without it."}</small>
    </label>
  );
}

/** One of the caller's ready videos. */
function VideoChoice({ value, onChange, required }: { value: string; onChange: (v: string) => void; required: boolean }) {
  const videos = useLoad(() => api<Schemas["VideoList"]>("GET", "/api/videos?page=1&limit=50"));
  const ready = (videos.data?.videos ?? []).filter((v: Video) => v.status === "ready");
  return (
    <label>
      Video {required ? "" : "(optional)"}
      <select name="video" required={required} value={value} onChange={(e) => onChange(e.target.value)} data-testid="video-choice">
        <option value="">{ready.length ? "Choose one of your videos" : "No ready videos: upload one first"}</option>
        {ready.map((v: Video) => (
          <option key={v.id} value={v.id}>
            {v.title}
          </option>
        ))}
      </select>
      <small className="hint">
        <Link href="/dashboard/videos">Upload a video</Link> — it can stay private; the brand sees it here.
      </small>
    </label>
  );
}

/** `/deliverables/<id>`: a deliverable's versions and history; the brand reviews, the creator revises. */
export function DeliverablePage({ id }: { id: string }) {
  const one = useLoad(() => api<DeliverableOne>("GET", `/api/deliverables/${encodeURIComponent(id)}`), [id]);
  const [shown, setShown] = useState<number | null>(null);
  useEffect(() => {
    if (one.data) document.title = `${one.data.deliverable.title} · ferrocast`;
  }, [one.data]);
  if (one.error) return <Problem error={one.error} onRetry={one.reload} />;
  if (!one.data) return <Loading what="the deliverable" />;
  const d = one.data.deliverable;
  const brand = one.data.side === "brand";
  const version = one.data.versions.find((v) => v.version === (shown ?? d.version)) ?? one.data.versions[one.data.versions.length - 1];
  const lastAsk = [...one.data.history].reverse().find((e) => e.action === "revision_requested" || e.action === "rejected");
  return (
    <div className="deliverable-page" data-testid="deliverable-page">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link href={`/campaigns/${encodeURIComponent(d.campaign)}`}>{d.campaign_title}</Link>
      </nav>
      <header className="deliverable-head">
        <div>
          <p className="campaign-brand">{d.creator_name}</p>
          <h1>{d.title}</h1>
          <p className="campaign-tags">
            <DeliverableBadge status={d.status} />
            <span className="pill">{KINDS.find(([k]) => k === d.kind.toUpperCase())?.[1] ?? d.kind}</span>
            <span className="pill">Version {d.version}</span>
          </p>
        </div>
      </header>
      {d.status === "revision_requested" && lastAsk && (
        <p className="note revision-note" data-testid="revision-note">
          <strong>{lastAsk.actor ?? "The brand"} asked for changes:</strong> {lastAsk.comment}
        </p>
      )}
      <div className="campaign-body">
        <section className="card deliverable-view" aria-label={`Version ${version?.version}`}>
          {one.data.versions.length > 1 && (
            <div className="version-tabs" role="tablist" aria-label="Versions">
              {one.data.versions.map((v) => (
                <button
                  key={v.version}
                  role="tab"
                  aria-selected={v.version === version?.version}
                  className={v.version === version?.version ? "small" : "ghost small"}
                  onClick={() => setShown(v.version)}
                >
                  v{v.version}
                  {v.version === d.version ? " · current" : ""}
                </button>
              ))}
            </div>
          )}
          {version?.video?.playback?.hls ? (
            <VodPlayer key={`${version.version}-${version.video.id}`} src={version.video.playback.hls} poster={version.video.playback.thumbnail} strip={version.video.playback.strip} title={version.video.title} duration={version.video.duration_seconds} />
          ) : version?.video ? (
            <p className="muted">The video “{version.video.title}” is {version.video.status}.</p>
          ) : null}
          {version?.body && <p className="campaign-brief">{version.body}</p>}
          {version?.link && (
            <p>
              <a href={version.link} target="_blank" rel="noreferrer noopener">
                {version.link}
              </a>
            </p>
          )}
          {version?.note && (
            <p className="muted">
              <strong>Note:</strong> {version.note}
            </p>
          )}
          {d.disclosure && (
            <p className="disclosure" data-testid="disclosure">
              {d.disclosure}
            </p>
          )}
          {!brand && version && version.version !== d.version && ["submitted", "revision_requested"].includes(d.status) && (
            <RollBack id={d.id} current={d.version} to={version.version} onDone={() => { setShown(null); one.reload(); }} />
          )}
        </section>
        <aside className="campaign-side">
          {brand && d.status === "submitted" && <Review d={d} onDone={one.reload} />}
          {!brand && ["submitted", "revision_requested"].includes(d.status) && <Revise d={d} onDone={() => { setShown(null); one.reload(); }} />}
          {(brand || d.rights) && <Rights d={d} brand={brand} onDone={one.reload} />}
          {brand && d.status === "approved" && <Hotspots one={one.data} onDone={one.reload} />}
          <section className="card" aria-labelledby="history-title">
            <h2 id="history-title">History</h2>
            <ol className="deliverable-history" data-testid="history">
              {one.data.history.map((e, i) => (
                <li key={i}>
                  <span>
                    <strong>{e.actor ?? "Someone"}</strong> {ACTIONS[e.action] ?? e.action}
                    {e.action.startsWith("rights") ? "" : ` ${e.version}`}
                  </span>
                  {e.comment && !e.action.startsWith("rights") && <q>{e.comment}</q>}
                  <time className="muted">{dateTime(e.at)}</time>
                </li>
              ))}
            </ol>
          </section>
        </aside>
      </div>
    </div>
  );
}

function RollBack({ id, current, to, onDone }: { id: string; current: number; to: number; onDone: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const go = async () => {
    setError(null);
    try {
      await api("POST", `/api/deliverables/${encodeURIComponent(id)}/rollback`, { version: current, to });
      onDone();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div className="actions">
      <button className="ghost" onClick={go}>Make version {to} current again</button>
      <Problem error={error} />
    </div>
  );
}

/** The brand's decision on the version under review. */
function Review({ d, onDone }: { d: Deliverable; onDone: () => void }) {
  const [comment, setComment] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const decide = async (decision: string) => {
    setError(null);
    setBusy(true);
    try {
      await api("POST", `/api/deliverables/${encodeURIComponent(d.id)}/review`, { version: d.version, decision, comment });
      setComment("");
      onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card review" aria-labelledby="review-title" data-testid="review">
      <h2 id="review-title">Your review of version {d.version}</h2>
      <label>
        Comment
        <textarea name="comment" rows={3} maxLength={4000} value={comment} onChange={(e) => setComment(e.target.value)} placeholder="What to change, or what you liked" />
      </label>
      <div className="actions">
        <button onClick={() => decide("approve")} disabled={busy} data-testid="approve">Approve and pay</button>
        <button className="ghost" onClick={() => decide("revise")} disabled={busy} data-testid="request-revision">Request changes</button>
        <button className="ghost danger-outline" onClick={() => decide("reject")} disabled={busy}>Reject</button>
      </div>
      <p className="muted small-print">Approving pays the creator’s rate from escrow, less the platform fee.</p>
      <Problem error={error} />
    </section>
  );
}

/** The creator hands in a new version. */
function Revise({ d, onDone }: { d: Deliverable; onDone: () => void }) {
  const [video, setVideo] = useState("");
  const [body, setBody] = useState("");
  const [note, setNote] = useState("");
  const [disclosure, setDisclosure] = useState(d.disclosure ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const video_kind = VIDEO_KINDS.includes(d.kind.toUpperCase());
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await api("POST", `/api/deliverables/${encodeURIComponent(d.id)}/versions`, { version: d.version, video: video || null, body, note, disclosure: disclosure || null });
      setNote("");
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="revise-title" data-testid="revise">
      <h2 id="revise-title">{d.status === "revision_requested" ? "Hand in a revision" : "Hand in a new version"}</h2>
      <form onSubmit={send} aria-label="Hand in a new version">
        <VideoChoice value={video} onChange={setVideo} required={video_kind} />
        {!video_kind && (
          <label>
            Text
            <textarea name="body" rows={4} value={body} onChange={(e) => setBody(e.target.value)} />
          </label>
        )}
        <Disclosure value={disclosure} onChange={setDisclosure} kind={d.kind.toUpperCase()} />
        <label>
          What changed
          <textarea name="note" rows={2} value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>Hand in version {d.version + 1}</button>
      </form>
      <Problem error={error} />
    </section>
  );
}

function inDays(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Usage rights: the brand proposes, the creator consents; the embed plays while they hold. */
function Rights({ d, brand, onDone }: { d: Deliverable; brand: boolean; onDone: () => void }) {
  const [kind, setKind] = useState(d.rights?.kind ?? "non_exclusive");
  const [until, setUntil] = useState(inDays(365));
  const [territories, setTerritories] = useState("US");
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState(false);
  const r = d.rights;
  const propose = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api("PUT", `/api/deliverables/${encodeURIComponent(d.id)}/rights`, {
        kind,
        until: kind === "perpetual" || !until ? null : new Date(until).toISOString(),
        territories: kind === "limited" ? territories.split(/[\s,]+/).filter(Boolean) : [],
      });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const consent = async () => {
    setError(null);
    try {
      await api("POST", `/api/deliverables/${encodeURIComponent(d.id)}/rights/consent`);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card rights" aria-labelledby="rights-title" data-testid="rights">
      <h2 id="rights-title">Usage rights</h2>
      {r ? (
        <div className="rights-now">
          <p>
            <strong>{RIGHTS[r.kind] ?? r.kind}</strong>
            {r.until ? ` until ${dateTime(r.until)}` : r.kind === "perpetual" ? ", for ever" : ", no end date"}
            {r.territories.length > 0 && ` in ${r.territories.join(", ")}`}
          </p>
          <p>
            {r.consented_at ? (
              <span className={`badge ${r.in_force ? "good" : "bad"}`} data-testid="rights-state">
                {r.in_force ? "In force" : "Expired"}
              </span>
            ) : (
              <span className="badge warn" data-testid="rights-state">Waiting for the creator’s consent</span>
            )}
          </p>
          {!brand && !r.consented_at && (
            <button onClick={consent} data-testid="consent">I consent to these rights</button>
          )}
          {brand && d.status === "approved" && (
            <p className="embed-link">
              <input readOnly value={d.embed_url + (r.territories.length ? `?country=${r.territories[0]}` : "")} aria-label="Embed page" onFocus={(e) => e.currentTarget.select()} />
              <button
                className="ghost small"
                onClick={async () => {
                  await navigator.clipboard?.writeText(d.embed_url).catch(() => undefined);
                  setCopied(true);
                }}
              >
                {copied ? "Copied" : "Copy"}
              </button>
            </p>
          )}
        </div>
      ) : (
        <p className="muted">No rights proposed yet. The brand’s embed plays only once the creator consents.</p>
      )}
      {brand && (
        <form onSubmit={propose} className="rights-form" aria-label="Propose usage rights">
          <label>
            Licence
            <select value={kind} onChange={(e) => setKind(e.target.value)} name="rights-kind">
              {Object.entries(RIGHTS).map(([k, w]) => (
                <option key={k} value={k}>
                  {w}
                </option>
              ))}
            </select>
          </label>
          {kind !== "perpetual" && (
            <label>
              Until {kind === "limited" ? "" : "(optional)"}
              <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} required={kind === "limited"} name="rights-until" />
            </label>
          )}
          {kind === "limited" && (
            <label>
              Territories
              <input value={territories} onChange={(e) => setTerritories(e.target.value)} placeholder="US, CA" name="rights-territories" />
            </label>
          )}
          <button type="submit" className="ghost">{r ? "Propose new rights" : "Propose rights"}</button>
        </form>
      )}
      <Problem error={error} />
    </section>
  );
}

/** Product hotspots on an approved video. */
function Hotspots({ one, onDone }: { one: DeliverableOne; onDone: () => void }) {
  const d = one.deliverable;
  const [form, setForm] = useState({ product: "", link: "", start: "0", end: "5", x: "50", y: "50" });
  const [error, setError] = useState<unknown>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/api/deliverables/${encodeURIComponent(d.id)}/hotspots`, {
        product: form.product,
        link: form.link,
        start_seconds: Number(form.start),
        end_seconds: Number(form.end),
        x: Number(form.x),
        y: Number(form.y),
      });
      setForm({ ...form, product: "", link: "" });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (h: number) => {
    try {
      await api("DELETE", `/api/deliverables/${encodeURIComponent(d.id)}/hotspots/${h}`);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" aria-labelledby="hotspots-title" data-testid="hotspots">
      <h2 id="hotspots-title">Shoppable hotspots</h2>
      {one.hotspots.length === 0 && <p className="muted">Tag products in the video: viewers of your embed can click through to buy.</p>}
      <ul className="team-list">
        {one.hotspots.map((h) => (
          <li key={h.id}>
            <span>
              <strong>{h.product}</strong> · {h.start_seconds}–{h.end_seconds} s
            </span>
            <button className="link small danger" onClick={() => remove(h.id)}>Remove</button>
          </li>
        ))}
      </ul>
      <form onSubmit={add} className="hotspot-form" aria-label="Add a hotspot">
        <input required placeholder="Product" value={form.product} onChange={set("product")} aria-label="Product" />
        <input required type="url" placeholder="https://shop…" value={form.link} onChange={set("link")} aria-label="Product link" />
        <div className="four">
          <label>From (s)<input inputMode="decimal" value={form.start} onChange={set("start")} /></label>
          <label>To (s)<input inputMode="decimal" value={form.end} onChange={set("end")} /></label>
          <label>Across %<input inputMode="decimal" value={form.x} onChange={set("x")} /></label>
          <label>Down %<input inputMode="decimal" value={form.y} onChange={set("y")} /></label>
        </div>
        <button type="submit" className="ghost">Add hotspot</button>
      </form>
      <Problem error={error} />
    </section>
  );
}

const MODELS: [string, string][] = [
  ["last_touch", "Last touch"],
  ["first_touch", "First touch"],
  ["linear", "Linear"],
  ["time_decay", "Time decay"],
];

/** The brand's attribution report, with CSV export and how to report sales. */
export function ReportCard({ c, manager }: { c: Campaign; manager: boolean }) {
  const [model, setModel] = useState("last_touch");
  const report = useLoad(() => api<Schemas["AttributionReport"]>("GET", `/api/campaigns/${encodeURIComponent(c.id)}/report?model=${model}`), [c.id, model]);
  const [setup, setSetup] = useState<Schemas["ConversionSetup"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const download = async () => {
    setError(null);
    try {
      const r = await fetch(`/api/campaigns/${encodeURIComponent(c.id)}/report?model=${model}&format=csv`, {
        headers: { authorization: `Bearer ${session()?.access_token ?? ""}` },
      });
      if (!r.ok) throw new Error(`The report could not be downloaded (${r.status}).`);
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `campaign-${c.id}-${model}.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      setError(e);
    }
  };
  const reveal = async () => {
    try {
      setSetup(await api<Schemas["ConversionSetup"]>("GET", `/api/campaigns/${encodeURIComponent(c.id)}/conversion-secret`));
    } catch (e) {
      setError(e);
    }
  };
  const r = report.data;
  const max = useMemo(() => Math.max(1, ...(r?.creators ?? []).map((l) => Math.abs(l.credited_minor))), [r]);
  return (
    <section className="card report" aria-labelledby="report-title" data-testid="report">
      <header className="report-head">
        <h2 id="report-title">Sales attributed</h2>
        <select value={model} onChange={(e) => setModel(e.target.value)} aria-label="Attribution model">
          {MODELS.map(([k, w]) => (
            <option key={k} value={k}>
              {w}
            </option>
          ))}
        </select>
      </header>
      <Problem error={report.error} onRetry={report.reload} />
      {r && (
        <>
          <p className="muted">
            {r.conversions} sales worth {money(r.value_minor, r.currency)} · {r.views} views · {r.clicks} hotspot clicks
          </p>
          {r.creators.length === 0 ? (
            <Empty>No sale has followed a view or click yet.</Empty>
          ) : (
            <ul className="credit-bars" data-testid="credits">
              {r.creators.map((l) => (
                <li key={l.key}>
                  <span className="credit-name">@{l.creator}</span>
                  <span className="credit-bar">
                    <span style={{ width: `${(Math.abs(l.credited_minor) / max) * 100}%` }} />
                  </span>
                  <strong>{money(l.credited_minor, r.currency)}</strong>
                </li>
              ))}
            </ul>
          )}
          <div className="actions">
            <button className="ghost small" onClick={download}>Download CSV</button>
            {manager && !setup && (
              <button className="ghost small" onClick={reveal}>How to report sales</button>
            )}
          </div>
          <label className="gallery-link">
            Shoppable gallery for your site
            <input readOnly value={`${location.origin}/embed/campaigns/${c.id}/gallery`} onFocus={(e) => e.currentTarget.select()} />
          </label>
          {setup && (
            <div className="conversion-setup">
              <p>
                Post each sale as JSON to <code>{setup.webhook_url}</code>, signed with HMAC-SHA256 of the body under this secret in <code>X-Ferrocast-Signature: sha256=…</code>; or load the pixel <code>{setup.pixel_url}</code>.
              </p>
              <input readOnly value={setup.secret} aria-label="Conversion secret" onFocus={(e) => e.currentTarget.select()} />
            </div>
          )}
        </>
      )}
      <Problem error={error} />
    </section>
  );
}

/** A stable id for this browser, for the brand's attribution (no personal data). */
function visitorId(): string {
  const key = "ferrocast.visitor";
  let v = localStorage.getItem(key);
  if (!v) {
    v = crypto.randomUUID();
    localStorage.setItem(key, v);
  }
  return v;
}

/** `/embed/deliverables/<id>`: the brand's embed of an approved deliverable, with its hotspots. */
export function DeliverableEmbed({ id }: { id: string }) {
  const params = new URLSearchParams(location.search);
  const visitor = params.get("visitor") ?? visitorId();
  const country = params.get("country");
  const q = new URLSearchParams({ visitor, ...(country ? { country } : {}) });
  const one = useLoad(() => api<Schemas["DeliverableEmbedView"]>("GET", `/api/embed/deliverables/${encodeURIComponent(id)}?${q}`), [id]);
  if (one.error) {
    const details = (one.error as { details?: string }).details;
    return (
      <div className="embed-refused" role="alert" data-testid="embed-refused">
        <h1>This content can’t be shown here</h1>
        <p>{details || "It is not licensed for this use."}</p>
      </div>
    );
  }
  if (!one.data) return <Loading what="the video" />;
  const d = one.data;
  const hls = d.video?.playback?.hls;
  return (
    <div className="deliverable-embed" data-testid="deliverable-embed">
      {hls ? (
        <VodPlayer
          src={hls}
          poster={d.video?.playback?.thumbnail}
          title={d.title}
          duration={d.video?.duration_seconds}
          overlay={(t) =>
            d.hotspots
              .filter((h) => t >= h.start_seconds && t < h.end_seconds)
              .map((h) => (
              <a key={h.id} className="hotspot" href={h.link} target="_blank" rel="noopener" style={{ left: `${h.x}%`, top: `${h.y}%` }} data-testid="hotspot">
                <span className="hotspot-dot" aria-hidden="true" />
                <span className="hotspot-label">{h.product}</span>
              </a>
              ))
          }
        />
      ) : (
        <p className="campaign-brief">{d.body}</p>
      )}
      <p className="embed-caption">
        <strong>{d.title}</strong> · {d.creator_name}
        {d.disclosure && <span className="disclosure"> · {d.disclosure}</span>}
      </p>
    </div>
  );
}

/** `/embed/campaigns/<id>/gallery`: a campaign's shoppable gallery for the brand's site — its
 * approved videos the brand may show here; one plays with its product hotspots. */
export function CampaignGallery({ id }: { id: string }) {
  const params = new URLSearchParams(location.search);
  const visitor = params.get("visitor") ?? visitorId();
  const country = params.get("country");
  const q = new URLSearchParams({ visitor, ...(country ? { country } : {}) });
  const gallery = useLoad(() => api<Schemas["CampaignGalleryView"]>("GET", `/api/embed/campaigns/${encodeURIComponent(id)}/gallery?${q}`), [id]);
  const [open, setOpen] = useState<string | null>(null);
  if (gallery.error) return <Problem error={gallery.error} onRetry={gallery.reload} />;
  if (!gallery.data) return <Loading what="the gallery" />;
  const items = gallery.data.items;
  return (
    <div className="campaign-gallery" data-testid="campaign-gallery">
      {open && <DeliverableEmbed key={open} id={open} />}
      {items.length === 0 && <Empty>Nothing to show here yet.</Empty>}
      <ul className="gallery-grid">
        {items.map((d) => (
          <li key={d.id}>
            <button className={`gallery-card${open === d.id ? " open" : ""}`} onClick={() => setOpen(d.id)} data-testid="gallery-item" aria-pressed={open === d.id}>
              {d.video?.playback?.thumbnail ? <img src={d.video.playback.thumbnail} alt="" loading="lazy" /> : <span className="gallery-blank" aria-hidden="true" />}
              <span className="gallery-title">{d.title}</span>
              <span className="muted">{d.creator_name}</span>
              {d.hotspots.length > 0 && (
                <span className="gallery-products">
                  {d.hotspots.length} product{d.hotspots.length === 1 ? "" : "s"} to shop
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
