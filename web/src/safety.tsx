// Trust and safety in the app: the Report button and its dialog (chat messages, videos,
// comments, channels, live streams), and the small pieces the standing and moderation pages
// share (outcome badges, category names, dates).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "./api";
import { Link } from "./router";
import { Problem } from "./ui";
import "./safety.css";

export type ReportKind = "channel" | "live_stream" | "video" | "comment" | "chat_message" | "post" | "post_comment";

/** The categories a report may give, in the order the form shows them. */
export const CATEGORIES: [string, string, string][] = [
  ["spam", "Spam or scam", "Misleading links, repeated promotion, fraud"],
  ["harassment", "Harassment or bullying", "Insults or attacks on a person"],
  ["hate", "Hate speech", "Attacks on people for who they are"],
  ["violence", "Violence or threats", "Threats, glorified violence"],
  ["sexual", "Sexual content", "Nudity or sexual content where it is not allowed"],
  ["self_harm", "Self-harm", "Encouraging someone to hurt themselves"],
  ["copyright", "Copyright", "Someone else's work (a formal notice: the DMCA form)"],
  ["other", "Something else", "Say what in the box below"],
];

const KIND_NAME: Record<string, string> = {
  channel: "channel",
  live_stream: "live stream",
  video: "video",
  comment: "comment",
  chat_message: "chat message",
  post: "post",
  post_comment: "comment on a post",
};

export function kindName(kind: string): string {
  return KIND_NAME[kind] ?? kind;
}

const OUTCOME: Record<string, [string, string]> = {
  dismiss: ["No action", "neutral"],
  remove: ["Removed", "warn"],
  warn: ["Removed, warned", "warn"],
  strike: ["Strike", "bad"],
  suspend: ["Suspended", "bad"],
  ban: ["Banned", "bad"],
};

/** A report's state as a badge: open, or what was decided. */
export function OutcomeBadge({ status, outcome }: { status: string; outcome?: string | null }) {
  if (status === "open" || !outcome) return <span className="badge safety-badge open">Under review</span>;
  const [label, tone] = OUTCOME[outcome] ?? [outcome, "neutral"];
  return <span className={`badge safety-badge ${tone}`}>{label}</span>;
}

export function when(iso?: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function whenTime(iso?: string | null): string {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A small "Report" button that opens the report dialog for one item; signed-in users only. */
export function ReportButton({ kind, target, label, heading, compact = false, testId }: { kind: ReportKind; target: string; label: string; heading?: string; compact?: boolean; testId?: string }) {
  const [open, setOpen] = useState(false);
  if (!session()) return null;
  return (
    <>
      <button
        type="button"
        className={compact ? "link small report-link" : "ghost small report-button"}
        onClick={() => setOpen(true)}
        aria-label={`Report ${label}`}
        title={`Report ${label}`}
        data-testid={testId ?? "report-button"}
      >
        <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
          <path d="M4 22V4" />
          <path d="M4 4h12l-2 4 2 4H4" />
        </svg>
        <span>Report</span>
      </button>
      {open && <ReportDialog kind={kind} target={target} label={heading ?? label} onClose={() => setOpen(false)} />}
    </>
  );
}

function ReportDialog({ kind, target, label, onClose }: { kind: ReportKind; target: string; label: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const [category, setCategory] = useState("");
  const [details, setDetails] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<Schemas["ReportView"] | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!category) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api<Schemas["ReportView"]>("POST", "/api/reports", { kind, target, category, details } satisfies Schemas["NewSafetyReport"]);
      setDone(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog
      ref={ref}
      className="report-dialog"
      aria-label={`Report ${label}`}
      data-testid="report-dialog"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="report-dialog-head">
        <div>
          <p className="report-kicker">Report a {kindName(kind)}</p>
          <h2>{label}</h2>
        </div>
        <button type="button" className="ghost small" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </header>
      {done ? (
        <div className="report-done" role="status" data-testid="report-sent">
          <span className="report-check" aria-hidden="true">✓</span>
          <h3>Thanks — the moderators have it</h3>
          <p>
            We review every report. You will get a notification when a moderator decides, and you can follow it under{" "}
            <Link href="/standing">My standing</Link>.
          </p>
          <p className="actions">
            <button type="button" onClick={onClose}>Done</button>
          </p>
        </div>
      ) : (
        <form className="report-dialog-form" onSubmit={submit}>
          <fieldset>
            <legend>What is wrong with it?</legend>
            <div className="report-reasons">
              {CATEGORIES.map(([value, name, hint]) => (
                <label key={value} className={`report-reason ${category === value ? "on" : ""}`}>
                  <input type="radio" name="category" value={value} checked={category === value} onChange={() => setCategory(value)} />
                  <span>
                    <strong>{name}</strong>
                    <small>{hint}</small>
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          <label>
            Anything the moderators should know {category === "other" ? "(required)" : "(optional)"}
            <textarea name="details" maxLength={1000} rows={3} value={details} onChange={(e) => setDetails(e.target.value)} placeholder="What happened, and where" />
          </label>
          <Problem error={error} />
          <p className="report-actions">
            <button type="button" className="ghost" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="danger" disabled={busy || !category || (category === "other" && !details.trim())} data-testid="report-submit">
              {busy ? "Sending…" : "Send report"}
            </button>
          </p>
          <p className="fine muted">Reports are confidential: the person you report is not told who reported them.</p>
        </form>
      )}
    </dialog>
  );
}
