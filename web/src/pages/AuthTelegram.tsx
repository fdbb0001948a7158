// The end of "Continue with Telegram": Telegram's sign-in page sent the browser back here with
// the Login Widget's fields — as `#tgAuthResult=<base64 JSON>` in the fragment (never sent to a
// server), or as query parameters (the widget's redirect mode). They are checked by the server
// with a POST: signed out, that signs in (or makes an account); signed in, it links Telegram.
import { useEffect, useState } from "react";
import { api, COOKIE_SESSION, saveSession, session, type Schemas } from "../api";
import { navigate } from "../router";
import { Loading, Problem } from "../ui";
import Auth from "./Auth";
import { Mark } from "../brand";
import { TELEGRAM_INTENT } from "../oauth";

type Mfa = { mfa_required: true; mfa_token: string };
const FIELDS = ["id", "first_name", "last_name", "username", "photo_url", "auth_date", "hash"];

/** The widget's fields from the address, or null. */
function fieldsFromAddress(): Record<string, string | number> | null {
  const fragment = new URLSearchParams(location.hash.slice(1)).get("tgAuthResult");
  if (fragment) {
    try {
      // Base64 or base64url; a "+" read from the fragment as a form's space is put back.
      const json = atob(fragment.replace(/ /g, "+").replace(/-/g, "+").replace(/_/g, "/"));
      // atob gives bytes as Latin-1; names are UTF-8.
      const text = new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)));
      const v = JSON.parse(text);
      return v && typeof v === "object" && "hash" in v ? v : null;
    } catch {
      return null;
    }
  }
  const q = new URLSearchParams(location.search);
  if (!q.get("hash")) return null;
  const out: Record<string, string> = {};
  for (const k of FIELDS) {
    const v = q.get(k);
    if (v !== null) out[k] = v;
  }
  return out;
}

export default function AuthTelegram() {
  const [mfa, setMfa] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const fields = fieldsFromAddress();
    // Telegram's answer leaves the address bar and the history at once.
    history.replaceState(null, "", location.pathname);
    if (!fields) {
      setError(new Error("Telegram sent nothing to sign in with (or the sign-in was cancelled); start again from the login page"));
      return;
    }
    const intent = sessionStorage.getItem(TELEGRAM_INTENT);
    sessionStorage.removeItem(TELEGRAM_INTENT);
    if (intent !== "login" && intent !== "link") {
      setError(new Error("This Telegram sign-in was not started in this browser, so nothing was done. Start it from the login page, or from Settings to link Telegram"));
      return;
    }
    const linking = intent === "link";
    if (linking && !session()) {
      setError(new Error("Log in first, then link Telegram from Settings"));
      return;
    }
    // Signing in replaces whoever was signed in here: no bearer goes with it.
    if (!linking) saveSession(null);
    api<Schemas["AuthResponse"] | Mfa>("POST", "/api/auth/telegram", linking ? fields : { ...fields, session: COOKIE_SESSION }).then(
      (r) => {
        if (linking) navigate("/settings?linked=telegram");
        else if ("mfa_required" in r) setMfa(r.mfa_token);
        else {
          saveSession({ access_token: r.access_token, user: r.user });
          navigate("/dashboard");
        }
      },
      setError,
    );
  }, []);
  if (mfa) return <Auth mode="login" initialMfa={mfa} returnTo="/dashboard" />;
  if (error)
    return (
      <section className="auth card">
        <Mark />
        <h1>Signing in with Telegram did not work</h1>
        <Problem error={error} />
        <p className="alt">
          <a href="/login" className="button">Back to the login page</a>
        </p>
      </section>
    );
  return <Loading what="your account" />;
}
