// Sharing a stream: its link and the code that embeds its player on another site, each with a
// copy button.
import { useState } from "react";
import "./share.css";

/** Copies `text`; where the Clipboard API is refused (an insecure origin), selects it instead. */
async function copy(text: string, field: HTMLInputElement | HTMLTextAreaElement | null): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    field?.select();
    return document.execCommand?.("copy") ?? false;
  }
}

/** A read-only field with a button that copies it. */
export function CopyField({ label, value, multiline, testId }: { label: string; value: string; multiline?: boolean; testId: string }) {
  const [copied, setCopied] = useState<boolean | null>(null);
  const [field, setField] = useState<HTMLInputElement | HTMLTextAreaElement | null>(null);
  return (
    <div className="copy-field">
      <label>
        {label}
        {multiline ? (
          <textarea ref={setField} readOnly rows={3} value={value} data-testid={testId} onFocus={(e) => e.target.select()} />
        ) : (
          <input ref={setField} readOnly value={value} data-testid={testId} onFocus={(e) => e.target.select()} />
        )}
      </label>
      <button type="button" className="ghost small" onClick={async () => setCopied(await copy(value, field))}>
        {copied ? "Copied" : `Copy ${label.toLowerCase()}`}
      </button>
      {copied === false && <span className="muted fine">Selected: press Ctrl+C (⌘C) to copy.</span>}
    </div>
  );
}

/** The embed code of a stream's player. */
export function embedCode(origin: string, playbackId: string, title: string): string {
  const src = `${origin}/embed/${encodeURIComponent(playbackId)}`;
  const safeTitle = title.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `<iframe src="${src}" title="${safeTitle}" width="640" height="360" allow="autoplay; fullscreen" allowfullscreen style="border:0"></iframe>`;
}

/** The Share panel of a watch page: the page's link and the player's embed code. */
export function SharePanel({ playbackId, title }: { playbackId: string; title: string }) {
  const origin = location.origin;
  const link = `${origin}/watch/${encodeURIComponent(playbackId)}`;
  return (
    <details className="card share" data-testid="share">
      <summary>Share</summary>
      <CopyField label="Link" value={link} testId="share-link" />
      <CopyField label="Embed code" value={embedCode(origin, playbackId, title)} multiline testId="share-embed" />
    </details>
  );
}
