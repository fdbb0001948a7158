// Settings → Your data: download everything stored about you (a ZIP built in the background,
// with its progress), and delete your account behind a confirmation that asks for your password
// (and a two-factor code when it is on).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, saveSession, type Schemas } from "./api";
import { navigate } from "./router";
import { Problem } from "./ui";
import { dateTime as when } from "./format";
import "./yourdata.css";

type Export = Schemas["DataExportView"];

function size(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}


export function YourData({ twoFactor, hasPassword }: { twoFactor: boolean; hasPassword: boolean }) {
  const [exp, setExp] = useState<Export | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [asking, setAsking] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const building = exp?.state === "queued" || exp?.state === "running";

  useEffect(() => {
    let stop = false;
    let timer: number | undefined;
    async function poll() {
      try {
        const r = await api<Schemas["DataExportStatus"]>("GET", "/api/me/export");
        if (stop) return;
        setExp(r.export ?? null);
        const busy = r.export && (r.export.state === "queued" || r.export.state === "running");
        // While it is built, its progress; once ready, a fresh link before the last one expires.
        timer = window.setTimeout(poll, busy ? 1000 : 10 * 60 * 1000);
      } catch (e) {
        if (!stop) setError(e);
      }
    }
    if (exp === undefined || building) poll();
    return () => {
      stop = true;
      if (timer) window.clearTimeout(timer);
    };
    // Polls again whenever a new export starts.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [building]);

  async function request() {
    setAsking(true);
    setError(null);
    try {
      const r = await api<Schemas["DataExportStatus"]>("POST", "/api/me/export");
      setExp(r.export ?? null);
    } catch (e) {
      setError(e);
    } finally {
      setAsking(false);
    }
  }

  const pct = Math.round(exp?.progress ?? 0);
  return (
    <section className="card your-data" id="your-data" aria-labelledby="your-data-title" data-testid="your-data">
      <h2 id="your-data-title">Your data</h2>
      <div className="your-data-block">
        <h3>Download your data</h3>
        <p className="muted">
          A ZIP with everything ferrocast stores about you — your account, sessions, streams, chat messages, comments, payments and the rest, one JSON
          file per table — and your media: pictures and videos. It is built in the background; you get a notification (and an email, unless you turned it off) when it is ready, and it is deleted a few
          days later.
        </p>
        {exp === undefined && !error && <p className="muted">Loading…</p>}
        {building && exp && (
          <div className="export-progress" data-testid="export-progress">
            <div
              className="bar"
              role="progressbar"
              aria-label="Export progress"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct}
            >
              <span style={{ width: `${Math.max(pct, 3)}%` }} />
            </div>
            <p className="muted">
              {exp.state === "queued" ? "Waiting to start…" : `Preparing your ${exp.stage === "media" ? "media" : "data"}… ${pct}%`}
            </p>
          </div>
        )}
        {exp?.state === "ready" && exp.download_url && (
          <div className="export-ready" data-testid="export-ready">
            <a className="button" href={exp.download_url} download>
              Download ZIP{exp.size_bytes != null ? ` (${size(exp.size_bytes)})` : ""}
            </a>
            <p className="muted">
              Made {when(exp.created_at)}
              {exp.expires_at ? `; available until ${when(exp.expires_at)}.` : "."}
            </p>
          </div>
        )}
        {exp?.state === "failed" && <p className="problem-text">{exp.error ?? "The export failed."}</p>}
        {exp?.state === "expired" && <p className="muted">Your last export has expired and was deleted.</p>}
        <Problem error={error} />
        {!building && (
          <button type="button" className={exp?.state === "ready" ? "ghost" : undefined} onClick={request} disabled={asking || exp === undefined}>
            {asking ? "Please wait…" : exp?.state === "ready" ? "Make a new export" : "Request my data"}
          </button>
        )}
      </div>
      <div className="your-data-block danger-zone">
        <h3>Delete your account</h3>
        <p className="muted">
          Deletes your channel, streams, videos, chat messages, comments, follows, keys and sessions. Payments, purchases and payouts are kept as the
          law requires, without your name, email or any other personal detail. This cannot be undone; download your data first if you want a copy.
        </p>
        <button type="button" className="ghost danger-outline" onClick={() => setDeleting(true)}>
          Delete my account…
        </button>
      </div>
      {deleting && <DeleteDialog twoFactor={twoFactor} hasPassword={hasPassword} onClose={() => setDeleting(false)} />}
    </section>
  );
}

function DeleteDialog({ twoFactor, hasPassword, onClose }: { twoFactor: boolean; hasPassword: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const confirmed = typed.trim().toUpperCase() === "DELETE";
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!confirmed) return;
    setBusy(true);
    setError(null);
    try {
      const body: Schemas["DeleteAccount"] = {};
      if (hasPassword) body.password = password;
      if (twoFactor) body.code = code.trim();
      await api<Schemas["AccountDeleted"]>("DELETE", "/api/me", body);
      saveSession(null);
      navigate("/");
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return (
    <dialog
      ref={ref}
      className="your-data-dialog"
      aria-label="Delete your account"
      data-testid="delete-account-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <form onSubmit={submit}>
        <header>
          <h2>Delete your account?</h2>
          <button type="button" className="ghost small" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </header>
        <p>
          Your channel, videos, streams, chat messages, comments and everything else you made are deleted for good, and you are signed out everywhere.
          Payment records are kept without your personal details.
        </p>
        {!hasPassword && !twoFactor && (
          <p className="problem-text">
            Your account has no password to confirm with. Set one first: log out and use “Forgot your password?” on the login page.
          </p>
        )}
        {hasPassword && (
          <label>
            Your password
            <input type="password" name="delete_password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </label>
        )}
        {twoFactor && (
          <label>
            Code from your authenticator app (or a recovery code)
            <input name="delete_code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          </label>
        )}
        <label>
          Type <strong>DELETE</strong> to confirm
          <input name="delete_confirm" autoComplete="off" required value={typed} onChange={(e) => setTyped(e.target.value)} />
        </label>
        <Problem error={error} />
        <div className="inline actions">
          <button type="button" className="ghost" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy || !confirmed || (!hasPassword && !twoFactor)}>
            {busy ? "Deleting…" : "Delete my account"}
          </button>
        </div>
      </form>
    </dialog>
  );
}
