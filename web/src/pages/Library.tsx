// The creator's videos: storage used of the plan's quota, uploads (resumable, with the tus
// protocol: progress, speed, time left, pause, resume and cancel, and a file chosen again after
// a reload continues where it stopped), processing progress pushed over Socket.IO (with a poll
// as a fallback), and the list of videos with edit and delete.
import { useEffect, useRef, useState, type DragEvent, type FormEvent, type ReactNode } from "react";
import * as tus from "tus-js-client";
import { api, renewSession, session } from "../api";
import { useSocket } from "../live";
import { Link, navigate } from "../router";
import { Problem, useLoad } from "../ui";
import { AccessForm } from "../memberships";
import { type Schemas } from "../api";
import { bytes, clock, day, Poster, StatusBadge, stageWords, VISIBILITY, type UpdateVideo, type Video, type VideoList, type VideoProgressEvent } from "../videos";

/** Videos on a page of the list. */
const LIMIT = 20;
/** Bytes per PATCH request: large enough to be quick, small enough that an interruption costs little. */
const CHUNK = 5 * 1024 * 1024;
/** While a video processes without news over Socket.IO for this long, the page asks the API. */
const POLL_MS = 3000;
/** Which video each tus upload made (`X-Video-Id` of its creation), to follow it after a reload. */
const UPLOAD_VIDEOS = "ferrocast.uploads";

type UploadState = "starting" | "uploading" | "paused" | "finishing" | "failed";
type UploadItem = {
  key: number;
  name: string;
  total: number;
  sent: number;
  /** Bytes per second, smoothed. */
  speed: number;
  state: UploadState;
  error?: string;
  /** Where a resumed upload continued from (percent), once known. */
  resumedAt?: number;
};

function uploadVideos(): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(UPLOAD_VIDEOS) ?? "{}");
  } catch {
    return {};
  }
}
function rememberUploadVideo(url: string, videoId: string | null) {
  const m = uploadVideos();
  if (videoId) m[url] = videoId;
  else delete m[url];
  localStorage.setItem(UPLOAD_VIDEOS, JSON.stringify(m));
}

/** A tus refusal in the API's words (its JSON error body), else tus's own. */
function uploadError(e: Error): string {
  const res = (e as tus.DetailedError).originalResponse;
  if (res) {
    try {
      const body = JSON.parse(res.getBody());
      if (body?.error) return body.details ? `${body.error}. ${body.details}` : String(body.error);
    } catch {
      /* not JSON */
    }
    return `The upload was refused (${res.getStatus()}).`;
  }
  return navigator.onLine ? "The server cannot be reached. Resume to try again." : "You are offline. Resume when the connection is back.";
}

const title = (name: string) => name.replace(/\.[^.]{1,5}$/, "").replace(/[_]+/g, " ").trim().slice(0, 100) || "Untitled video";

/** The uploads of this page: each a tus upload with its state for the screen. */
function useUploads(onFinished: () => void) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const uploads = useRef(new Map<number, tus.Upload>());
  const next = useRef(1);
  const finished = useRef(onFinished);
  finished.current = onFinished;
  const patch = (key: number, change: Partial<UploadItem>) => setItems((all) => all.map((i) => (i.key === key ? { ...i, ...change } : i)));

  useEffect(() => {
    const all = uploads.current;
    return () => all.forEach((u) => u.abort());
  }, []);

  async function add(file: File) {
    const key = next.current++;
    setItems((all) => [...all, { key, name: file.name, total: file.size, sent: 0, speed: 0, state: "starting" }]);
    // A refresh of the access token in flight: requests wait for it.
    let refreshing: Promise<boolean> | null = null;
    let samples: { at: number; sent: number }[] = [];
    let first = true;
    const upload = new tus.Upload(file, {
      endpoint: "/api/uploads",
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, filetype: file.type, title: title(file.name) },
      async onBeforeRequest(req) {
        if (refreshing) await refreshing;
        const token = session()?.access_token;
        if (token) req.setHeader("Authorization", `Bearer ${token}`);
      },
      onAfterResponse(req, res) {
        const id = res.getHeader("X-Video-Id");
        if (req.getMethod() === "POST" && id && upload.url) rememberUploadVideo(upload.url, id);
      },
      onShouldRetry(err, attempt) {
        const status = err.originalResponse?.getStatus() ?? 0;
        // An expired access token: renew it and try again (once or twice).
        if (status === 401) {
          if (attempt > 1) return false;
          refreshing = renewSession();
          return true;
        }
        return (!(status >= 400 && status < 500) || status === 409 || status === 423) && navigator.onLine;
      },
      onProgress(sent, total) {
        const now = performance.now();
        samples = [...samples.filter((s) => now - s.at < 5000), { at: now, sent }];
        const oldest = samples[0];
        const speed = now - oldest.at > 300 ? ((sent - oldest.sent) * 1000) / (now - oldest.at) : 0;
        const change: Partial<UploadItem> = { sent, total, speed, state: sent >= total ? "finishing" : "uploading", error: undefined };
        if (first) {
          first = false;
          if (resumed) change.resumedAt = Math.floor((sent / total) * 100);
        }
        patch(key, change);
      },
      onSuccess() {
        if (upload.url) rememberUploadVideo(upload.url, null);
        uploads.current.delete(key);
        setItems((all) => all.filter((i) => i.key !== key));
        finished.current();
      },
      onError(e) {
        patch(key, { state: "failed", error: uploadError(e), speed: 0 });
      },
    });
    uploads.current.set(key, upload);
    let resumed = false;
    try {
      const previous = await upload.findPreviousUploads();
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        resumed = true;
      }
    } catch {
      /* nothing to resume from */
    }
    upload.start();
    patch(key, { state: "uploading" });
  }

  return {
    items,
    add,
    pause(key: number) {
      uploads.current.get(key)?.abort();
      patch(key, { state: "paused", speed: 0 });
    },
    resume(key: number) {
      uploads.current.get(key)?.start();
      patch(key, { state: "uploading", error: undefined });
    },
    async cancel(key: number) {
      const u = uploads.current.get(key);
      uploads.current.delete(key);
      setItems((all) => all.filter((i) => i.key !== key));
      if (u) {
        if (u.url) rememberUploadVideo(u.url, null);
        // Terminates the upload on the server (tus DELETE), which deletes its video.
        await u.abort(true).catch(() => {});
        finished.current();
      }
    },
  };
}

/** Uploads a previous visit left unfinished (tus keeps their addresses in localStorage). */
function useUnfinished(active: UploadItem[]) {
  const [list, setList] = useState<tus.PreviousUpload[]>([]);
  const names = active.map((a) => a.name).join("\n");
  useEffect(() => {
    const storage = tus.defaultOptions.urlStorage;
    storage.findAllUploads().then(
      (all) => setList(all.filter((u) => !names.split("\n").includes(u.metadata?.filename ?? ""))),
      () => setList([]),
    );
  }, [names]);
  async function discard(u: tus.PreviousUpload) {
    const token = session()?.access_token;
    if (u.uploadUrl) {
      await tus.Upload.terminate(u.uploadUrl, { headers: token ? { Authorization: `Bearer ${token}` } : {} }).catch(() => {});
      rememberUploadVideo(u.uploadUrl, null);
    }
    await tus.defaultOptions.urlStorage.removeUpload(u.urlStorageKey);
    setList((l) => l.filter((x) => x.urlStorageKey !== u.urlStorageKey));
  }
  return { list, discard };
}

function UploadRow({ item, onPause, onResume, onCancel }: { item: UploadItem; onPause: () => void; onResume: () => void; onCancel: () => void }) {
  const percent = item.total > 0 ? Math.min(100, Math.floor((item.sent / item.total) * 100)) : 0;
  const left = item.speed > 0 ? (item.total - item.sent) / item.speed : null;
  const words: Record<UploadState, string> = {
    starting: "Starting…",
    uploading: `${bytes(item.sent)} of ${bytes(item.total)}`,
    paused: `Paused at ${bytes(item.sent)} of ${bytes(item.total)}`,
    finishing: "Finishing…",
    failed: "Stopped",
  };
  return (
    <li className={`vod-upload ${item.state}`} data-testid="upload">
      <div className="vod-upload-head">
        <strong className="vod-upload-name">{item.name}</strong>
        <span className="vod-upload-percent" data-testid="upload-percent">{percent} %</span>
      </div>
      <div
        className="vod-upload-bar"
        role="progressbar"
        aria-label={`Uploading ${item.name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        data-testid="upload-progress"
      >
        <span style={{ width: `${percent}%` }} />
      </div>
      <div className="vod-upload-foot">
        <span className="muted">
          {words[item.state]}
          {item.state === "uploading" && item.speed > 0 && (
            <>
              {" · "}
              <span data-testid="upload-speed">{bytes(item.speed)}/s</span>
              {left !== null && <> · {clock(Math.ceil(left))} left</>}
            </>
          )}
          {item.resumedAt !== undefined && <span data-testid="upload-resumed"> · Resumed at {item.resumedAt} %</span>}
        </span>
        <span className="actions">
          {item.state === "paused" || item.state === "failed" ? (
            <button className="ghost small" onClick={onResume}>Resume</button>
          ) : (
            <button className="ghost small" onClick={onPause} disabled={item.state !== "uploading"}>Pause</button>
          )}
          <button className="ghost small danger-outline" onClick={onCancel}>Cancel</button>
        </span>
      </div>
      {item.error && <p className="problem" role="alert">{item.error}</p>}
    </li>
  );
}

function StorageBar({ storage }: { storage: VideoList["storage"] }) {
  const limited = storage.quota_bytes > 0;
  const share = limited ? Math.min(1, storage.used_bytes / storage.quota_bytes) : 0;
  return (
    <div className="vod-storage" data-testid="storage">
      <div className="meter-label">
        <span>Storage</span>
        <span data-testid="storage-used">
          <strong>{bytes(storage.used_bytes)}</strong>
          {limited ? ` of ${bytes(storage.quota_bytes)}` : " used"}
        </span>
      </div>
      {limited && (
        <span
          className={`meter ${share >= 1 ? "full" : share >= 0.85 ? "near" : ""}`}
          role="meter"
          aria-label="Storage used"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(share * 100)}
        >
          <span style={{ width: `${Math.max(share > 0 ? 1 : 0, share * 100)}%` }} />
        </span>
      )}
    </div>
  );
}

/** A modal dialog (the browser's `<dialog>`): Escape and the close button call `onClose`. */
function Dialog({ title, onClose, children, testId }: { title: string; onClose: () => void; children: ReactNode; testId: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="vod-dialog"
      aria-label={title}
      data-testid={testId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header className="vod-dialog-head">
        <h2>{title}</h2>
        <button className="ghost small" onClick={onClose} aria-label="Close">✕</button>
      </header>
      {children}
    </dialog>
  );
}

function EditVideo({ video, onSaved, onClose }: { video: Video; onSaved: (v: Video) => void; onClose: () => void }) {
  const [form, setForm] = useState({ title: video.title, description: video.description, tags: video.tags.join(", "), visibility: video.visibility });
  const tiers = useLoad(() => api<Schemas["MyTiers"]>("GET", "/api/me/tiers"), []);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const tags = form.tags
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
      const saved = await api<Video>("PATCH", `/api/videos/${encodeURIComponent(video.id)}`, {
        title: form.title.trim(),
        description: form.description,
        tags,
        visibility: form.visibility,
      } satisfies UpdateVideo);
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog title="Edit video" onClose={onClose} testId="edit-video">
      <form onSubmit={save}>
        <label>
          Title
          <input name="title" required maxLength={200} value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
        </label>
        <label>
          Description
          <textarea name="description" rows={5} maxLength={5000} value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} placeholder="Tell viewers about your video" />
        </label>
        <label>
          Tags
          <input name="tags" value={form.tags} onChange={(e) => setForm({ ...form, tags: e.target.value })} placeholder="music, live, tutorial" aria-describedby="tags-hint" />
          <span id="tags-hint" className="muted fine">Separate tags with commas.</span>
        </label>
        <label>
          Visibility
          <select name="visibility" value={form.visibility} onChange={(e) => setForm({ ...form, visibility: e.target.value })}>
            <option value="public">Public: anyone can find and watch it</option>
            <option value="unlisted">Unlisted: anyone with the link can watch it</option>
            <option value="private">Private: only you can watch it</option>
          </select>
        </label>
        <Problem error={error} />
        <div className="actions vod-dialog-actions">
          <button type="button" className="ghost" onClick={onClose}>Cancel</button>
          <button type="submit" disabled={busy || !form.title.trim()}>{busy ? "Saving…" : "Save"}</button>
        </div>
      </form>
      <hr className="vod-dialog-rule" />
      <AccessForm path={`/api/videos/${encodeURIComponent(video.id)}/access`} testId="video-access" initial={video.access} tiers={tiers.data?.tiers.filter((t) => t.active) ?? []} />
    </Dialog>
  );
}

function DeleteVideo({ video, onDeleted, onClose }: { video: Video; onDeleted: () => void; onClose: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function remove() {
    setBusy(true);
    try {
      await api("DELETE", `/api/videos/${encodeURIComponent(video.id)}`);
      onDeleted();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  return (
    <Dialog title="Delete this video?" onClose={onClose} testId="delete-video">
      <p>
        <strong>{video.title}</strong> and its files are deleted for good{video.size_bytes > 0 && <>, freeing {bytes(video.size_bytes)} of storage</>}. This cannot be undone.
      </p>
      <Problem error={error} />
      <div className="actions vod-dialog-actions">
        <button type="button" className="ghost" onClick={onClose}>Cancel</button>
        <button type="button" className="danger" onClick={remove} disabled={busy}>{busy ? "Deleting…" : "Delete video"}</button>
      </div>
    </Dialog>
  );
}

function VideoRow({ video, progress, onEdit, onDelete }: { video: Video; progress?: VideoProgressEvent; onEdit: () => void; onDelete: () => void }) {
  // Pushed progress is newer than the list's until the list is loaded again.
  const shown = progress && (video.status === "uploading" || video.status === "processing") ? { ...video, status: progress.status } : video;
  const p = progress ? { stage: progress.stage, percent: progress.percent } : video.progress;
  const ready = video.status === "ready";
  return (
    <li className="vod-row" data-testid="video-row" data-video-id={video.id} data-status={shown.status}>
      <Link href={video.watch_url} className="vod-row-poster" tabIndex={-1} aria-hidden="true">
        <Poster video={video} />
      </Link>
      <div className="vod-row-main">
        <Link href={video.watch_url} className="vod-row-title" data-testid="video-title">{video.title}</Link>
        <p className="vod-row-desc">{video.description || (video.kind === "recording" ? "Recorded broadcast" : "No description")}</p>
        {video.tags.length > 0 && (
          <p className="vod-tags">
            {video.tags.slice(0, 6).map((t) => (
              <span key={t} className="vod-tag">#{t}</span>
            ))}
          </p>
        )}
        <div className="vod-row-actions">
          <button className="link small" onClick={onEdit} aria-label={`Edit ${video.title}`}>Edit</button>
          <Link href={video.watch_url} className="small-link">{ready ? "Watch" : "Open"}</Link>
          {ready && video.playback?.mp4 && (
            <a href={video.playback.mp4} download className="small-link">Download</a>
          )}
          <button className="link small danger" onClick={onDelete} aria-label={`Delete ${video.title}`}>Delete</button>
        </div>
      </div>
      <div className="vod-row-status">
        <StatusBadge video={shown} progress={p} />
        {shown.status === "processing" && <span className="muted fine">{stageWords(p?.stage)}</span>}
        {shown.status === "processing" && (
          <span className="vod-mini-bar" aria-hidden="true">
            <span style={{ width: `${Math.max(2, Math.min(100, p?.percent ?? 0))}%` }} />
          </span>
        )}
        {video.status === "failed" && video.failure && (
          <span className="vod-failure" data-testid="video-failure">{video.failure}</span>
        )}
      </div>
      <dl className="vod-row-facts">
        <div>
          <dt>Visibility</dt>
          <dd className={`vod-visibility ${video.visibility}`}>{VISIBILITY[video.visibility] ?? video.visibility}</dd>
        </div>
        <div>
          <dt>Date</dt>
          <dd>{day(video.created_at)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{bytes(video.size_bytes)}</dd>
        </div>
        <div>
          <dt>Type</dt>
          <dd>{video.kind === "recording" ? "Broadcast" : video.kind === "short" ? "Short" : "Upload"}</dd>
        </div>
      </dl>
    </li>
  );
}

export default function Library() {
  useEffect(() => {
    if (!session()) navigate("/login");
    document.title = "Your videos · ferrocast";
  }, []);
  const [page, setPage] = useState(1);
  const list = useLoad(() => api<VideoList>("GET", `/api/videos?page=${page}&limit=${LIMIT}`), [page]);
  const socket = useSocket();
  const [pushed, setPushed] = useState<Record<string, VideoProgressEvent>>({});
  const heard = useRef<Record<string, number>>({});
  const [editing, setEditing] = useState<Video | null>(null);
  const [deleting, setDeleting] = useState<Video | null>(null);
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const uploads = useUploads(() => list.reload());
  const unfinished = useUnfinished(uploads.items);

  // Processing progress, pushed to the owner's sockets; the end of processing loads the list
  // again (the video's playback, thumbnail and size are known only then).
  useEffect(() => {
    if (!socket) return;
    const on = (e: VideoProgressEvent) => {
      heard.current[e.video_id] = Date.now();
      setPushed((p) => ({ ...p, [e.video_id]: e }));
      if (e.status === "ready" || e.status === "failed") list.reload();
    };
    socket.on("video-progress", on);
    return () => {
      socket.off("video-progress", on);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket]);

  // The fallback: every video still processing that no push mentioned for a while is asked for.
  const waiting = (list.data?.videos ?? []).filter((v) => v.status === "processing").map((v) => v.id);
  const waitingKey = waiting.join(",");
  useEffect(() => {
    if (!waiting.length) return;
    const t = setInterval(async () => {
      for (const id of waiting) {
        if (Date.now() - (heard.current[id] ?? 0) < POLL_MS) continue;
        try {
          const v = await api<Video>("GET", `/api/videos/${encodeURIComponent(id)}`);
          if (v.status === "ready" || v.status === "failed") list.reload();
          else list.setData((d) => (d ? { ...d, videos: d.videos.map((x) => (x.id === v.id ? v : x)) } : d));
          setPushed((p) => {
            const { [id]: _gone, ...rest } = p;
            return rest;
          });
        } catch {
          /* the next round asks again */
        }
      }
    }, POLL_MS);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [waitingKey]);

  function pick(files: FileList | null) {
    const all = Array.from(files ?? []);
    const videos = all.filter((f) => f.type.startsWith("video/") || /\.(mp4|m4v|mov|mkv|webm|ts|flv|avi)$/i.test(f.name));
    if (videos.length < all.length) setNotice(`${all.length - videos.length === 1 ? "A file is" : "Some files are"} not video and ${all.length - videos.length === 1 ? "was" : "were"} left out.`);
    else setNotice(null);
    videos.forEach((f) => uploads.add(f));
    if (input.current) input.current.value = "";
  }
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    pick(e.dataTransfer.files);
  };
  const dragProps = {
    onDragEnter: (e: DragEvent) => {
      if (e.dataTransfer.types.includes("Files")) {
        e.preventDefault();
        setDragging(true);
      }
    },
    onDragOver: (e: DragEvent) => {
      if (e.dataTransfer.types.includes("Files")) e.preventDefault();
    },
    onDragLeave: (e: DragEvent) => {
      if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
    },
    onDrop,
  };

  const data = list.data;
  const empty = data && data.pagination.total === 0 && uploads.items.length === 0;
  const pg = data?.pagination;
  return (
    <div className={`library ${dragging ? "dragging" : ""}`} {...dragProps}>
      <header className="library-head">
        <div className="library-title">
          <h1>Your videos</h1>
          {data && <StorageBar storage={data.storage} />}
        </div>
        <label className="button vod-upload-button">
          <svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
            <path d="M12 16V4m0 0-5 5m5-5 5 5M4 20h16" />
          </svg>
          Upload
          <input ref={input} type="file" accept="video/*,.mkv,.ts,.flv" multiple className="sr-only" aria-label="Choose video files to upload" data-testid="upload-input" onChange={(e) => pick(e.target.files)} />
        </label>
      </header>
      {notice && (
        <p className="notice" role="status">
          {notice} <button className="link small" onClick={() => setNotice(null)}>Dismiss</button>
        </p>
      )}
      {unfinished.list.length > 0 && (
        <ul className="vod-unfinished" aria-label="Unfinished uploads">
          {unfinished.list.map((u) => (
            <li key={u.urlStorageKey} className="notice" data-testid="unfinished-upload">
              <span>
                <strong>{u.metadata?.filename ?? "An upload"}</strong>
                {u.size ? ` (${bytes(u.size)})` : ""} did not finish. Choose the same file again to continue where it stopped.
              </span>
              <span className="actions">
                <button className="ghost small" onClick={() => input.current?.click()}>Choose file</button>
                <button className="link small" onClick={() => unfinished.discard(u)}>Discard</button>
              </span>
            </li>
          ))}
        </ul>
      )}
      {uploads.items.length > 0 && (
        <section className="card vod-uploads" aria-label="Uploads">
          <ul>
            {uploads.items.map((i) => (
              <UploadRow key={i.key} item={i} onPause={() => uploads.pause(i.key)} onResume={() => uploads.resume(i.key)} onCancel={() => uploads.cancel(i.key)} />
            ))}
          </ul>
        </section>
      )}
      <Problem error={list.error} onRetry={list.reload} />
      {!data && !list.error && (
        <p className="state" role="status" aria-live="polite">
          Loading your videos…
        </p>
      )}
      {empty && (
        <div className="vod-empty" data-testid="library-empty">
          <span className="icon" aria-hidden="true">
            <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
              <rect x="2.5" y="5" width="14" height="14" rx="2.5" />
              <path d="m16.5 10 5-3v10l-5-3" />
            </svg>
          </span>
          <h2>No videos yet</h2>
          <p>
            Your broadcasts are recorded as you stream and appear here when they end (recording is switched per source on the{" "}
            <Link href="/dashboard">Dashboard</Link>).
          </p>
          <p>You can also upload video files: drop them on this page or choose them.</p>
          <button className="vod-empty-button" onClick={() => input.current?.click()}>Choose files to upload</button>
        </div>
      )}
      {data && data.videos.length > 0 && (
        <section className="card vod-list" aria-label="Videos">
          <div className="vod-list-head" aria-hidden="true">
            <span>Video</span>
            <span>Status</span>
            <span className="vod-facts-head">
              <span>Visibility</span>
              <span>Date</span>
              <span>Size</span>
              <span>Type</span>
            </span>
          </div>
          <ul className="vod-rows">
            {data.videos.map((v) => (
              <VideoRow key={v.id} video={v} progress={pushed[v.id]} onEdit={() => setEditing(v)} onDelete={() => setDeleting(v)} />
            ))}
          </ul>
          {pg && pg.pages > 1 && (
            <nav className="pager vod-pager" aria-label="Pages">
              <span className="muted">
                {(pg.page - 1) * pg.limit + 1}–{Math.min(pg.total, pg.page * pg.limit)} of {pg.total}
              </span>
              <button className="ghost small" disabled={pg.page <= 1} onClick={() => setPage(pg.page - 1)}>Previous</button>
              <span>
                Page {pg.page} of {pg.pages}
              </span>
              <button className="ghost small" disabled={pg.page >= pg.pages} onClick={() => setPage(pg.page + 1)}>Next</button>
            </nav>
          )}
        </section>
      )}
      {dragging && (
        <div className="vod-drop" aria-hidden="true">
          <span>Drop video files to upload them</span>
        </div>
      )}
      {editing && (
        <EditVideo
          video={editing}
          onClose={() => setEditing(null)}
          onSaved={(v) => {
            setEditing(null);
            list.setData((d) => (d ? { ...d, videos: d.videos.map((x) => (x.id === v.id ? v : x)) } : d));
          }}
        />
      )}
      {deleting && (
        <DeleteVideo
          video={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            setDeleting(null);
            // The last video of a page gone: the page before.
            if (data && data.videos.length === 1 && page > 1) setPage(page - 1);
            else list.reload();
          }}
        />
      )}
    </div>
  );
}
