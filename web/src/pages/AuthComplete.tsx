// The end of "Continue with Google / Twitch": the server sent the browser here with a single-use
// code in the fragment (never sent to a server); it is traded for the session with a POST.
import { useEffect, useState } from "react";
import { api, COOKIE_SESSION, saveSession, type Schemas } from "../api";
import { navigate } from "../router";
import { Loading, Problem } from "../ui";
import Auth from "./Auth";
import { Mark } from "../brand";

type Mfa = { mfa_required: true; mfa_token: string };

export default function AuthComplete() {
  const [mfa, setMfa] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const returnTo = (() => {
    const r = new URLSearchParams(location.search).get("return_to") ?? "/dashboard";
    return r.startsWith("/") && !r.startsWith("//") ? r : "/dashboard";
  })();
  useEffect(() => {
    const code = new URLSearchParams(location.hash.slice(1)).get("code");
    // The code leaves the address bar and the history at once.
    history.replaceState(null, "", location.pathname);
    if (!code) {
      setError(new Error("This sign-in link has no code; start again from the login page"));
      return;
    }
    api<Schemas["AuthResponse"] | Mfa>("POST", "/api/auth/oauth/exchange", { code, session: COOKIE_SESSION } satisfies Schemas["ExchangeRequest"]).then(
      (r) => {
        if ("mfa_required" in r) setMfa(r.mfa_token);
        else {
          saveSession({ access_token: r.access_token, user: r.user });
          navigate(returnTo);
        }
      },
      setError,
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  if (mfa) return <Auth mode="login" initialMfa={mfa} returnTo={returnTo} />;
  if (error)
    return (
      <section className="auth card">
        <Mark />
        <h1>Signing in did not work</h1>
        <Problem error={error} />
        <p className="alt">
          <a href="/login" className="button">Back to the login page</a>
        </p>
      </section>
    );
  return <Loading what="your account" />;
}
