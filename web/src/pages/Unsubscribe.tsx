// The page an email's unsubscribe link opens: it asks before turning that email off (a GET of
// the link changes nothing, so mail scanners that open links unsubscribe nobody).
import { useState } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Problem } from "../ui";

export default function Unsubscribe() {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [done, setDone] = useState<Schemas["Unsubscribed"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      setDone(await api<Schemas["Unsubscribed"]>("POST", `/api/notifications/unsubscribe?token=${encodeURIComponent(token)}`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="standalone" aria-labelledby="unsub-title">
      <h1 id="unsub-title">{done ? "You are unsubscribed" : "Stop these emails?"}</h1>
      {done ? (
        <p className="lead">No more email when {done.label}. Notices still appear under the bell in the app.</p>
      ) : token ? (
        <>
          <p className="lead">You will no longer get email of this kind. You can turn it back on at any time.</p>
          <Problem error={error} />
          <p className="actions">
            <button type="button" onClick={confirm} disabled={busy} data-testid="confirm-unsubscribe">{busy ? "Please wait…" : "Unsubscribe"}</button>
          </p>
        </>
      ) : (
        <p className="lead">This link is missing its token. Open the link from the email again.</p>
      )}
      <p className="muted">
        Choose exactly what you are told under <Link href="/settings/notifications">Settings → Notifications</Link>.
      </p>
    </section>
  );
}
