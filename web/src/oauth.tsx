// Sign in with Google or Twitch: the buttons (only for the providers the server has), and the
// words for each refusal the server sends back as `?oauth_error=CODE`.
import { api, type Schemas } from "./api";
import { useLoad } from "./ui";

/** What each `oauth_error` means for the person signing in, and what to do. */
export const OAUTH_ERRORS: Record<string, string> = {
  OAUTH_STATE_INVALID: "This sign-in link is not valid or was already used. Start again with the button below.",
  OAUTH_OTHER_BROWSER: "This sign-in was started in another browser (or its cookie was blocked), so it was refused. Start again here.",
  OAUTH_EXPIRED: "The sign-in took longer than 10 minutes and expired. Start again.",
  OAUTH_DENIED: "Access was not granted at the provider, so you are not signed in. Start again if that was a mistake.",
  OAUTH_CODE_REFUSED: "The provider refused the sign-in code (it was already used or expired). Start again.",
  OAUTH_PROVIDER_UNREACHABLE: "The provider could not be reached. Try again in a moment.",
  OAUTH_ID_TOKEN_AUDIENCE: "The provider's answer was meant for another application, so it was refused. Start again; if it keeps happening, tell the operator.",
  OAUTH_ID_TOKEN_ISSUER: "The answer did not come from the provider, so it was refused. Start again; if it keeps happening, tell the operator.",
  OAUTH_ID_TOKEN_EXPIRED: "The provider's answer had expired (is your computer's clock right?). Start again.",
  OAUTH_ID_TOKEN_SIGNATURE: "The provider's answer was not signed by the provider, so it was refused. Start again.",
  OAUTH_ID_TOKEN_NONCE: "The provider's answer belongs to another sign-in, so it was refused. Start again.",
  OAUTH_ID_TOKEN_UNKNOWN_KEY: "The provider's answer was signed with a key it does not publish, so it was refused. Try again later.",
  OAUTH_ID_TOKEN_INVALID: "The provider's answer could not be read. Start again.",
  OAUTH_NO_EMAIL: "The provider did not share your email address, which an account needs. Allow it, or register with email and password.",
  MAINTENANCE: "The site is in maintenance, so nothing was linked or connected. Try again when it is back.",
  OAUTH_EMAIL_UNVERIFIED: "The provider has not verified your email address, so no account was made with it. Verify it there and try again, or register with email and password.",
  OAUTH_LINK_REFUSED: "An account with this email already exists. Log in with your password, then link this provider in Settings.",
  OAUTH_IDENTITY_TAKEN: "That provider account is already linked to another ferrocast account.",
  OAUTH_REGISTRATION_CLOSED: "Registration is closed on this server, and no account is linked to that provider account.",
  OAUTH_NOT_CONFIGURED: "Signing in with that provider is not available on this server.",
  OAUTH_INTERNAL: "Something went wrong on our side. Try again; tell the operator if it persists.",
};

/** The error named in the page's `?oauth_error=`, as an Error the Problem box shows. */
export function oauthProblem(): Error | null {
  const code = new URLSearchParams(location.search).get("oauth_error");
  if (!code) return null;
  const provider = new URLSearchParams(location.search).get("provider");
  const who = provider === "google" ? "Google" : provider === "twitch" ? "Twitch" : "the provider";
  return new Error(`Signing in with ${who} did not work: ${OAUTH_ERRORS[code] ?? code}`);
}

export function useProviders() {
  return useLoad(() => api<Schemas["ProviderList"]>("GET", "/api/auth/providers"));
}

/** Notes, for this tab only, that this browser starts a Telegram sign-in (or a link): the page
 * Telegram sends back to acts only on a flow started here, so a link someone else made cannot
 * sign this browser in to their account or link their Telegram to this one. */
export function startTelegram(intent: "login" | "link") {
  sessionStorage.setItem(TELEGRAM_INTENT, intent);
}

/** Where [`startTelegram`] keeps the flow it started. */
export const TELEGRAM_INTENT = "ferrocast.telegram";

/** "Continue with Google / Twitch", for the providers the server offers. */
export function ProviderButtons() {
  const { data } = useProviders();
  if (!data || data.providers.length === 0) return null;
  return (
    <div className="providers">
      {data.providers.map((p) => (
        // A full navigation: the server redirects to the provider's consent page.
        <a key={p.id} className={`button ghost provider ${p.id}`} href={p.login_url} onClick={() => p.id === "telegram" && startTelegram("login")}>
          Continue with {p.name}
        </a>
      ))}
      <p className="or muted">or with your email</p>
    </div>
  );
}
