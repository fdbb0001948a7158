// Engagement on a video's page: the like button and the counts, and the comments — newest
// first, each with its replies (one level: answering a reply answers its comment), a form to
// write one, Reply, Report and Delete where the viewer may. Counts change as the viewer acts,
// without a reload. The player reports the view and the watch time (`useWatchReport`).
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError, session, type Schemas } from "./api";
import { Avatar } from "./profile";
import { Link } from "./router";
import { Problem, useUser } from "./ui";
import { ReportButton } from "./safety";
import "./engage.css";
import { ago } from "./format";

type Comment = Schemas["CommentView"];
type Reply = Schemas["ReplyView"];
type CommentList = Schemas["CommentList"];

/** `1 view`, `2 views`, `1.2K views`. */
export function count(n: number, one: string, many: string): string {
  const num = n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1).replace(/\.0$/, "")}M` : n >= 10_000 ? `${Math.round(n / 1000)}K` : n >= 1000 ? `${(n / 1000).toFixed(1).replace(/\.0$/, "")}K` : String(n);
  return `${num} ${n === 1 ? one : many}`;
}


/** Sends the view when the player loads and, while it plays, a heartbeat every 15 s with the
 * seconds played since the previous one (seeking and pauses do not count). */
export function useWatchReport(video: React.RefObject<HTMLVideoElement | null>, videoId: string | undefined, onViews?: (views: number) => void) {
  const viewsRef = useRef(onViews);
  viewsRef.current = onViews;
  useEffect(() => {
    const v = video.current;
    if (!v || !videoId) return;
    const base = `/api/videos/${encodeURIComponent(videoId)}`;
    let viewId: number | null = null;
    let played = 0;
    let last = v.currentTime;
    let live = true;
    api<Schemas["ViewResult"]>("POST", `${base}/view`).then(
      (r) => {
        viewId = r.view_id;
        if (live) viewsRef.current?.(r.views);
      },
      () => undefined,
    );
    const onTime = () => {
      const d = v.currentTime - last;
      last = v.currentTime;
      if (!v.paused && !v.seeking && d > 0 && d < 1.5) played += d;
    };
    const onSeek = () => (last = v.currentTime);
    const beat = () => {
      if (played < 0.5) return;
      const watched_s = Math.min(600, played);
      played = 0;
      // `keepalive`, so that the last beat is sent as the page goes away.
      const s = session();
      fetch(`${base}/heartbeat`, {
        method: "POST",
        keepalive: true,
        headers: { "content-type": "application/json", ...(s ? { authorization: `Bearer ${s.access_token}` } : {}) },
        body: JSON.stringify({ view_id: viewId, position_s: v.currentTime, watched_s } satisfies Schemas["Heartbeat"]),
      }).catch(() => undefined);
    };
    v.addEventListener("timeupdate", onTime);
    v.addEventListener("seeked", onSeek);
    const t = setInterval(beat, 15_000);
    window.addEventListener("pagehide", beat);
    return () => {
      live = false;
      beat();
      clearInterval(t);
      window.removeEventListener("pagehide", beat);
      v.removeEventListener("timeupdate", onTime);
      v.removeEventListener("seeked", onSeek);
    };
  }, [video, videoId]);
}

/** The like button with the video's likes. */
export function LikeButton({ videoId, likes, liked }: { videoId: string; likes: number; liked: boolean }) {
  const user = useUser();
  const [state, setState] = useState({ likes, liked });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setState({ likes, liked }), [likes, liked]);
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<Schemas["LikeResult"]>(state.liked ? "DELETE" : "POST", `/api/videos/${encodeURIComponent(videoId)}/like`);
      setState({ likes: r.likes, liked: r.liked });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (!user) {
    return (
      <Link className="button ghost small like-button" href="/login" data-testid="like-button" aria-label={`Log in to like (${count(state.likes, "like", "likes")})`}>
        <Heart filled={false} />
        <span data-testid="like-count">{state.likes}</span>
      </Link>
    );
  }
  return (
    <span className="like-wrap">
      <button
        type="button"
        className={`button ghost small like-button${state.liked ? " liked" : ""}`}
        aria-pressed={state.liked}
        aria-label={state.liked ? `Unlike (${count(state.likes, "like", "likes")})` : `Like (${count(state.likes, "like", "likes")})`}
        onClick={toggle}
        disabled={busy}
        data-testid="like-button"
      >
        <Heart filled={state.liked} />
        <span data-testid="like-count">{state.likes}</span>
      </button>
      {error ? <Problem error={error} /> : null}
    </span>
  );
}

function Heart({ filled }: { filled: boolean }) {
  return (
    <svg viewBox="0 0 24 24" width="16" height="16" fill={filled ? "currentColor" : "none"} stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d="M12 20s-7-4.4-7-10a4 4 0 0 1 7-2.6A4 4 0 0 1 19 10c0 5.6-7 10-7 10z" />
    </svg>
  );
}

/** A comment box; `onPosted` gets what the server stored. */
function CommentForm({ videoId, parentId, label, onPosted, onCancel, autoFocus }: { videoId: string; parentId?: number; label: string; onPosted: (c: Comment) => void; onCancel?: () => void; autoFocus?: boolean }) {
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!body.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const c = await api<Comment>("POST", `/api/videos/${encodeURIComponent(videoId)}/comments`, { body, parent_id: parentId ?? null } satisfies Schemas["NewComment"]);
      setBody("");
      onPosted(c);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="comment-form" onSubmit={submit} aria-label={label}>
      <label className="visually-hidden" htmlFor={`comment-${parentId ?? "top"}`}>{label}</label>
      <textarea
        id={`comment-${parentId ?? "top"}`}
        value={body}
        onChange={(e) => setBody(e.target.value)}
        placeholder={parentId ? "Write a reply…" : "Add a comment…"}
        maxLength={2000}
        rows={parentId ? 2 : 3}
        autoFocus={autoFocus}
      />
      <Problem error={error} />
      <div className="comment-form-actions">
        {onCancel && (
          <button type="button" className="link small" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="small" disabled={busy || !body.trim()}>
          {parentId ? "Reply" : "Comment"}
        </button>
      </div>
    </form>
  );
}

/** Report and Delete under a comment. */
function CommentActions({ c, onDeleted, onReply }: { c: Comment | Reply; onDeleted: () => void; onReply?: () => void }) {
  const user = useUser();
  const [error, setError] = useState<unknown>(null);
  const del = async () => {
    if (!confirm(c.mine ? "Delete your comment? Its replies go with it." : `Delete ${c.author.display_name}'s comment? Its replies go with it.`)) return;
    try {
      await api("DELETE", `/api/comments/${c.id}`);
      onDeleted();
    } catch (e) {
      setError(e);
    }
  };
  if (!user) return null;
  return (
    <>
      <div className="comment-actions">
        {onReply && (
          <button type="button" className="link small" onClick={onReply} aria-label={`Reply to ${c.author.display_name}`}>
            Reply
          </button>
        )}
        {!c.mine && <ReportButton kind="comment" target={String(c.id)} label={`${c.author.display_name}'s comment`} compact testId="report-comment" />}
        {c.can_delete && (
          <button type="button" className="link small danger" onClick={del} aria-label={c.mine ? "Delete your comment" : `Delete ${c.author.display_name}'s comment`}>
            Delete
          </button>
        )}
      </div>
      <Problem error={error} />
    </>
  );
}

function CommentBody({ c }: { c: Comment | Reply }) {
  return (
    <>
      <div className="comment-head">
        {c.author.handle ? (
          <Link href={`/c/${encodeURIComponent(c.author.handle)}`} className="comment-author">
            <Avatar url={c.author.avatar_url} name={c.author.display_name} />
            <span>{c.author.display_name}</span>
          </Link>
        ) : (
          <span className="comment-author">
            <Avatar url={c.author.avatar_url} name={c.author.display_name} />
            <span>{c.author.display_name}</span>
          </span>
        )}
        <time className="muted fine" dateTime={c.created_at} title={new Date(c.created_at).toLocaleString()}>
          {ago(c.created_at)}
        </time>
      </div>
      <p className="comment-text" data-testid="comment-text">{c.body}</p>
    </>
  );
}

/** The comments of a video. `onCount` hears the new total after each change. */
export function Comments({ videoId, total, onCount }: { videoId: string; total: number; onCount: (n: number) => void }) {
  const user = useUser();
  const [threads, setThreads] = useState<Comment[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const [replyTo, setReplyTo] = useState<number | null>(null);
  const base = `/api/videos/${encodeURIComponent(videoId)}/comments`;

  const load = async (cursor?: string) => {
    try {
      const page = await api<CommentList>("GET", cursor ? `${base}?cursor=${encodeURIComponent(cursor)}` : base);
      setThreads((t) => (cursor ? [...t, ...page.comments] : page.comments));
      setNext(page.next_cursor ?? null);
      onCount(page.total);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => {
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [videoId]);

  const posted = (c: Comment) => {
    if (c.parent_id == null) setThreads((t) => [c, ...t]);
    else
      setThreads((t) =>
        t.map((top) => (top.id === c.parent_id ? { ...top, replies: [...top.replies, c], reply_count: top.reply_count + 1 } : top)),
      );
    setReplyTo(null);
    onCount(total + 1);
  };
  // A deletion takes the comment's replies with it: the list and the count are read again.
  const deleted = () => load();

  return (
    <section className="comments card" aria-labelledby="comments-title" data-testid="comments">
      <h2 id="comments-title">
        Comments <span className="muted" data-testid="comment-count">{total}</span>
      </h2>
      {user ? (
        <CommentForm videoId={videoId} label="Add a comment" onPosted={posted} />
      ) : (
        <p className="muted">
          <Link href="/login">Log in</Link> to comment.
        </p>
      )}
      {error instanceof ApiError && error.status === 404 ? null : <Problem error={error} onRetry={() => load()} />}
      {loaded && threads.length === 0 && !error && <p className="muted comments-empty">No comments yet. Be the first to say something.</p>}
      <ol className="comment-list">
        {threads.map((c) => (
          <li key={c.id} className="comment" data-testid="comment">
            <CommentBody c={c} />
            <CommentActions c={c} onDeleted={deleted} onReply={() => setReplyTo(replyTo === c.id ? null : c.id)} />
            {(c.replies.length > 0 || replyTo === c.id) && (
              <ol className="comment-replies" aria-label={`Replies to ${c.author.display_name}`}>
                {c.replies.map((r) => (
                  <li key={r.id} className="comment reply" data-testid="reply">
                    <CommentBody c={r} />
                    <CommentActions c={r} onDeleted={deleted} onReply={() => setReplyTo(c.id)} />
                  </li>
                ))}
                {c.reply_count > c.replies.length && <li className="muted fine">{c.reply_count - c.replies.length} more replies are not shown.</li>}
                {replyTo === c.id && (
                  <li>
                    <CommentForm videoId={videoId} parentId={c.id} label={`Reply to ${c.author.display_name}`} onPosted={posted} onCancel={() => setReplyTo(null)} autoFocus />
                  </li>
                )}
              </ol>
            )}
          </li>
        ))}
      </ol>
      {next && (
        <button type="button" className="ghost small" onClick={() => load(next)}>
          Show more comments
        </button>
      )}
    </section>
  );
}
