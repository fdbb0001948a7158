// The creator's studio: one source at a time (tabs to pick it when there are several) with its
// preview, chat and stream health side by side, going live, its destinations and its setup
// below. Live state arrives over Socket.IO: stream status, viewer counts, health samples each
// second and destination states.
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, session, type Schemas } from "../api";
import { Chat, Player, useSocket, useStage } from "../live";
import { Link, navigate } from "../router";
import { Empty, Loading, PictureButton, Problem, useLoad, StudioTabs } from "../ui";
import { ChatRules, PlatformChat } from "./ChatSetup";
import { LANGUAGES_BY_NAME, loadCategories, parseTags } from "../streaminfo";
import { ScheduleEditor } from "../schedule";
import { AccessEditor } from "../memberships";
import { BrowserBroadcast } from "../golive";
import "../studio.css";
import "../analytics.css";

type Source = Schemas["SourceView"];
type Mine = Schemas["MySubscription"];
type Sample = Schemas["StreamSample"];
type Socket = ReturnType<typeof useSocket>;

const PRESETS = ["youtube", "twitch", "facebook", "kick", "custom"];
/** A keyframe interval above this (ms) costs viewers latency: the studio says so. */
const LONG_KEYFRAME_MS = 2000;
/** Samples kept for the charts (one a second: five minutes). */
const KEEP = 300;

export default function Dashboard() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const sources = useLoad(() => api<Schemas["SourceList"]>("GET", "/api/sources"));
  const mine = useLoad(() => api<Mine>("GET", "/api/subscriptions/my-subscription"));
  const socket = useSocket();
  const [live, setLive] = useState<Record<number, string>>({});
  const [viewers, setViewers] = useState<Record<number, number>>({});
  const [selected, setSelected] = useState<number | null>(() => {
    const s = Number(new URLSearchParams(location.search).get("source"));
    return Number.isFinite(s) && s > 0 ? s : null;
  });
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

  // Live status and viewers of every source, over Socket.IO (its events are not in the OpenAPI
  // document: the payload types here are hand-written). The owner's own sockets in a stream
  // room are not counted among its viewers.
  useEffect(() => {
    if (!socket || !sources.data) return;
    const on = (status: string, info: { sourceId: number }) => setLive((l) => ({ ...l, [info.sourceId]: status }));
    const count = (c: { sourceId: number; count: number }) => setViewers((v) => ({ ...v, [c.sourceId]: c.count }));
    socket.on("stream-status", on);
    socket.on("viewer-count", count);
    const join = () => sources.data?.sources.forEach((s) => socket.emit("join-stream", { sourceId: s.id }));
    socket.on("connect", join);
    if (socket.connected) join();
    return () => {
      socket.off("stream-status", on);
      socket.off("viewer-count", count);
      socket.off("connect", join);
    };
  }, [socket, sources.data]);

  async function create(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const made = await api<Schemas["SourceOne"]>("POST", "/api/sources", { name: name.trim() } satisfies Schemas["CreateSource"]);
      setName("");
      setSelected(made.source.id);
      sources.reload();
      mine.reload();
    } catch (err) {
      setError(err);
    }
  }

  const list = sources.data?.sources ?? [];
  const statusOf = (s: Source) => live[s.id] ?? (s.is_active ? "live" : "offline");
  const current = list.find((s) => s.id === selected) ?? list.find((s) => statusOf(s) !== "offline") ?? list[0];

  return (
    <div className="dashboard studio-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Your streams</h1>
          <StudioTabs current="/dashboard" />
          <Usage mine={mine.data} error={mine.error} />
        </div>
        <form className="inline new-source" onSubmit={create} aria-label="Create a source">
          <label>
            New source
            <input name="source_name" required maxLength={100} placeholder="e.g. Main camera" value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <button type="submit" disabled={!name.trim()}>Create</button>
        </form>
      </header>
      {notice && (
        <p className="notice" role="status" data-testid="stream-notice">
          {notice}{" "}
          <button className="link small" onClick={() => setNotice(null)}>Dismiss</button>
        </p>
      )}
      <Problem error={error} />
      <Problem error={sources.error} onRetry={sources.reload} />
      {!sources.data && !sources.error && <Loading what="your sources" />}
      {sources.data?.sources.length === 0 && (
        <Empty>
          <p>No sources yet. Create one above; OBS then streams to it with its key.</p>
        </Empty>
      )}
      {list.length > 1 && (
        <div className="studio-tabs" role="tablist" aria-label="Your sources">
          {list.map((s) => {
            const st = statusOf(s);
            return (
              <button
                key={s.id}
                role="tab"
                aria-selected={current?.id === s.id}
                className={`studio-tab ${current?.id === s.id ? "on" : ""}`}
                onClick={() => setSelected(s.id)}
                data-testid="source-tab"
              >
                <span className={`dot ${st}`} aria-hidden="true" />
                {s.name}
                <span className="sr-only"> ({st})</span>
              </button>
            );
          })}
        </div>
      )}
      {current && (
        <Studio
          key={current.id}
          source={current}
          status={statusOf(current)}
          viewerCount={viewers[current.id]}
          socket={socket}
          onChange={() => {
            sources.reload();
            mine.reload();
          }}
        />
      )}
      {sources.data && <ScheduleEditor />}
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
    <p id="plan" className="usage studio-usage" aria-label="Plan and usage">
      <strong>{p.name}</strong> plan{mine.subscription.status !== "active" && ` (${mine.subscription.status.replace("_", " ")})`}:{" "}
      {mine.usage.sources_used} of {p.max_sources} sources, {mine.usage.destinations_used} of {p.max_destinations} destinations,{" "}
      {mine.usage.streaming_hours_used.toFixed(1)} of {p.max_streaming_hours_monthly} hours this month.{" "}
      {p.is_default ? canPay && <Link href="/dashboard/subscription">Upgrade</Link> : <Link href="/dashboard/subscription">Plan and billing</Link>}
    </p>
  );
}

/** Copies text, and says so for a moment; `fallback` runs where the clipboard is refused. */
function useCopy(fallback: () => void) {
  const [copied, setCopied] = useState("");
  async function copy(what: string, text: string) {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(what);
      setTimeout(() => setCopied(""), 1500);
    } catch {
      fallback();
    }
  }
  return { copied, copy };
}

/** `h:mm:ss` (or `m:ss`). */
function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const seconds1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The health samples of a source's live stream: the last minutes at once (from the server's
 * history), then each second's as the server pushes it. */
function useSamples(source: Source, status: string, socket: Socket): Sample[] {
  const [samples, setSamples] = useState<Sample[]>([]);
  const on = status !== "offline";
  useEffect(() => {
    if (!on) return;
    let live = true;
    api<Schemas["StreamStatsHistory"]>("GET", `/api/sources/${source.id}/stats`).then(
      (h) =>
        live &&
        setSamples((mine) => {
          // Keep what arrived meanwhile; a new session's samples replace an older one's.
          const after = mine.filter((s) => s.at_ms > (h.samples.at(-1)?.at_ms ?? 0));
          return [...h.samples, ...after].slice(-KEEP);
        }),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [source.id, on]);
  useEffect(() => {
    if (!socket) return;
    const onSample = (s: Sample) => {
      if (s.source_id !== source.id) return;
      setSamples((mine) => {
        const last = mine.at(-1);
        if (last && last.duration_seconds > s.duration_seconds) return [s];
        if (last && last.at_ms >= s.at_ms) return mine;
        return [...mine, s].slice(-KEEP);
      });
    };
    socket.on("stream-stats", onSample);
    return () => {
      socket.off("stream-stats", onSample);
    };
  }, [socket, source.id]);
  return samples;
}

function Studio({ source, status, viewerCount, socket, onChange }: { source: Source; status: string; viewerCount: number | undefined; socket: Socket; onChange: () => void }) {
  const [renaming, setRenaming] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [showKey, setShowKey] = useState(false);
  const isLive = status === "live";
  // The preview stays until it has shown the stream's last seconds, as viewers see them.
  const stage = useStage(isLive);
  const samples = useSamples(source, status, socket);
  const last = samples.at(-1);
  const { copied, copy } = useCopy(() => setShowKey(true));

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
  const destinations = useDestinations(source, socket);
  const viewers = viewerCount ?? last?.viewers ?? 0;
  const keyframe = last?.keyframe_interval_max_ms ?? last?.keyframe_interval_ms ?? null;

  return (
    <article className="card source studio" aria-labelledby={`s-${source.id}`}>
      <header className="studio-head">
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
          <span className={`badge ${isLive ? "live" : status === "starting" ? "warn" : ""}`} data-testid="source-status">{isLive ? "Live" : status === "starting" ? "Starting" : "Offline"}</span>
          {isLive && last && (
            <span className="studio-clock" title="Time live">{clock(last.duration_seconds)}</span>
          )}
          {(isLive || status === "starting") && (
            <button className="ghost small danger-outline" data-testid="end-stream" onClick={() => act("DELETE", `/api/streams/active/${source.id}`, undefined, `End the stream on ${source.name}? Your encoder is disconnected and viewers see the stream end.`)}>
              End stream
            </button>
          )}
        </span>
      </header>
      <Problem error={error} />
      <div className="studio-grid">
        <section className="studio-preview" aria-label="Preview">
          {stage.show ? (
            <Player key={stage.round} src={source.playback.hls} title={`Preview of ${source.name}`} live={isLive} onEnded={stage.onEnded} />
          ) : (
            <div className="waiting" data-testid="waiting-encoder">
              <p className="waiting-title">
                <span className={`pulse ${status === "starting" ? "on" : ""}`} aria-hidden="true" />
                {status === "starting" ? "Your encoder is connected; the first keyframe is on its way…" : "Waiting for your encoder"}
              </p>
              <p className="muted">Start streaming in OBS (or any RTMP encoder) with these; the studio goes live the moment the video arrives. Set its keyframe interval to 1 s (see Recommended settings below).</p>
              <dl className="waiting-fields">
                <dt>Server</dt>
                <dd>
                  <code data-testid="waiting-url">{source.ingest_url}</code>{" "}
                  <button className="link small" onClick={() => copy("w-server", source.ingest_url)}>{copied === "w-server" ? "Copied" : "Copy server URL"}</button>
                </dd>
                <dt>Stream key</dt>
                <dd>
                  <code>{"•".repeat(16)}</code>{" "}
                  <button className="link small" onClick={() => copy("w-key", source.stream_key)}>{copied === "w-key" ? "Copied" : "Copy stream key"}</button>
                </dd>
              </dl>
            </div>
          )}
          {(isLive || samples.length > 0) && (
            <div className="studio-charts" role="group" aria-label="Incoming bitrate, frame rate and viewers over time">
              <Spark samples={samples} pick={(s) => s.bitrate_kbps} label="Bitrate in" unit="kbps" testid="chart-bitrate" />
              <Spark samples={samples} pick={(s) => s.fps} label="Frame rate" unit="fps" testid="chart-fps" />
              <Spark samples={samples} pick={(s) => s.viewers} label="Viewers" unit="" testid="chart-viewers" />
            </div>
          )}
          <Glance list={destinations.data?.destinations} />
          {isLive && source.adaptive_bitrate && <Renditions abr={source.adaptive_bitrate} onChange={onChange} />}
        </section>
        <Health samples={samples} viewers={viewers} live={isLive} status={status} keyframe={keyframe} />
        <div className="studio-chat">
          <Chat socket={socket} room={{ sourceId: source.id }} canModerate />
        </div>
      </div>
      <div className="studio-manage">
        <StreamInfoEditor source={source} live={status !== "offline"} onChange={onChange} />
        <BrowserBroadcast streamKey={source.stream_key} live={status !== "offline"} />
        <section className="studio-card" aria-label="OBS setup">
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
              <button
                className="link small"
                data-testid="rotate-key"
                onClick={() =>
                  act(
                    "POST",
                    `/api/sources/${source.id}/rotate-key`,
                    undefined,
                    status !== "offline"
                      ? `You are live on ${source.name}. Rotating the key cuts the live stream now: your encoder is disconnected and viewers see the stream end until OBS uses the new key. Rotate anyway?`
                      : "Rotate the key? OBS must then use the new one.",
                  )
                }
              >
                Rotate
              </button>
            </dd>
            {source.srt_url && (
              <>
                <dt>SRT (instead of RTMP)</dt>
                <dd>
                  <code data-testid="srt-url">
                    {source.srt_url}?streamid={showKey ? source.stream_key : "•".repeat(8)}&pkt_size=1316
                  </code>{" "}
                  <button
                    className="link small"
                    onClick={() => copy("srt", `${source.srt_url}?streamid=${source.stream_key}&pkt_size=1316`)}
                  >
                    {copied === "srt" ? "Copied" : "Copy"}
                  </button>
                  <span className="muted small" style={{ display: "block", wordBreak: "normal" }}>
                    As the Server, with the Stream Key left empty.
                  </span>
                </dd>
              </>
            )}
            <dt>Watch page</dt>
            <dd>
              <a href={`/watch/${source.playback_id}`}>/watch/{source.playback_id}</a>
            </dd>
            <dt>
              <label htmlFor={`slate-${source.id}`}>If your encoder drops</label>
            </dt>
            <dd>
              <select
                id={`slate-${source.id}`}
                data-testid="slate-secs"
                value={source.slate_secs}
                onChange={(e) =>
                  act("PUT", `/api/sources/${source.id}`, { slate_secs: Number(e.target.value) } satisfies Schemas["UpdateSource"])
                }
              >
                {[0, 30, 60, 120, 300, 600].map((s) => (
                  <option key={s} value={s}>
                    {s === 0 ? "End the stream at once" : `Show a slate for up to ${s < 60 ? `${s} s` : `${s / 60} min`}`}
                  </option>
                ))}
              </select>
              <span className="muted small" style={{ display: "block", wordBreak: "normal" }}>
                Viewers and destinations keep a picture with silence until you reconnect; stopping the stream in OBS ends
                it at once.
              </span>
              {source.slate_secs > 0 && <SlatePicture source={source} onChange={onChange} />}
            </dd>
          </dl>
          <h4>Recommended settings</h4>
          <ul className="recommended" data-testid="obs-recommended">
            <li>
              <strong>Keyframe interval: 1 s</strong> (Output → Advanced → Streaming). Players start and catch up at keyframes: 1 s keeps viewers about a second behind you; OBS's
              default (0, automatic) can leave them many seconds behind.
            </li>
            <li>Rate control: CBR, 2500–6000 Kbps (what your upload sustains, with room to spare).</li>
            <li>x264 preset veryfast (or your GPU's encoder), profile high; audio AAC 160 Kbps, 48 kHz.</li>
          </ul>
          <p>
            <button className="link small danger" onClick={() => act("DELETE", `/api/sources/${source.id}`, undefined, `Delete ${source.name}? Its key stops working.`)}>Delete source</button>
          </p>
        </section>
        <Destinations source={source} list={destinations} live={status !== "offline"} onChange={onChange} />
        <section className="studio-card" aria-label="Chat connections">
          <PlatformChat sourceId={source.id} />
          <ChatRules sourceId={source.id} />
        </section>
      </div>
    </article>
  );
}

/** The live stream's adaptive-bitrate ladder: the renditions viewers can switch between, or why
 * there are none. Asks again while the transcoder is still looking at the source or its
 * renditions' first pictures are not out yet. */
function Renditions({ abr, onChange }: { abr: Schemas["AdaptiveBitrate"]; onChange: () => void }) {
  const settling = abr.state === "starting" || (abr.state === "running" && abr.renditions.some((r) => !r.width));
  useEffect(() => {
    if (!settling) return;
    const again = setTimeout(onChange, 1500);
    return () => clearTimeout(again);
  }, [settling, abr, onChange]);
  return (
    <div className={`renditions ${abr.state}`} data-testid="renditions" role="status">
      <strong>Adaptive bitrate</strong>{" "}
      {abr.state === "starting" && <span className="muted">starting {abr.ladder.join(" · ")}…</span>}
      {abr.state === "running" && (
        <span>
          <span className="rendition" title="Passed through as your encoder sends it">
            {abr.source_width && abr.source_height ? `${abr.source_width}×${abr.source_height}` : "Source"} source
          </span>
          {abr.renditions.map((r) => (
            <span key={r.name} className="rendition" title={`${r.video_kbps} kbps${r.restarts ? `, restarted ${r.restarts}×` : ""}`}>
              {r.width && r.height ? `${r.width}×${r.height}` : r.name}
            </span>
          ))}
        </span>
      )}
      {abr.message && <p className={abr.state === "refused" ? "refused small" : "muted small"}>{abr.message}</p>}
    </div>
  );
}

/** A small line chart (SVG, no library) of one series over the samples' time span. */
function Spark({ samples, pick, label, unit, testid }: { samples: Sample[]; pick: (s: Sample) => number; label: string; unit: string; testid: string }) {
  const W = 240;
  const H = 56;
  const points = useMemo(() => {
    if (samples.length === 0) return [];
    const t0 = samples[0].at_ms;
    const span = Math.max(60_000, (samples.at(-1)?.at_ms ?? t0) - t0);
    const max = Math.max(1, ...samples.map(pick)) * 1.15;
    return samples.map((s) => [((s.at_ms - t0) / span) * W, H - (pick(s) / max) * (H - 4) - 2] as const);
  }, [samples, pick]);
  const now = samples.at(-1);
  const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const minutes = samples.length > 1 ? Math.max(1, Math.round((samples.at(-1)!.at_ms - samples[0].at_ms) / 60_000)) : 0;
  return (
    <figure className="spark" data-testid={testid} data-points={points.length}>
      <figcaption>
        <span>{label}</span>
        <strong>{now ? `${pick(now).toLocaleString("en-US")}${unit ? ` ${unit}` : ""}` : "–"}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${label} over the last ${minutes || 1} minute${minutes > 1 ? "s" : ""}`}>
        {points.length > 1 && (
          <>
            <polygon className="area" points={`0,${H} ${line} ${points.at(-1)![0].toFixed(1)},${H}`} />
            <polyline className="line" points={line} />
          </>
        )}
      </svg>
    </figure>
  );
}

function Tile({ label, value, testid, hint, tone }: { label: string; value: ReactNode; testid: string; hint?: string; tone?: "warn" }) {
  return (
    <div className={`tile ${tone ?? ""}`}>
      <dt>{label}</dt>
      <dd data-testid={testid}>{value}</dd>
      {hint && <p className="tile-hint">{hint}</p>}
    </div>
  );
}

function Health({ samples, viewers, live, status, keyframe }: { samples: Sample[]; viewers: number; live: boolean; status: string; keyframe: number | null }) {
  const last = samples.at(-1);
  const kf = last?.keyframe_interval_ms ?? null;
  const kfMax = last?.keyframe_interval_max_ms ?? null;
  return (
    <section className="studio-health" aria-label="Stream health">
      <h3>Stream health</h3>
      {!live && !last && <p className="muted health-note">{status === "starting" ? "Measuring as the stream starts…" : "Figures appear here while you are live."}</p>}
      <dl className="health-tiles">
        <Tile label="Viewers" value={viewers} testid="studio-viewers" hint="Others watching; your own studio is not counted" />
        <Tile label="Live for" value={last ? clock(last.duration_seconds) : "–"} testid="studio-duration" />
        <Tile
          label="Keyframe interval"
          value={kf ? seconds1(kf) : "–"}
          testid="studio-keyframe"
          hint={kfMax && kf && kfMax !== kf ? `longest lately ${seconds1(kfMax)}` : "1 s is best"}
          tone={(kfMax ?? 0) > LONG_KEYFRAME_MS ? "warn" : undefined}
        />
        <Tile label="Frames skipped" value={last ? last.skipped_frames.toLocaleString("en-US") : "–"} testid="studio-skipped" hint="by players that fell behind (slow connections)" />
        <Tile
          label="Encoder gaps"
          value={last ? last.video_gaps.toLocaleString("en-US") : "–"}
          testid="studio-gaps"
          hint="pauses over 0.5 s in the video your encoder sent"
          tone={(last?.video_gaps ?? 0) > 0 ? "warn" : undefined}
        />
      </dl>
      {live && keyframe !== null && keyframe > LONG_KEYFRAME_MS && (
        <div className="studio-warning" role="status" data-testid="keyframe-warning">
          <strong>Your keyframes are {seconds1(keyframe)} apart:</strong> viewers are at least that far behind you (players join and catch up only at keyframes). In OBS:
          Settings → Output → Streaming → <em>Keyframe Interval</em> <strong>1 s</strong>, then restart the stream.
        </div>
      )}
    </section>
  );
}

/** A restream destination's state change, pushed to its owner's sockets. Socket.IO events are
 * not in the OpenAPI document, so this is typed by hand. */
type DestinationStatusEvent = { sourceId: number; destinationId: number; state: string; error: string | null };

/** What each push state means, in words. */
const DESTINATION_WORDS: Record<string, string> = {
  connecting: "Connecting to the platform…",
  live: "Receiving your stream.",
  retrying: "Lost or refused; trying again with growing pauses.",
  failed: "Gave up after repeated failures: fix the destination, then retry now.",
  idle: "Starts when you go live.",
  off: "Turned off: not forwarded.",
};

type DestinationsLoad = ReturnType<typeof useDestinations>;

/** A destination's state as shown: its push's, `idle` while offline, `off` when turned off. */
const stateOf = (d: Schemas["DestinationView"]) => (d.is_active ? (d.status?.state ?? "idle") : "off");

/** The destinations at a glance beside the preview: each one's state, the details below. */
/** The slate's picture: the creator's own (uploaded here, 16:9, cropped to fit) or the default
 * "Be right back" on the site's colour, shown as viewers will see it. */
function SlatePicture({ source, onChange }: { source: Schemas["SourceView"]; onChange: () => void }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => () => void (preview && URL.revokeObjectURL(preview)), [preview]);
  const url = source.slate_picture_url;
  const shown = preview ?? url;
  async function run(work: () => Promise<unknown>) {
    setError(null);
    setBusy(true);
    try {
      await work();
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setPreview(null);
      setBusy(false);
    }
  }
  function upload(file: File) {
    if (file.size > 8 * 1024 * 1024) {
      setError(new ApiError(413, "The picture is too large", "Choose one of at most 8 MiB."));
      return;
    }
    setPreview(URL.createObjectURL(file));
    void run(() => api("PUT", `/api/sources/${source.id}/slate`, file));
  }
  return (
    <div className="slate-picture" data-testid="slate-picture">
      <span className="slate-preview" aria-label={url ? "Your slate picture" : "The default slate"} role="img">
        {shown ? <img src={shown} alt="" data-testid="slate-image" /> : <span className="slate-default">Be right back</span>}
      </span>
      <span className="actions">
        <PictureButton label={url ? "Change picture" : "Use my picture"} busy={busy} ariaLabel="Choose a picture for the slate" testId="slate-file" onFile={upload} />
        {url && (
          <button type="button" className="link small" disabled={busy} data-testid="slate-default" onClick={() => void run(() => api("DELETE", `/api/sources/${source.id}/slate`))}>
            Use the default
          </button>
        )}
      </span>
      <span className="muted fine">16:9, cropped to fit; PNG, JPEG or WebP up to 8 MiB. Applies from your next connection.</span>
      <Problem error={error} />
    </div>
  );
}

function Glance({ list }: { list: Schemas["DestinationView"][] | undefined }) {
  if (!list || list.length === 0) return null;
  return (
    <div className="glance" aria-label="Destinations at a glance">
      <span className="glance-title">Restreaming to</span>
      <ul>
        {list.map((d) => {
          const state = stateOf(d);
          return (
            <li key={d.id} data-testid="glance-destination">
              <span className="dest-platform">{d.platform}</span>{" "}
              <span className={`badge dest-state ${state}`}>{state}</span>
            </li>
          );
        })}
      </ul>
      <a href="#destinations" className="small-link">Details</a>
    </div>
  );
}

/** A source's destinations with their pushes' states, kept current from the socket. */
function useDestinations(source: Source, socket: Socket) {
  const list = useLoad(() => api<Schemas["DestinationList"]>("GET", `/api/sources/${source.id}/destinations`), [source.id]);
  // Push states change while live: the server tells this user's sockets when one does (the
  // event's state is shown at once, and the list read again for the rest), when the stream
  // starts or stops, and after a reconnect (which may have missed some).
  useEffect(() => {
    if (!socket) return;
    const on = (e: DestinationStatusEvent) => {
      if (e.sourceId !== source.id) return;
      list.setData((d) =>
        d
          ? {
              destinations: d.destinations.map((x) =>
                x.id === e.destinationId
                  ? { ...x, status: { bytes_out: 0, frames_out: 0, connects: 0, retries_asked: 0, since: new Date().toISOString(), ...x.status, state: e.state, last_error: e.state === "live" ? null : (e.error ?? x.status?.last_error ?? null) } }
                  : x,
              ),
            }
          : d,
      );
      list.reload();
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
  return list;
}

function Destinations({ source, list, live, onChange }: { source: Source; list: DestinationsLoad; live: boolean; onChange: () => void }) {
  const [platform, setPlatform] = useState("youtube");
  const [url, setUrl] = useState("");
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [retrying, setRetrying] = useState<number | null>(null);

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
  async function retry(id: number) {
    setError(null);
    setRetrying(id);
    try {
      await api<Schemas["RetriedDestination"]>("POST", `/api/sources/destinations/${id}/retry`);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setRetrying(null);
    }
  }
  return (
    <section className="studio-card" id="destinations" aria-label={`Destinations of ${source.name}`}>
      <h3>Destinations</h3>
      {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
      {!list.data && !list.error && <Loading what="destinations" />}
      {list.data?.destinations.length === 0 && <p className="muted">Not forwarded anywhere yet.</p>}
      <ul className="destinations studio-destinations">
        {list.data?.destinations.map((d) => {
          const state = stateOf(d);
          const trouble = state === "retrying" || state === "failed";
          return (
            <li key={d.id} data-testid="destination" className={`dest dest-${state}`}>
              <div className="dest-head">
                <strong className="dest-platform">{d.platform}</strong>
                <span className={`badge dest-state ${state}`} data-testid="destination-status">
                  {state}
                </span>
              </div>
              <code className="dest-url">{d.rtmp_url}</code>
              <p className="dest-words" data-testid="destination-words">{DESTINATION_WORDS[state] ?? state}</p>
              {trouble && d.status?.last_error && (
                <p className="dest-error" role="alert" data-testid="destination-error">
                  <strong>{state === "failed" ? "Failed:" : "Last error:"}</strong> {d.status.last_error}
                </p>
              )}
              <div className="dest-actions">
                {trouble && live && (
                  <button className="small" data-testid="destination-retry" disabled={retrying === d.id} onClick={() => retry(d.id)}>
                    {retrying === d.id ? "Retrying…" : "Retry now"}
                  </button>
                )}
                <label className="toggle">
                  <input type="checkbox" checked={d.is_active} onChange={(e) => act("PATCH", `/api/sources/destinations/${d.id}`, { is_active: e.target.checked } satisfies Schemas["UpdateDestination"])} /> On
                </label>
                <button className="link small danger" onClick={() => act("DELETE", `/api/sources/destinations/${d.id}`)}>Remove</button>
              </div>
            </li>
          );
        })}
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

/** What viewers are told about the stream — title, description, category, tags, language, for adults —
 * set before going live or changed while live (the watch page follows at once). */
function StreamInfoEditor({ source, live, onChange }: { source: Source; live: boolean; onChange: () => void }) {
  const categories = useLoad(loadCategories);
  const [title, setTitle] = useState(source.title ?? "");
  const [description, setDescription] = useState(source.description ?? "");
  const [category, setCategory] = useState(source.category ?? "");
  const [tags, setTags] = useState(source.tags.join(", "));
  const [language, setLanguage] = useState(source.language ?? "");
  const [mature, setMature] = useState(source.mature);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const [saving, setSaving] = useState(false);
  const parsed = parseTags(tags);

  async function save(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    setSaving(true);
    try {
      await api<Schemas["SourceOne"]>("PATCH", `/api/sources/${source.id}/metadata`, {
        title: title.trim() || null,
        description: description.trim() || null,
        category: category || null,
        tags: parsed,
        language: language || null,
        mature,
      } satisfies Schemas["UpdateMetadata"]);
      setSaved(true);
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  }
  return (
    <section className="studio-card stream-info" aria-label="Stream info">
      <h3>Stream info</h3>
      <p className="muted">{live ? "Changes reach your viewers at once." : "Viewers see this on the watch page and in Browse."}</p>
      <form onSubmit={save} aria-label="Edit stream info" onChange={() => setSaved(false)}>
        <label>
          Title
          <input name="stream_title" maxLength={140} placeholder={source.name} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label>
          Description <span className="muted">(optional, shown under the player and kept with the recording)</span>
          <textarea name="stream_description" rows={3} maxLength={1000} placeholder="What is this stream about?" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <div className="stream-info-row">
          <label>
            Category
            <select name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
              <option value="">None</option>
              {(categories.data ?? []).map((c) => (
                <option key={c.slug} value={c.slug}>{c.name}</option>
              ))}
            </select>
          </label>
          <label>
            Language
            <select name="language" value={language} onChange={(e) => setLanguage(e.target.value)}>
              <option value="">Not set</option>
              {LANGUAGES_BY_NAME.map((l) => (
                <option key={l.code} value={l.code}>{l.name}</option>
              ))}
            </select>
          </label>
        </div>
        <label>
          Tags <span className="muted">(up to 10, separated by commas)</span>
          <input name="tags" placeholder="e.g. speedrun, retro" value={tags} onChange={(e) => setTags(e.target.value)} />
        </label>
        {parsed.length > 0 && (
          <p className="tags" aria-label="Tags as viewers see them">
            {parsed.slice(0, 10).map((t) => (
              <span key={t} className="tag">#{t}</span>
            ))}
          </p>
        )}
        <label className="toggle">
          <input type="checkbox" name="mature" checked={mature} onChange={(e) => setMature(e.target.checked)} /> For adults only (left out of Browse unless a viewer asks)
        </label>
        <div className="stream-info-actions">
          <button type="submit" disabled={saving}>{saving ? "Updating…" : "Update stream info"}</button>
          {saved && (
            <span className="muted" role="status" data-testid="stream-info-saved">Updated.</span>
          )}
        </div>
      </form>
      <Problem error={error} />
      <Problem error={categories.error} onRetry={categories.reload} />
      <AccessEditor path={`/api/sources/${source.id}/access`} testId="stream-access" />
    </section>
  );
}
