import { useState, type FormEvent } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Problem } from "../ui";
import { Mark } from "../brand";

/** Forgotten password: a code by email, then a new password. */
export default function Recover() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!sent) {
        await api("POST", "/api/auth/forgot-password", { email } satisfies Schemas["ForgotPasswordRequest"]);
        setSent(true);
      } else {
        await api("POST", "/api/auth/reset-password", { email, code: code.trim(), new_password: password } satisfies Schemas["ResetPasswordRequest"]);
        setDone(true);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  if (done) {
    return (
      <section className="auth card">
        <Mark />
        <h1>Password changed</h1>
        <p><Link href="/login">Log in</Link> with your new password.</p>
      </section>
    );
  }
  return (
    <section className="auth card" aria-labelledby="recover-title">
      <Mark />
      <h1 id="recover-title">Reset your password</h1>
      <p className="lead">{sent ? "Enter the code from the email and choose a new password." : "We email you a code to set a new one."}</p>
      <form onSubmit={submit}>
        <label>
          Email
          <input type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} readOnly={sent} />
        </label>
        {sent && (
          <>
            <p role="status" className="notice ok-notice">If an account uses that address, a code is on its way.</p>
            <label>
              Code from the email
              <input name="code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
            </label>
            <label>
              New password <span className="muted">(at least 8 characters)</span>
              <input type="password" name="new_password" autoComplete="new-password" minLength={8} required value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
          </>
        )}
        <Problem error={error} />
        <button type="submit" disabled={busy}>{busy ? "Please wait…" : sent ? "Set the new password" : "Email me a code"}</button>
      </form>
      <p className="muted alt">
        Remembered it? <Link href="/login">Log in</Link>
      </p>
    </section>
  );
}
