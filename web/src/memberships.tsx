// Memberships in the web app: the creator's tiers editor and members list (Studio → Members),
// the access picker of a video or a stream (public, members of a tier, pay-per-view), the Join
// button with its tier picker and the Buy button (both open the gateway's checkout through
// POST /api/purchases), and the locked player a viewer sees when a video or stream is not
// theirs to watch yet, saying what unlocks it.
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, session, type Schemas } from "./api";
import { Link } from "./router";
import { Empty, Loading, Problem, useLoad } from "./ui";
import "./memberships.css";

export type Tier = Schemas["TierView"];
export type ContentAccess = Schemas["ContentAccess"];

/** 1500, "USD" → "$15.00" (the reader's locale). */
export function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

const GATEWAYS: { id: string; name: string }[] = [
  { id: "stripe", name: "Card (Stripe)" },
  { id: "razorpay", name: "Razorpay" },
  { id: "epayco", name: "ePayco" },
];

/** Opens a gateway's checkout for a purchase (the gateways' contract: `{purchase_id, url}`). */
async function checkout(body: Record<string, unknown>): Promise<void> {
  const r = await api<{ purchase_id: string; url: string }>("POST", "/api/purchases", body);
  location.href = r.url;
}

function LockIcon() {
  return (
    <svg viewBox="0 0 24 24" width="28" height="28" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <rect x="4.5" y="10.5" width="15" height="10" rx="2.5" />
      <path d="M8 10.5V7.5a4 4 0 0 1 8 0v3" />
      <circle cx="12" cy="15.5" r="1.3" fill="currentColor" stroke="none" />
    </svg>
  );
}

function GatewayPicker({ value, onChange }: { value: string; onChange: (g: string) => void }) {
  return (
    <label className="gateway-pick">
      Pay with
      <select name="gateway" value={value} onChange={(e) => onChange(e.target.value)}>
        {GATEWAYS.map((g) => (
          <option key={g.id} value={g.id}>{g.name}</option>
        ))}
      </select>
    </label>
  );
}

function Modal({ title, onClose, children, testId }: { title: string; onClose: () => void; children: ReactNode; testId: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog ref={ref} className="vod-dialog member-dialog" aria-label={title} data-testid={testId} onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <header className="vod-dialog-head">
        <h2>{title}</h2>
        <button className="ghost small" onClick={onClose} aria-label="Close">✕</button>
      </header>
      {children}
    </dialog>
  );
}

/** The tier cards of a channel to pick one from; `atLeast`: the lowest rank that unlocks. */
function TierPicker({ tiers, picked, onPick, atLeast }: { tiers: Tier[]; picked: number | null; onPick: (id: number) => void; atLeast?: number }) {
  return (
    <ul className="tier-cards" role="radiogroup" aria-label="Tiers">
      {tiers.map((t) => {
        const short = atLeast != null && t.rank < atLeast;
        return (
          <li key={t.id}>
            <button
              type="button"
              role="radio"
              aria-checked={picked === t.id}
              className={`tier-card ${picked === t.id ? "on" : ""} ${short ? "short" : ""}`}
              onClick={() => onPick(t.id)}
              data-testid="tier-option"
            >
              <span className="tier-name">{t.name}</span>
              <span className="tier-price">
                {money(t.price_minor, t.currency)}
                <span className="muted fine"> / month</span>
              </span>
              {t.perks.length > 0 && (
                <ul className="tier-perks">
                  {t.perks.map((p) => (
                    <li key={p}>{p}</li>
                  ))}
                </ul>
              )}
              {short && <span className="muted fine">Does not include this content</span>}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** The Join button of a channel: the tier picker, then the gateway's checkout. A member sees
 * their tier instead. */
export function JoinButton({ handle, atLeast, compact = false }: { handle: string; atLeast?: number; compact?: boolean }) {
  const tiers = useLoad(() => api<Schemas["ChannelTiers"]>("GET", `/api/channels/${encodeURIComponent(handle)}/tiers`), [handle]);
  const [open, setOpen] = useState(false);
  const [picked, setPicked] = useState<number | null>(null);
  const [gateway, setGateway] = useState("stripe");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const list = tiers.data?.tiers ?? [];
  const member = tiers.data?.membership;
  if (!tiers.data || (list.length === 0 && !member)) return null;
  if (member && member.status !== "ended" && (atLeast == null || (member.tier?.rank ?? 0) >= atLeast)) {
    return (
      <span className="badge member-badge" data-testid="member-of">
        Member{member.tier ? ` · ${member.tier.name}` : ""}
      </span>
    );
  }
  async function join(e: FormEvent) {
    e.preventDefault();
    if (picked == null) return;
    if (!session()) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await checkout({ kind: "membership", channel: handle, tier_id: picked, gateway });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  const first = list.find((t) => atLeast == null || t.rank >= atLeast) ?? list[0];
  return (
    <>
      <button className={compact ? "small" : ""} onClick={() => { setPicked(first?.id ?? null); setOpen(true); }} data-testid="join-button">
        Join
      </button>
      {open && (
        <Modal title={`Join ${handle}`} onClose={() => setOpen(false)} testId="join-dialog">
          <form onSubmit={join}>
            <p className="muted">Members support the channel every month and get the perks of their tier. Cancel at any time; it runs to the end of the month paid for.</p>
            <TierPicker tiers={list} picked={picked} onPick={setPicked} atLeast={atLeast} />
            <GatewayPicker value={gateway} onChange={setGateway} />
            <Problem error={error} />
            <div className="actions vod-dialog-actions">
              <button type="button" className="ghost" onClick={() => setOpen(false)}>Not now</button>
              <button type="submit" disabled={busy || picked == null} data-testid="join-checkout">
                {busy ? "Opening checkout…" : `Join for ${(() => { const t = list.find((x) => x.id === picked); return t ? money(t.price_minor, t.currency) : ""; })()} a month`}
              </button>
            </div>
          </form>
        </Modal>
      )}
    </>
  );
}

/** The Buy button of a pay-per-view video or stream. */
export function BuyButton({ handle, target, price, currency }: { handle: string; target: { video: string } | { source_id: number }; price: number; currency: string }) {
  const [open, setOpen] = useState(false);
  const [gateway, setGateway] = useState("stripe");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function buy(e: FormEvent) {
    e.preventDefault();
    if (!session()) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await checkout({ kind: "ppv", channel: handle, ...target, gateway });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return (
    <>
      <button onClick={() => setOpen(true)} data-testid="buy-button">Buy for {money(price, currency)}</button>
      {open && (
        <Modal title="Buy access" onClose={() => setOpen(false)} testId="buy-dialog">
          <form onSubmit={buy}>
            <p>One payment of <strong>{money(price, currency)}</strong>; watch it as often as you like.</p>
            <GatewayPicker value={gateway} onChange={setGateway} />
            <Problem error={error} />
            <div className="actions vod-dialog-actions">
              <button type="button" className="ghost" onClick={() => setOpen(false)}>Not now</button>
              <button type="submit" disabled={busy}>{busy ? "Opening checkout…" : "Go to checkout"}</button>
            </div>
          </form>
        </Modal>
      )}
    </>
  );
}

/** The player's place when the content is not the viewer's to watch yet: a lock, what it is,
 * what unlocks it, and the button that does. */
export function LockedPlayer({ access, handle, target, poster }: { access: ContentAccess; handle?: string | null; target: { video: string } | { source_id: number } | null; poster?: string | null }) {
  const ppv = access.level === "ppv";
  return (
    <div className="locked-player" role="region" aria-label="Locked" data-testid="locked-player" style={poster ? { backgroundImage: `url(${poster})` } : undefined}>
      <div className="locked-veil">
        <span className="locked-icon"><LockIcon /></span>
        <p className="locked-kind">{ppv ? "Pay-per-view" : access.tier ? `${access.tier.name} members and above` : "Members only"}</p>
        <p className="locked-words" data-testid="locked-unlock">{access.unlock ?? (ppv ? "Buy it to watch." : "Join the channel to watch.")}</p>
        <div className="locked-actions">
          {!session() ? (
            <Link href={`/login?next=${encodeURIComponent(location.pathname)}`} className="button">Sign in</Link>
          ) : ppv && target && handle && access.price_minor != null && access.currency ? (
            <BuyButton handle={handle} target={target} price={access.price_minor} currency={access.currency} />
          ) : handle ? (
            <JoinButton handle={handle} atLeast={access.tier?.rank} />
          ) : null}
        </div>
      </div>
    </div>
  );
}

/** Who may watch a video or a stream, for its owner: public, members (of at least a tier) or
 * pay-per-view at a price. */
export function AccessEditor({ path, testId }: { path: string; testId: string }) {
  const current = useLoad(() => (path.startsWith("/api/sources/") ? api<ContentAccess>("GET", path) : Promise.resolve(null)), [path]);
  const tiers = useLoad(() => api<Schemas["MyTiers"]>("GET", "/api/me/tiers"), []);
  return <AccessForm path={path} testId={testId} initial={current.data ?? null} tiers={tiers.data?.tiers.filter((t) => t.active) ?? []} loading={path.startsWith("/api/sources/") && !current.data && !current.error} />;
}

/** The access form with a known starting point (a video's answer carries its access). */
export function AccessForm({ path, testId, initial, tiers, loading = false }: { path: string; testId: string; initial: ContentAccess | null; tiers: Tier[]; loading?: boolean }) {
  const [level, setLevel] = useState(initial?.level ?? "public");
  const [tier, setTier] = useState<string>(initial?.tier ? String(initial.tier.id) : "");
  const [price, setPrice] = useState(initial?.price_minor != null ? (initial.price_minor / 100).toFixed(2) : "5.00");
  const [currency, setCurrency] = useState(initial?.currency ?? "USD");
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!initial) return;
    setLevel(initial.level);
    setTier(initial.tier ? String(initial.tier.id) : "");
    if (initial.price_minor != null) setPrice((initial.price_minor / 100).toFixed(2));
    if (initial.currency) setCurrency(initial.currency);
  }, [initial]);
  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const body: Schemas["AccessBody"] = { level };
      if (level === "members" && tier) body.tier_id = Number(tier);
      if (level === "ppv") {
        const minor = Math.round(Number(price.replace(",", ".")) * 100);
        if (!Number.isFinite(minor)) throw new ApiError(422, "The price is not a number", "Write it like 4.99.");
        body.price_minor = minor;
        body.currency = currency;
      }
      await api<ContentAccess>("PUT", path, body);
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="access-form" onSubmit={save} aria-label="Who can watch" data-testid={testId} onChange={() => setSaved(false)}>
      <fieldset disabled={loading}>
        <legend>Who can watch</legend>
        <div className="access-levels" role="radiogroup">
          {[
            { id: "public", name: "Everyone", hint: "Anyone who can see it" },
            { id: "members", name: "Members", hint: "Your channel's members" },
            { id: "ppv", name: "Pay-per-view", hint: "A one-time purchase" },
          ].map((l) => (
            <label key={l.id} className={`access-level ${level === l.id ? "on" : ""}`}>
              <input type="radio" name="access_level" value={l.id} checked={level === l.id} onChange={() => setLevel(l.id)} />
              <span className="access-level-name">{l.name}</span>
              <span className="muted fine">{l.hint}</span>
            </label>
          ))}
        </div>
        {level === "members" && (
          tiers.length === 0 ? (
            <p className="muted fine">You have no tiers yet: <Link href="/dashboard/members">set them up</Link> so viewers can join.</p>
          ) : (
            <label>
              Lowest tier
              <select name="access_tier" value={tier} onChange={(e) => setTier(e.target.value)}>
                <option value="">Any member</option>
                {tiers.map((t) => (
                  <option key={t.id} value={t.id}>{t.name} ({money(t.price_minor, t.currency)} / month) and above</option>
                ))}
              </select>
            </label>
          )
        )}
        {level === "ppv" && (
          <div className="access-price">
            <label>
              Price
              <input name="ppv_price" inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} required />
            </label>
            <label>
              Currency
              <input name="ppv_currency" maxLength={3} value={currency} onChange={(e) => setCurrency(e.target.value.toUpperCase())} required />
            </label>
          </div>
        )}
        <div className="stream-info-actions">
          <button type="submit" disabled={busy}>{busy ? "Saving…" : "Save access"}</button>
          {saved && <span className="muted" role="status" data-testid={`${testId}-saved`}>Saved.</span>}
        </div>
      </fieldset>
      <Problem error={error} />
    </form>
  );
}

type TierDraft = { name: string; price: string; currency: string; perks: string };
const draftOf = (t?: Tier | Schemas["TemplateTier"]): TierDraft => ({
  name: t?.name ?? "",
  price: t ? (t.price_minor / 100).toFixed(2) : "",
  currency: t?.currency ?? "USD",
  perks: t?.perks.join("\n") ?? "",
});
const bodyOf = (d: TierDraft, active = true): Schemas["TierBody"] => ({
  name: d.name.trim(),
  price_minor: Math.round(Number(d.price.replace(",", ".")) * 100),
  currency: d.currency.trim().toUpperCase() || "USD",
  perks: d.perks.split("\n").map((p) => p.trim()).filter(Boolean),
  active,
});

function TierForm({ initial, submit, label, onCancel }: { initial: TierDraft; submit: (d: TierDraft) => Promise<void>; label: string; onCancel?: () => void }) {
  const [d, setD] = useState(initial);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await submit(d);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="tier-form" onSubmit={save} aria-label={label}>
      <div className="tier-form-row">
        <label>
          Name
          <input name="tier_name" required maxLength={40} value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} placeholder="e.g. Supporter" />
        </label>
        <label>
          Monthly price
          <input name="tier_price" required inputMode="decimal" value={d.price} onChange={(e) => setD({ ...d, price: e.target.value })} placeholder="5.00" />
        </label>
        <label>
          Currency
          <input name="tier_currency" maxLength={3} value={d.currency} onChange={(e) => setD({ ...d, currency: e.target.value.toUpperCase() })} />
        </label>
      </div>
      <label>
        Perks <span className="muted">(one per line)</span>
        <textarea name="tier_perks" rows={3} value={d.perks} onChange={(e) => setD({ ...d, perks: e.target.value })} placeholder={"Member badge in chat\nMembers-only videos"} />
      </label>
      <Problem error={error} />
      <div className="actions">
        {onCancel && <button type="button" className="ghost" onClick={onCancel}>Cancel</button>}
        <button type="submit" disabled={busy}>{busy ? "Saving…" : label}</button>
      </div>
    </form>
  );
}

/** Studio → Members: the tiers editor (with MHC's default template) and the members list. */
export function MembersStudio() {
  const tiers = useLoad(() => api<Schemas["MyTiers"]>("GET", "/api/me/tiers"), []);
  const members = useLoad(() => api<Schemas["MyMembers"]>("GET", "/api/me/members"), []);
  const [editing, setEditing] = useState<number | "new" | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function act(f: () => Promise<unknown>) {
    setError(null);
    setBusy(true);
    try {
      await f();
      tiers.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const list = tiers.data?.tiers ?? [];
  return (
    <div className="members-studio">
      <section className="card" aria-labelledby="tiers-title">
        <header className="members-head">
          <div>
            <h2 id="tiers-title">Membership tiers</h2>
            <p className="muted">What viewers pay each month to support you, and what each tier gets. Higher tiers include the ones below.</p>
          </div>
          {list.length > 0 && list.length < 10 && editing !== "new" && (
            <button className="ghost" onClick={() => setEditing("new")} data-testid="add-tier">Add a tier</button>
          )}
        </header>
        <Problem error={tiers.error} onRetry={tiers.reload} />
        <Problem error={error} />
        {!tiers.data && !tiers.error && <Loading what="your tiers" />}
        {tiers.data && list.length === 0 && (
          <div className="tier-template" data-testid="tier-template">
            <p>Start from the classic four tiers, then change anything:</p>
            <ul className="tier-cards">
              {tiers.data.template.map((t) => (
                <li key={t.name}>
                  <div className="tier-card static">
                    <span className="tier-name">{t.name}</span>
                    <span className="tier-price">{money(t.price_minor, t.currency)}<span className="muted fine"> / month</span></span>
                    <ul className="tier-perks">{t.perks.map((p) => <li key={p}>{p}</li>)}</ul>
                  </div>
                </li>
              ))}
            </ul>
            <p className="actions">
              <button disabled={busy} onClick={() => act(() => api("POST", "/api/me/tiers/template"))} data-testid="use-template">Use these tiers</button>
              <button className="ghost" onClick={() => setEditing("new")}>Make my own</button>
            </p>
          </div>
        )}
        {list.length > 0 && (
          <ul className="tier-list">
            {list.map((t) => (
              <li key={t.id} className={`tier-row ${t.active ? "" : "retired"}`} data-testid="tier-row">
                {editing === t.id ? (
                  <TierForm
                    initial={draftOf(t)}
                    label="Save tier"
                    onCancel={() => setEditing(null)}
                    submit={async (d) => {
                      await api("PUT", `/api/me/tiers/${t.id}`, { ...bodyOf(d, t.active), rank: t.rank });
                      setEditing(null);
                      tiers.reload();
                    }}
                  />
                ) : (
                  <>
                    <div className="tier-row-main">
                      <span className="tier-rank" aria-label={`Rank ${t.rank}`}>{t.rank}</span>
                      <div>
                        <strong className="tier-name">{t.name}</strong> {!t.active && <span className="badge">Retired</span>}
                        <div className="tier-price">{money(t.price_minor, t.currency)}<span className="muted fine"> / month</span></div>
                        {t.perks.length > 0 && <p className="muted fine">{t.perks.join(" · ")}</p>}
                      </div>
                    </div>
                    <div className="tier-row-actions">
                      <button className="ghost small" onClick={() => setEditing(t.id)}>Edit</button>
                      {t.active && (
                        <button
                          className="ghost small danger"
                          disabled={busy}
                          onClick={() => {
                            if (confirm(`Remove the ${t.name} tier? If anyone holds it, it is retired instead: they keep it, nobody new can join.`)) act(() => api("DELETE", `/api/me/tiers/${t.id}`));
                          }}
                        >
                          Remove
                        </button>
                      )}
                    </div>
                  </>
                )}
              </li>
            ))}
          </ul>
        )}
        {editing === "new" && (
          <div className="tier-new">
            <h3>New tier</h3>
            <TierForm
              initial={draftOf()}
              label="Add tier"
              onCancel={() => setEditing(null)}
              submit={async (d) => {
                await api("POST", "/api/me/tiers", bodyOf(d));
                setEditing(null);
                tiers.reload();
              }}
            />
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="members-title">
        <h2 id="members-title">Members {members.data && <span className="muted">({members.data.total})</span>}</h2>
        <Problem error={members.error} onRetry={members.reload} />
        {members.data && members.data.members.length === 0 && (
          <Empty>
            <p>No members yet. Your channel page and your members-only videos show a Join button once you have tiers.</p>
          </Empty>
        )}
        {members.data && members.data.members.length > 0 && (
          <table className="members-table" data-testid="members-table">
            <thead>
              <tr><th>Member</th><th>Tier</th><th>Since</th><th>Paid until</th></tr>
            </thead>
            <tbody>
              {members.data.members.map((m, i) => (
                <tr key={i}>
                  <td>{m.handle ? <Link href={`/c/${m.handle}`}>{m.name}</Link> : m.name}</td>
                  <td>{m.tier ? `${m.tier.name} · ${money(m.tier.price_minor, m.tier.currency)}` : "—"}</td>
                  <td>{new Date(m.since).toLocaleDateString()}</td>
                  <td>
                    {new Date(m.period_end).toLocaleDateString()}
                    {m.status === "canceled" && <span className="badge warn"> Ends</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
