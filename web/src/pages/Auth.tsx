import { useState, type FormEvent } from "react";
import { api, COOKIE_SESSION, saveSession, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Problem } from "../ui";
import { Mark } from "../brand";
import { oauthProblem, ProviderButtons } from "../oauth";

type Tokens = Schemas["AuthResponse"];
/** Login's answer when two-factor is on. Hand-written: the server sends its `MfaRequired` with
 * status 200 in place of `AuthResponse`, and the OpenAPI document names only `AuthResponse`
 * (it mentions `MfaRequired` in the description), so no schema covers it. */
type Mfa = { mfa_required: true; mfa_token: string };

/** Where `?return_to=` asks to go after signing in: a path on this site only (nginx sends people
 * who are not signed in to `/login?return_to=/members/…`). */
export function returnToParam(): string | null {
  const r = new URLSearchParams(location.search).get("return_to");
  if (!r || !r.startsWith("/")) return null;
  // Parsed as the browser would (it drops tabs and newlines, so "/\t/evil" means "//evil"):
  // only an address on this site is followed.
  try {
    const u = new URL(r, location.origin);
    return u.origin === location.origin ? u.pathname + u.search + u.hash : null;
  } catch {
    return null;
  }
}

export default function Auth({
  mode,
  registrationOpen = true,
  initialMfa = null,
  returnTo,
}: {
  mode: "login" | "register";
  registrationOpen?: boolean;
  /** A two-factor challenge from a provider sign-in. */
  initialMfa?: string | null;
  returnTo?: string;
}) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [mfa, setMfa] = useState<string | null>(initialMfa);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(() => (mode === "login" ? oauthProblem() : null));

  const done = (t: Tokens) => {
    saveSession({ access_token: t.access_token, user: t.user });
    const back = returnTo ?? returnToParam();
    // A page outside the app (a member app nginx guards) is loaded afresh, with the new cookie.
    if (back && !returnTo) location.assign(back);
    else navigate(back ?? "/dashboard");
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mfa) {
        done(await api<Tokens>("POST", "/api/auth/login/2fa", { mfa_token: mfa, code: code.trim(), session: COOKIE_SESSION } satisfies Schemas["Login2faRequest"]));
      } else if (mode === "register") {
        done(await api<Tokens>("POST", "/api/auth/register", { email, password, display_name: name, session: COOKIE_SESSION } satisfies Schemas["RegisterRequest"]));
      } else {
        const r = await api<Tokens | Mfa>("POST", "/api/auth/login", { email, password, session: COOKIE_SESSION } satisfies Schemas["LoginRequest"]);
        if ("mfa_required" in r) setMfa(r.mfa_token);
        else done(r);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const title = mfa ? "Two-factor code" : mode === "register" ? "Create your account" : "Log in";
  if (mode === "register" && !registrationOpen) {
    return (
      <section className="auth card">
        <Mark />
        <h1>Registration is closed</h1>
        <p>Ask an administrator of this server for an account, or <Link href="/login">log in</Link>.</p>
      </section>
    );
  }
  return (
    <section className="auth card" aria-labelledby="auth-title">
      <Mark />
      <h1 id="auth-title">{title}</h1>
      <p className="lead">
        {mfa ? "One more step: the code from your authenticator app." : mode === "register" ? "Your own live page, restreaming and one chat, in a minute." : "Welcome back. Your streams are waiting."}
      </p>
      {!mfa && <ProviderButtons />}
      <form onSubmit={submit} noValidate={false}>
        {mfa ? (
          <label>
            Code from your authenticator app (or a recovery code)
            <input name="code" autoComplete="one-time-code" inputMode="numeric" required value={code} onChange={(e) => setCode(e.target.value)} autoFocus />
          </label>
        ) : (
          <>
            {mode === "register" && (
              <label>
                Display name
                <input name="display_name" autoComplete="nickname" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
              </label>
            )}
            <label>
              Email
              <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
            <label>
              Password {mode === "register" && <span className="muted">(at least 8 characters)</span>}
              <input
                name="password"
                type="password"
                autoComplete={mode === "register" ? "new-password" : "current-password"}
                required
                minLength={mode === "register" ? 8 : undefined}
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        )}
        <Problem error={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Please wait…" : mfa ? "Verify" : mode === "register" ? "Create account" : "Log in"}
        </button>
      </form>
      {!mfa && (
        <p className="muted alt">
          {mode === "register" ? (
            <>Already have an account? <Link href="/login">Log in</Link></>
          ) : (
            <>
              New here? <Link href="/register">Create an account</Link> · <Link href="/forgot-password">Forgot your password?</Link>
            </>
          )}
        </p>
      )}
    </section>
  );
}
