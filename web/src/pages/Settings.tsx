import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, saveSession, session, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Loading, PictureButton, Problem, useLoad } from "../ui";
import { CurrencyPicker } from "./Subscription";
import { oauthProblem, startTelegram, useProviders } from "../oauth";
import { QrCode } from "../qr";
import { Avatar } from "../profile";
import { YourData } from "../yourdata";

type Me = Schemas["UserView"];
const SCOPES = ["profile:read", "sources:read", "sources:write", "streams:read", "streams:write", "chat:write", "billing:write"];
/** What each scope lets a key do (the API's own wording of its access rules). */
const SCOPE_HELP: Record<string, string> = {
  "profile:read": "read your profile, plan, usage and payments",
  "sources:read": "list sources and destinations (stream keys shown masked)",
  "sources:write": "create, change and delete sources, destinations and chat connectors; see stream keys",
  "streams:read": "live state, usage and the event stream",
  "streams:write": "start and end streams",
  "chat:write": "send chat messages and moderate",
  "billing:write": "buy, cancel and resume plans",
  admin: "administration: site settings, users, every stream (administrators only)",
};

/** A form whose submit runs `action`, showing progress, the outcome and errors. */
function Form({
  label,
  action,
  children,
  submit,
  secondary = false,
}: {
  label: string;
  action: () => Promise<string | void>;
  children: ReactNode;
  submit: string;
  /** A lesser action beside the main one: drawn as an outlined button. */
  secondary?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  async function run(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone("");
    try {
      setDone((await action()) ?? "");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={run} aria-label={label}>
      {children}
      <Problem error={error} />
      {done && <p role="status" className="ok">{done}</p>}
      <button type="submit" className={secondary ? "ghost" : undefined} disabled={busy}>{busy ? "Please wait…" : submit}</button>
    </form>
  );
}

export default function Settings() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const me = useLoad(() => api<Me>("GET", "/api/auth/me"));
  if (me.error) return <Problem error={me.error} onRetry={me.reload} />;
  if (!me.data) return <Loading what="your account" />;
  return (
    <div className="settings">
      <h1>Settings</h1>
      <Profile me={me.data} onChange={me.reload} />
      <ChannelProfile me={me.data} onChange={me.setData} />
      <section className="card" aria-labelledby="notify-title">
        <h2 id="notify-title">Notifications</h2>
        <p className="muted">Go-live alerts, new videos, followers and replies: in the app, by email (at once or a daily digest) and by push.</p>
        <p><Link href="/settings/notifications" className="button ghost">Choose notifications</Link></p>
      </section>
      <section className="card" aria-labelledby="standing-title">
        <h2 id="standing-title">Reports, strikes and appeals</h2>
        <p className="muted">Your account's standing, any strikes and when they expire, decisions on your content, your appeals, and what became of your reports.</p>
        <p><Link href="/standing" className="button ghost" data-testid="settings-standing">My standing</Link></p>
      </section>
      <Billing />
      <SignInMethods />
      <TelegramCard creator={me.data.role === "creator" || me.data.role === "admin"} />
      <Password />
      <TwoFactor enabled={me.data.two_factor_enabled} onChange={me.reload} />
      <ApiKeys admin={me.data.role === "admin"} />
      <YourDataCard twoFactor={me.data.two_factor_enabled} />
    </div>
  );
}

function Profile({ me, onChange }: { me: Me; onChange: () => void }) {
  const [code, setCode] = useState("");
  // A Telegram sign-up's placeholder address: nothing is sent there.
  const placeholder = me.email.endsWith("@telegram.invalid");
  return (
    <section className="card" aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <dl>
        <dt>Name</dt>
        <dd>{me.display_name}</dd>
        <dt>Email</dt>
        <dd>
          {placeholder ? (
            <span className="muted">none (the account was made by signing in with Telegram)</span>
          ) : (
            <>
              {me.email} {me.email_verified ? <span className="badge">verified</span> : <span className="badge warn">not verified</span>}
            </>
          )}
        </dd>
        <dt>Role</dt>
        <dd>{me.role}</dd>
      </dl>
      {!me.email_verified && !placeholder && (
        <>
          <Form
            label="Verify your email"
            submit="Verify"
            action={async () => {
              await api("POST", "/api/auth/verify-email", { email: me.email, verification_code: code.trim() } satisfies Schemas["VerifyEmailRequest"]);
              onChange();
              return "Email verified.";
            }}
          >
            <label>
              Code from the email we sent
              <input name="verification_code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
            </label>
          </Form>
          <Form label="Send the code again" submit="Send the code again" secondary action={async () => (await api("POST", "/api/auth/resend-verification", { email: me.email }), "Sent; check your inbox.")}>
            {null}
          </Form>
        </>
      )}
    </section>
  );
}

/** Handles the site keeps for itself (the server's list is the one that counts). */
const RESERVED = new Set(
  "about account accounts admin administrator analytics api app assets auth billing browse c channel channels chat dashboard docs edit email embed explore ferrocast help home library live login logout mail me media mod moderator new notifications null oauth official pricing privacy recover register root search security settings shorts signin signup static staff status studio subscription support system terms trending undefined upload uploads user users v videos vod watch www".split(" "),
);
const MAX_BIO = 1000;
const MAX_LINKS = 5;

/** What is wrong with a handle as typed, or null. */
function handleProblem(raw: string): string | null {
  const h = raw.trim().replace(/^@/, "").toLowerCase();
  if (!h) return "Choose a handle.";
  if (!/^[a-z0-9_]*$/.test(h)) return "Only letters a–z, digits and underscores (_).";
  if (h.length < 3 || h.length > 30) return "3 to 30 characters.";
  if (RESERVED.has(h)) return `“${h}” is reserved by the site.`;
  return null;
}

/** The public face of the account: its channel's name, handle, bio, links and pictures. */
function ChannelProfile({ me, onChange }: { me: Me; onChange: (me: Me) => void }) {
  const [name, setName] = useState(me.display_name);
  const [handle, setHandle] = useState(me.handle);
  const [bio, setBio] = useState(me.bio);
  const [links, setLinks] = useState(me.links.map((l) => ({ ...l })));
  const [taken, setTaken] = useState<string | null>(null);
  const typed = handle.trim().replace(/^@/, "").toLowerCase();
  const problem = handleProblem(handle);
  // Whether another channel has the handle: asked once typing pauses.
  useEffect(() => {
    setTaken(null);
    if (problem || typed === me.handle) return;
    let live = true;
    const t = setTimeout(() => {
      api("GET", `/api/channels/${encodeURIComponent(typed)}`).then(
        () => live && setTaken(typed),
        () => undefined,
      );
    }, 350);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [typed, problem, me.handle]);
  const hint = problem ?? (taken === typed ? `@${typed} is taken; add a word or a number.` : typed === me.handle ? `Your channel: ${location.origin}/c/${typed}` : `@${typed} is free.`);
  const bad = Boolean(problem) || taken === typed;
  function save(me: Me) {
    saveSession({ ...session()!, user: me });
    onChange(me);
  }
  return (
    <section className="card" aria-labelledby="channel-title" data-testid="channel-settings">
      <h2 id="channel-title">Channel</h2>
      <p className="muted">
        What everyone sees on your channel page
        {me.handle && (
          <>
            {" "}
            at <Link href={`/c/${me.handle}`} data-testid="my-channel-link">/c/{me.handle}</Link>
          </>
        )}
        .
      </p>
      <Pictures me={me} onChange={save} />
      <Form
        label="Channel profile"
        submit="Save profile"
        action={async () => {
          const updated = await api<Me>("PATCH", "/api/me/profile", {
            display_name: name,
            handle: typed,
            bio,
            links: links.filter((l) => l.label.trim() || l.url.trim()),
          } satisfies Schemas["ProfileUpdate"]);
          save(updated);
          setHandle(updated.handle);
          setBio(updated.bio);
          setLinks(updated.links.map((l) => ({ ...l })));
          return "Profile saved.";
        }}
      >
        <label>
          Display name
          <input name="display_name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Handle
          <span className="handle-field">
            <span aria-hidden="true">@</span>
            <input
              name="handle"
              required
              maxLength={31}
              autoCapitalize="none"
              autoCorrect="off"
              spellCheck={false}
              value={handle}
              aria-invalid={bad}
              aria-describedby="handle-hint"
              onChange={(e) => setHandle(e.target.value)}
            />
          </span>
          <span id="handle-hint" className={`field-hint ${bad ? "bad" : "good"}`} data-testid="handle-hint" aria-live="polite">
            {hint}
          </span>
        </label>
        <label>
          Bio
          <textarea name="bio" rows={4} value={bio} onChange={(e) => setBio(e.target.value)} aria-describedby="bio-count" />
          <span id="bio-count" className={`field-hint ${bio.length > MAX_BIO ? "bad" : "muted"}`}>
            {bio.length} / {MAX_BIO}
          </span>
        </label>
        <fieldset>
          <legend>Links</legend>
          {links.length === 0 && <p className="muted fine">Your website, shop or other channels: up to {MAX_LINKS}.</p>}
          <ul className="link-rows">
            {links.map((l, i) => (
              <li key={i}>
                <input aria-label={`Link ${i + 1} label`} placeholder="Label" maxLength={40} value={l.label} onChange={(e) => setLinks(links.map((x, j) => (j === i ? { ...x, label: e.target.value } : x)))} />
                <input aria-label={`Link ${i + 1} URL`} placeholder="https://…" type="url" inputMode="url" value={l.url} onChange={(e) => setLinks(links.map((x, j) => (j === i ? { ...x, url: e.target.value } : x)))} />
                <button type="button" className="link small danger" onClick={() => setLinks(links.filter((_, j) => j !== i))} aria-label={`Remove link ${i + 1}`}>
                  Remove
                </button>
              </li>
            ))}
          </ul>
          {links.length < MAX_LINKS && (
            <button type="button" className="ghost small" onClick={() => setLinks([...links, { label: "", url: "" }])}>
              Add a link
            </button>
          )}
        </fieldset>
      </Form>
    </section>
  );
}

/** The avatar and banner: the current ones, a new one chosen (shown at once, then uploaded),
 * and removing them. */
function Pictures({ me, onChange }: { me: Me; onChange: (me: Me) => void }) {
  return (
    <div className="profile-pictures">
      <Picture kind="avatar" me={me} url={me.avatar_url} onChange={onChange} />
      <Picture kind="banner" me={me} url={me.banner_url} onChange={onChange} />
    </div>
  );
}

function Picture({ kind, me, url, onChange }: { kind: "avatar" | "banner"; me: Me; url?: string | null; onChange: (me: Me) => void }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  const shown = preview ?? url;
  async function upload(file: File) {
    setError(null);
    if (file.size > 8 * 1024 * 1024) {
      setError(new ApiError(413, "The picture is too large", "Choose one of at most 8 MiB."));
      return;
    }
    setPreview(URL.createObjectURL(file));
    setBusy(true);
    try {
      onChange(await api<Me>("POST", `/api/me/${kind}`, file));
    } catch (e) {
      setError(e);
    } finally {
      setPreview(null);
      setBusy(false);
    }
  }
  async function remove() {
    setError(null);
    setBusy(true);
    try {
      onChange(await api<Me>("DELETE", `/api/me/${kind}`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  const label = kind === "avatar" ? "Avatar" : "Banner";
  return (
    <div className="profile-picture" data-testid={`${kind}-picture`}>
      <strong>{label}</strong>
      {kind === "avatar" ? (
        <Avatar url={shown} name={me.display_name} />
      ) : (
        <span className="profile-banner-preview">{shown ? <img src={shown} alt="" /> : <span className="channel-banner-none" aria-hidden="true" />}</span>
      )}
      <span className="muted fine">{kind === "avatar" ? "Square, shown round; 256 × 256." : "Wide: 1920 × 480, cropped to fit."} PNG, JPEG or WebP, up to 8 MiB.</span>
      <span className="actions">
        <PictureButton label={url ? "Change" : "Upload"} busy={busy} ariaLabel={`Choose a ${kind} picture`} testId={`${kind}-file`} onFile={(f) => void upload(f)} />
        {url && (
          <button type="button" className="link small danger" disabled={busy} onClick={remove} data-testid={`${kind}-remove`}>
            Remove
          </button>
        )}
      </span>
      <Problem error={error} />
    </div>
  );
}

function Billing() {
  const options = useLoad(() => api<Schemas["BillingOptions"]>("GET", "/api/payments/options"));
  return (
    <section className="card" aria-labelledby="billing-title">
      <h2 id="billing-title">Billing</h2>
      <p className="muted">
        Plans are priced and paid in this currency. {options.data && !options.data.currency_chosen && "Until you choose, it follows your browser's language."}{" "}
        <Link href="/dashboard/subscription">Plan, payments and receipts</Link>
      </p>
      {options.error ? <Problem error={options.error} onRetry={options.reload} /> : null}
      {!options.data && !options.error && <Loading what="your billing settings" />}
      {options.data && <CurrencyPicker options={options.data} onChange={options.setData} />}
    </section>
  );
}

/** Your data: whether the account has a password decides what deleting it asks for. */
function YourDataCard({ twoFactor }: { twoFactor: boolean }) {
  const ways = useLoad(() => api<Schemas["IdentityList"]>("GET", "/api/auth/identities"));
  if (!ways.data) return null;
  return <YourData twoFactor={twoFactor} hasPassword={ways.data.has_password} />;
}

function Password() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  // An account made with Google or Twitch has no password to change until one is set.
  const ways = useLoad(() => api<Schemas["IdentityList"]>("GET", "/api/auth/identities"));
  if (ways.data && !ways.data.has_password) {
    return (
      <section className="card" aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <p className="muted">
          You sign in with a linked account and have no password. To set one, log out and use “Forgot your password?” on the login page: a code goes to
          your email.
        </p>
      </section>
    );
  }
  return (
    <section className="card" aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <Form
        label="Change password"
        submit="Change password"
        action={async () => {
          await api("POST", "/api/auth/change-password", { current_password: current, new_password: next } satisfies Schemas["ChangePasswordRequest"]);
          setCurrent("");
          setNext("");
          return "Password changed; other sessions were logged out.";
        }}
      >
        <label>
          Current password
          <input type="password" name="current_password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label>
          New password <span className="muted">(at least 8 characters)</span>
          <input type="password" name="new_password" autoComplete="new-password" minLength={8} required value={next} onChange={(e) => setNext(e.target.value)} />
        </label>
      </Form>
    </section>
  );
}

function TwoFactor({ enabled, onChange }: { enabled: boolean; onChange: () => void }) {
  const [setup, setSetup] = useState<Schemas["TotpSetup"] | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const fields = (
    <>
      <label>
        Code from your authenticator app
        <input name="totp_code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
      </label>
      <label>
        Your password
        <input type="password" name="totp_password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
    </>
  );
  return (
    <section className="card" aria-labelledby="tfa-title">
      <h2 id="tfa-title">Two-factor login</h2>
      {codes && (
        <div className="card" role="status">
          <p><strong>Recovery codes</strong> — keep them somewhere safe; each works once if you lose your phone:</p>
          <ul className="codes">{codes.map((c) => <li key={c}><code>{c}</code></li>)}</ul>
        </div>
      )}
      {enabled ? (
        <Form
          label="Turn two-factor login off"
          submit="Turn off"
          action={async () => {
            await api("POST", "/api/auth/2fa/disable", { password, code: code.trim() } satisfies Schemas["TotpDisable"]);
            setCode("");
            setPassword("");
            onChange();
            return "Two-factor login is off.";
          }}
        >
          <p>On. Turning it off needs a current code and your password.</p>
          {fields}
        </Form>
      ) : setup ? (
        <Form
          label="Turn two-factor login on"
          submit="Turn on"
          action={async () => {
            const r = await api<Schemas["TotpEnabled"]>("POST", "/api/auth/2fa/enable", { code: code.trim(), password } satisfies Schemas["TotpEnable"]);
            setCodes(r.recovery_codes);
            setSetup(null);
            setCode("");
            setPassword("");
            onChange();
            return "Two-factor login is on.";
          }}
        >
          <div className="totp">
            <QrCode text={setup.otpauth_uri} label="QR code of the two-factor key, for your authenticator app" testId="totp-qr" />
            <div>
              <p>Scan the code with your authenticator app (Google Authenticator, 1Password, Aegis…), or type in the key:</p>
              <p className="secret"><code data-testid="totp-secret">{setup.secret}</code></p>
              <p className="muted small-text uri">{setup.otpauth_uri}</p>
              <p>Then enter the code the app shows.</p>
            </div>
          </div>
          {fields}
        </Form>
      ) : (
        <Form label="Set up two-factor login" submit="Set up" action={async () => setSetup(await api<Schemas["TotpSetup"]>("POST", "/api/auth/2fa/setup"))}>
          <p>Off. With it on, logging in also asks for a code from an authenticator app.</p>
        </Form>
      )}
    </section>
  );
}

function ApiKeys({ admin }: { admin: boolean }) {
  const keys = useLoad(() => api<Schemas["ApiKeyList"]>("GET", "/api/auth/api-keys"));
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<string[]>(["streams:read"]);
  const [password, setPassword] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  async function revoke(uuid: string) {
    if (!confirm("Revoke this key? Whatever uses it stops working.")) return;
    try {
      await api("DELETE", `/api/auth/api-keys/${uuid}`);
      keys.reload();
    } catch (e) {
      setError(e);
    }
  }
  const live = keys.data?.api_keys.filter((k) => !k.revoked_at) ?? [];
  return (
    <section className="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {keys.error ? <Problem error={keys.error} onRetry={keys.reload} /> : null}
      {!keys.data && !keys.error && <Loading what="API keys" />}
      {keys.data && live.length === 0 && <p className="muted">No API keys.</p>}
      <ul className="rows">
        {live.map((k) => (
          <li key={k.uuid}>
            <strong>{k.name}</strong> <code>{k.prefix}…</code> {k.scopes.join(", ")}
            {k.last_used_at ? `, last used ${k.last_used_at.slice(0, 10)}` : ", never used"}{" "}
            <button className="link small danger" onClick={() => revoke(k.uuid)}>Revoke</button>
          </li>
        ))}
      </ul>
      <Problem error={error} />
      {created && (
        <p role="status" className="card">
          Your new key — shown once, copy it now: <code>{created}</code>
        </p>
      )}
      <Form
        label="Create an API key"
        submit="Create key"
        action={async () => {
          const r = await api<Schemas["CreatedApiKey"]>("POST", "/api/auth/api-keys", { name: name.trim(), scopes, password } satisfies Schemas["CreateApiKey"]);
          setCreated(r.key);
          setName("");
          setPassword("");
          keys.reload();
        }}
      >
        <label>
          Name
          <input name="key_name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. stream deck" />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {(admin ? [...SCOPES, "admin"] : SCOPES).map((s) => (
            <label key={s} className="toggle" title={SCOPE_HELP[s]}>
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => setScopes((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))} /> {s}
            </label>
          ))}
        </fieldset>
        <label>
          Your password
          <input type="password" name="key_password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
      </Form>
    </section>
  );
}

const PROVIDER_NAMES: Record<string, string> = { google: "Google", twitch: "Twitch", telegram: "Telegram" };

/** Linked Google / Twitch accounts: link another (through its consent page), unlink one while
 * another way in remains. */
function SignInMethods() {
  const list = useLoad(() => api<Schemas["IdentityList"]>("GET", "/api/auth/identities"));
  const [error, setError] = useState<unknown>(() => oauthProblem());
  const [done, setDone] = useState(() => {
    const linked = new URLSearchParams(location.search).get("linked");
    return linked ? `${PROVIDER_NAMES[linked] ?? linked} is linked: you can sign in with it.` : "";
  });
  useEffect(() => {
    // The outcome is shown once; a reload does not repeat it.
    if (location.search) history.replaceState(null, "", location.pathname);
  }, []);
  async function link(provider: string) {
    setError(null);
    try {
      const r = await api<Schemas["AuthorizeUrl"]>("POST", `/api/auth/link/${provider}`);
      location.assign(r.authorize_url);
    } catch (e) {
      setError(e);
    }
  }
  async function unlink(id: number, name: string) {
    if (!confirm(`Unlink ${name}? You will no longer be able to sign in with it.`)) return;
    setError(null);
    setDone("");
    try {
      await api("DELETE", `/api/auth/identities/${id}`);
      setDone(`${name} was unlinked.`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  }
  const data = list.data;
  if (!data && !list.error) return <Loading what="sign-in methods" />;
  const linked = new Set(data?.identities.map((i) => i.provider));
  if (data && data.available.length === 0 && data.identities.length === 0) return null;
  return (
    <section className="card" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign-in methods</h2>
      {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
      {data && (
        <>
          <p className="muted">
            {data.has_password ? "You can sign in with your email and password" : "Your account has no password (set one with “Forgot your password?” on the login page)"}
            {data.identities.length > 0 ? ", and with the accounts below." : "."}
          </p>
          <ul className="identities">
            {data.identities.map((i) => {
              const name = PROVIDER_NAMES[i.provider] ?? i.provider;
              return (
                <li key={i.id} data-testid="identity">
                  <span className="who">
                    <strong>{name}</strong> {i.email ?? ""} {i.email_verified ? <span className="badge">verified</span> : null}
                  </span>
                  <button className="link small danger" onClick={() => unlink(i.id, name)} aria-label={`Unlink ${name}`}>
                    Unlink
                  </button>
                </li>
              );
            })}
          </ul>
          <div className="inline">
            {data.available
              .filter((p) => !linked.has(p))
              .map((p) => (
                <button key={p} className="ghost" onClick={() => link(p)}>
                  Link {PROVIDER_NAMES[p] ?? p}
                </button>
              ))}
          </div>
        </>
      )}
      <Problem error={error} />
      {done && <p role="status" className="ok">{done}</p>}
    </section>
  );
}

/** Telegram: the linked account the bot writes to, and the channel or group that gets the
 * creator's go-live posts. Shown when the server runs a bot. */
function TelegramCard({ creator }: { creator: boolean }) {
  const tg = useLoad(() => api<Schemas["TelegramView"]>("GET", "/api/telegram"));
  const providers = useProviders();
  const [chat, setChat] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const data = tg.data;
  if (tg.error) return <Problem error={tg.error} onRetry={tg.reload} />;
  if (!data || !data.enabled) return null;
  const bot = data.username ? `@${data.username}` : "the bot";
  const loginUrl = providers.data?.providers.find((p) => p.id === "telegram")?.login_url;
  async function connect(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone("");
    try {
      const c = await api<Schemas["TelegramChatView"]>("PUT", "/api/telegram/chat", { chat: chat.trim() } satisfies Schemas["ConnectChat"]);
      setDone(`${c.title} is connected: ${bot} posted a first message there.`);
      setChat("");
      tg.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function disconnect() {
    setError(null);
    setDone("");
    try {
      await api("DELETE", "/api/telegram/chat");
      setDone("Disconnected: no more go-live posts there.");
      tg.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section className="card telegram-card" aria-labelledby="telegram-title" data-testid="telegram-card">
      <h2 id="telegram-title">Telegram</h2>
      {data.linked_telegram_id ? (
        <p data-testid="telegram-linked">
          <span className="badge">linked</span> {bot} sends you your notices on Telegram (each kind follows its <Link href="/settings/notifications">Push</Link> setting), and answers <code>/live</code>, <code>/videorama</code>, <code>/prime</code> and <code>/help</code>.
        </p>
      ) : (
        <>
          <p className="muted">Link your Telegram account: {bot} then sends you go-live alerts and other notices, and you can sign in with Telegram.</p>
          {loginUrl && (
            <p>
              <a className="button ghost provider telegram" href={loginUrl} onClick={() => startTelegram("link")}>Link Telegram</a>
            </p>
          )}
        </>
      )}
      {creator && (
        <>
          <h3>Go-live posts in a channel or group</h3>
          {data.chat ? (
            <p className="inline" data-testid="telegram-chat">
              <span>
                Posting to <strong>{data.chat.title}</strong> <small className="muted">since {new Date(data.chat.connected_at).toLocaleDateString()}</small>
              </span>
              <button className="ghost danger-outline small" onClick={disconnect}>Disconnect</button>
            </p>
          ) : (
            <form onSubmit={connect} aria-label="Connect a Telegram channel">
              <label>
                Channel or group
                <input value={chat} onChange={(e) => setChat(e.target.value)} placeholder="@yourchannel" required maxLength={64} />
                <small className="hint">Add {bot} to it as an administrator first. In a group you can also send <code>/connect</code>.</small>
              </label>
              <button type="submit" disabled={busy}>{busy ? "Checking with Telegram…" : "Connect"}</button>
            </form>
          )}
        </>
      )}
      <Problem error={error} />
      {done && <p role="status" className="ok">{done}</p>}
    </section>
  );
}
