import { useEffect, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { Chat, Player, useSocket } from "../live";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, useLoad } from "../ui";
import { ChatRules, PlatformChat } from "./ChatSetup";

type Source = Schemas["SourceView"];
type Mine = Schemas["MySubscription"];

const PRESETS = ["youtube", "twitch", "facebook", "kick", "custom"];

export default function Dashboard() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const sources = useLoad(() => api<Schemas["SourceList"]>("GET", "/api/sources"));
  const mine = useLoad(() => api<Mine>("GET", "/api/subscriptions/my-subscription"));
  const socket = useSocket();
  const [live, setLive] = useState<Record<number, string>>({});
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  // What the server tells the owner as it happens: the month's streaming time running out (to
  // this user's sockets) and why a stream ended (to its stream room).
  useEffect(() => {
    if (!socket) return;
    const warned = (e: { used_minutes: number; limit_minutes: number }) => {
      setNotice(`${e.used_minutes} of your plan's ${e.limit_minutes} streaming minutes this month are used. Upgrade your plan to keep streaming.`);
      mine.reload();
    };
    const ended = (e: { reason: string }) => {
      setNotice(`Your stream ended: ${e.reason}.`);
      mine.reload();
    };
    socket.on("usage-warning", warned);
    socket.on("stream-ended", ended);
    return () => {
      socket.off("usage-warning", warned);
      socket.off("stream-ended", ended);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket]);

  // Live status of every source, over Socket.IO (its events are not in the OpenAPI document:
  // the payload types here are hand-written).
  useEffect(() => {
    if (!socket || !sources.data) return;
    const on = (status: string, info: { sourceId: number }) => setLive((l) => ({ ...l, [info.sourceId]: status }));
    socket.on("stream-status", on);
    const join = () => sources.data?.sources.forEach((s) => socket.emit("join-stream", { sourceId: s.id }));
    socket.on("connect", join);
    if (socket.connected) join();
    return () => {
      socket.off("stream-status", on);
      socket.off("connect", join);
    };
  }, [socket, sources.data]);

  async function create(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", "/api/sources", { name: name.trim() } satisfies Schemas["CreateSource"]);
      setName("");
      sources.reload();
      mine.reload();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <div className="dashboard">
      <h1>Your streams</h1>
      {notice && (
        <p className="notice" role="status" data-testid="stream-notice">
          {notice}{" "}
          <button className="link small" onClick={() => setNotice(null)}>Dismiss</button>
        </p>
      )}
      <Usage mine={mine.data} error={mine.error} />
      <form className="inline" onSubmit={create} aria-label="Create a source">
        <label>
          New source
          <input name="source_name" required maxLength={100} placeholder="e.g. Main camera" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" disabled={!name.trim()}>Create</button>
      </form>
      <Problem error={error} />
      <Problem error={sources.error} onRetry={sources.reload} />
      {!sources.data && !sources.error && <Loading what="your sources" />}
      {sources.data?.sources.length === 0 && (
        <Empty>
          <p>No sources yet. Create one above; OBS then streams to it with its key.</p>
        </Empty>
      )}
      {sources.data?.sources.map((s) => (
        <SourceCard
          key={s.id}
          source={s}
          status={live[s.id] ?? (s.is_active ? "live" : "offline")}
          socket={socket}
          onChange={() => {
            sources.reload();
            mine.reload();
          }}
        />
      ))}
    </div>
  );
}

function Usage({ mine, error }: { mine: Mine | null; error: unknown }) {
  if (error) return <Problem error={error} />;
  if (!mine) return <Loading what="your plan" />;
  return <UsageLine mine={mine} />;
}

/** The plan's usage; "Upgrade" only where this server takes payments (else there is nothing to
 * buy, and a viewer is not sent to a page that says so). */
function UsageLine({ mine }: { mine: Mine }) {
  const options = useLoad(() => api<Schemas["BillingOptions"]>("GET", "/api/payments/options"));
  const canPay = (options.data?.gateways.length ?? 0) > 0;
  const p = mine.subscription.plan;
  return (
    <section id="plan" className="card usage" aria-label="Plan and usage">
      <p>
        <strong>{p.name}</strong> plan{mine.subscription.status !== "active" && ` (${mine.subscription.status.replace("_", " ")})`}:{" "}
        {mine.usage.sources_used} of {p.max_sources} sources, {mine.usage.destinations_used} of {p.max_destinations} destinations,{" "}
        {mine.usage.streaming_hours_used.toFixed(1)} of {p.max_streaming_hours_monthly} hours this month.{" "}
        {p.is_default ? canPay && <Link href="/dashboard/subscription">Upgrade</Link> : <Link href="/dashboard/subscription">Plan and billing</Link>}
      </p>
    </section>
  );
}

function SourceCard({ source, status, socket, onChange }: { source: Source; status: string; socket: ReturnType<typeof useSocket>; onChange: () => void }) {
  const [showKey, setShowKey] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [copied, setCopied] = useState("");
  const [error, setError] = useState<unknown>(null);
  const isLive = status === "live";

  async function copy(what: string, text: string) {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(what);
      setTimeout(() => setCopied(""), 1500);
    } catch {
      setShowKey(true);
    }
  }
  async function act(method: string, path: string, body?: unknown, confirmText?: string) {
    if (confirmText && !confirm(confirmText)) return;
    setError(null);
    try {
      await api(method, path, body);
      onChange();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <article className="card source" aria-labelledby={`s-${source.id}`}>
      <header>
        {renaming === null ? (
          <h2 id={`s-${source.id}`}>
            {source.name}{" "}
            <button className="link small" onClick={() => setRenaming(source.name)} aria-label={`Rename ${source.name}`}>Rename</button>
          </h2>
        ) : (
          <form
            className="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              await act("PUT", `/api/sources/${source.id}`, { name: renaming.trim() } satisfies Schemas["UpdateSource"]);
              setRenaming(null);
            }}
          >
            <label>
              Name
              <input name="rename" required maxLength={100} value={renaming} onChange={(e) => setRenaming(e.target.value)} autoFocus />
            </label>
            <button type="submit" disabled={!renaming.trim()}>Save</button>
            <button type="button" className="ghost" onClick={() => setRenaming(null)}>Cancel</button>
          </form>
        )}
        <span className="status">
          <span className={`badge ${isLive ? "live" : ""}`} data-testid="source-status">{isLive ? "Live" : status === "starting" ? "Starting" : "Offline"}</span>
          {(isLive || status === "starting") && (
            <button className="ghost small danger-outline" data-testid="end-stream" onClick={() => act("DELETE", `/api/streams/active/${source.id}`, undefined, `End the stream on ${source.name}? Your encoder is disconnected and viewers see the stream end.`)}>
              End stream
            </button>
          )}
        </span>
      </header>
      <div className="grid">
        <div>
          <h3>OBS setup</h3>
          <p className="muted">Settings → Stream → Service: Custom…</p>
          <dl>
            <dt>Server</dt>
            <dd>
              <code data-testid="ingest-url">{source.ingest_url}</code>{" "}
              <button className="link small" onClick={() => copy("server", source.ingest_url)}>{copied === "server" ? "Copied" : "Copy"}</button>
            </dd>
            <dt>Stream key</dt>
            <dd>
              <code data-testid="stream-key">{showKey ? source.stream_key : "•".repeat(24)}</code>{" "}
              <button className="link small" onClick={() => setShowKey((v) => !v)} aria-pressed={showKey}>{showKey ? "Hide" : "Show"}</button>{" "}
              <button className="link small" onClick={() => copy("key", source.stream_key)}>{copied === "key" ? "Copied" : "Copy"}</button>{" "}
              <button className="link small" onClick={() => act("POST", `/api/sources/${source.id}/rotate-key`, undefined, "Rotate the key? OBS must then use the new one.")}>Rotate</button>
            </dd>
            <dt>Watch page</dt>
            <dd>
              <a href={`/watch/${source.playback_id}`}>/watch/{source.playback_id}</a>
            </dd>
          </dl>
          <p>
            <button className="link small danger" onClick={() => act("DELETE", `/api/sources/${source.id}`, undefined, `Delete ${source.name}? Its key stops working.`)}>Delete source</button>
          </p>
        </div>
        <div>
          <h3>Preview</h3>
          {isLive ? <Player src={source.playback.hls} title={`Preview of ${source.name}`} /> : <Empty>Start streaming from OBS to see the preview.</Empty>}
        </div>
      </div>
      <Problem error={error} />
      <Destinations source={source} socket={socket} onChange={onChange} />
      <PlatformChat sourceId={source.id} />
      <Chat socket={socket} room={{ sourceId: source.id }} canModerate />
      <ChatRules sourceId={source.id} />
    </article>
  );
}

/** A restream destination's state change, pushed to its owner's sockets. Socket.IO events are
 * not in the OpenAPI document, so this is typed by hand. */
type DestinationStatusEvent = { sourceId: number; destinationId: number; state: string; error: string | null };

function Destinations({ source, socket, onChange }: { source: Source; socket: ReturnType<typeof useSocket>; onChange: () => void }) {
  const list = useLoad(() => api<Schemas["DestinationList"]>("GET", `/api/sources/${source.id}/destinations`), [source.id]);
  const [platform, setPlatform] = useState("youtube");
  const [url, setUrl] = useState("");
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  // Push states change while live: the server tells this user's sockets when one does, and the
  // list is read again then, when the stream starts or stops, and after a reconnect (which may
  // have missed some).
  useEffect(() => {
    if (!socket) return;
    const on = (e: DestinationStatusEvent) => {
      if (e.sourceId === source.id) list.reload();
    };
    // When the stream starts or stops, its pushes start or stop with it.
    const onStream = (_status: string, info: { sourceId: number }) => {
      if (info.sourceId === source.id) list.reload();
    };
    socket.on("destination-status", on);
    socket.on("stream-status", onStream);
    socket.on("connect", list.reload);
    return () => {
      socket.off("destination-status", on);
      socket.off("stream-status", onStream);
      socket.off("connect", list.reload);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, source.id]);

  async function add(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await api("POST", `/api/sources/${source.id}/destinations`, { platform, rtmp_url: url.trim() || undefined, stream_key: key.trim() } satisfies Schemas["AddDestination"]);
      setUrl("");
      setKey("");
      list.reload();
      onChange();
    } catch (err) {
      setError(err);
    }
  }
  async function act(method: string, path: string, body?: unknown) {
    setError(null);
    try {
      await api(method, path, body);
      list.reload();
      onChange();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <section aria-label={`Destinations of ${source.name}`}>
      <h3>Destinations</h3>
      {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
      {!list.data && !list.error && <Loading what="destinations" />}
      {list.data?.destinations.length === 0 && <p className="muted">Not forwarded anywhere yet.</p>}
      <ul className="destinations">
        {list.data?.destinations.map((d) => (
          <li key={d.id} data-testid="destination">
            <strong>{d.platform}</strong> <code>{d.rtmp_url}</code>{" "}
            <span className={`badge ${d.status?.state === "live" ? "live" : ""}`} data-testid="destination-status" title={d.status?.last_error ?? ""}>
              {d.is_active ? (d.status?.state ?? "idle") : "off"}
            </span>{" "}
            {d.is_active && d.status?.last_error && (d.status.state === "retrying" || d.status.state === "failed") && (
              <span className="muted small-text" data-testid="destination-error">{d.status.last_error} </span>
            )}
            <label className="toggle">
              <input type="checkbox" checked={d.is_active} onChange={(e) => act("PATCH", `/api/sources/destinations/${d.id}`, { is_active: e.target.checked } satisfies Schemas["UpdateDestination"])} /> On
            </label>{" "}
            <button className="link small danger" onClick={() => act("DELETE", `/api/sources/destinations/${d.id}`)}>Remove</button>
          </li>
        ))}
      </ul>
      <form className="inline wrap" onSubmit={add} aria-label="Add a destination">
        <label>
          Platform
          <select name="platform" value={platform} onChange={(e) => setPlatform(e.target.value)}>
            {PRESETS.map((p) => (
              <option key={p} value={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Server URL {platform !== "custom" && <span className="muted">(optional)</span>}
          <input name="rtmp_url" placeholder="rtmp://…" value={url} onChange={(e) => setUrl(e.target.value)} required={platform === "custom"} />
        </label>
        <label>
          Stream key
          <input name="destination_key" required value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
        </label>
        <button type="submit" disabled={!key.trim()}>Add</button>
      </form>
      <Problem error={error} />
    </section>
  );
}
