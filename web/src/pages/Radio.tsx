// Radio. `/radio/<handle>`: a creator's station — the player (HLS audio through hls.js, or the
// browser's own HLS), what is playing now (live over Socket.IO as `now-playing`), and the
// Icecast address for media players. `/dashboard/radio`: the creator's station — on or off, its
// title, the DJ's source, and the playlist (upload, reorder, delete).
import { useEffect, useRef, useState, type FormEvent } from "react";
import Hls from "hls.js/light";
import { api, session, type Schemas } from "../api";
import { useSocket } from "../live";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, StudioTabs, useLoad } from "../ui";
import "../analytics.css";
import "../studio.css";
import "../radio.css";

type Station = Schemas["StationView"];
type Mine = Schemas["MyStation"];
type Now = Schemas["NowPlaying"];

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The HLS audio player: hls.js where Media Source Extensions exist, else the browser's own. */
function RadioPlayer({ src, playing }: { src: string; playing: boolean }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const a = audio.current;
    if (!a || !playing) return;
    setError("");
    if (Hls.isSupported()) {
      const hls = new Hls({ lowLatencyMode: false });
      hls.loadSource(src);
      hls.attachMedia(a);
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (d.fatal) setError("The station stopped playing. It may have gone off the air; press Play again.");
      });
      a.play().catch(() => undefined);
      return () => hls.destroy();
    }
    a.src = src;
    a.play().catch(() => undefined);
    return () => {
      a.removeAttribute("src");
      a.load();
    };
  }, [src, playing]);
  return (
    <>
      <audio ref={audio} data-testid="radio-audio" />
      {error && <p className="problem" role="alert">{error}</p>}
    </>
  );
}

export default function Radio({ handle }: { handle: string }) {
  const station = useLoad(() => api<Station>("GET", `/api/radio/${encodeURIComponent(handle)}`), [handle]);
  const [now, setNow] = useState<Now | null>(null);
  const [playing, setPlaying] = useState(false);
  const [copied, setCopied] = useState(false);
  const socket = useSocket();
  useEffect(() => {
    if (station.data) document.title = `${station.data.title} · ferrocast`;
  }, [station.data]);
  useEffect(() => {
    if (!socket) return;
    const join = () => socket.emit("join-radio", { handle }, (r: { ok?: boolean; now?: Now }) => r?.now && setNow(r.now));
    const onNow = (n: Now) => setNow(n);
    socket.on("connect", join);
    socket.on("now-playing", onNow);
    if (socket.connected) join();
    return () => {
      socket.off("connect", join);
      socket.off("now-playing", onNow);
      socket.emit("leave-radio", { handle });
    };
  }, [socket, handle]);
  if (station.error) return <Problem error={station.error} onRetry={station.reload} />;
  if (!station.data) return <Loading what="the station" />;
  const s = station.data;
  const current = now ?? s.now;
  const onAir = s.on_air || !!current.title;
  const icecast = `${location.origin}${s.icecast_url}`;
  return (
    <div className="radio-page">
      <section className={`radio-deck${onAir ? " on-air" : ""}`} aria-labelledby="radio-title">
        <div className="radio-art" aria-hidden="true">
          <span className="radio-wave" />
          <span className="radio-wave" />
          <span className="radio-wave" />
        </div>
        <div className="radio-body">
          <p className="radio-kicker">
            {onAir ? (current.dj ? <span className="badge live">DJ live</span> : <span className="badge good">On the air</span>) : <span className="badge">Off the air</span>}
            <Link href={`/c/${s.handle}`}>{s.display_name}</Link>
          </p>
          <h1 id="radio-title">{s.title}</h1>
          <p className="radio-now" data-testid="now-playing" aria-live="polite">
            {current.title ? (
              <>
                <span className="muted">Now playing</span> <strong>{current.title}</strong>
              </>
            ) : (
              <span className="muted">Nothing is playing right now.</span>
            )}
          </p>
          <div className="radio-actions">
            <button disabled={!onAir} onClick={() => setPlaying((p) => !p)} data-testid="radio-play">
              {playing ? "Pause" : "Play"}
            </button>
            <button
              className="ghost"
              onClick={() => {
                navigator.clipboard?.writeText(icecast).then(() => setCopied(true), () => undefined);
              }}
            >
              {copied ? "Copied" : "Copy stream address"}
            </button>
          </div>
          <p className="muted fine">
            Listen in VLC, a car's radio app or any Icecast player: <code data-testid="icecast-url">{icecast}</code>
          </p>
        </div>
      </section>
      <RadioPlayer src={s.hls_url} playing={playing && onAir} />
    </div>
  );
}

/** The creator's station: settings and playlist. */
export function RadioStudio() {
  useEffect(() => {
    if (!session()) navigate("/login?return_to=/dashboard/radio");
    document.title = "Radio · ferrocast";
  }, []);
  const mine = useLoad(() => api<Mine>("GET", "/api/radio"));
  const sources = useLoad(() => api<Schemas["SourceList"]>("GET", "/api/sources"));
  const [title, setTitle] = useState<string | null>(null);
  const [dj, setDj] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [uploading, setUploading] = useState<string[]>([]);
  const [error, setError] = useState<unknown>(null);
  const m = mine.data;
  async function save(enabled: boolean, e?: FormEvent) {
    e?.preventDefault();
    if (!m) return;
    setBusy(true);
    setError(null);
    try {
      const djId = (dj ?? String(m.dj_source_id ?? "")) || null;
      mine.setData(await api<Mine>("PUT", "/api/radio", { title: title ?? m.title, enabled, dj_source_id: djId ? Number(djId) : null }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function upload(files: FileList | null) {
    for (const f of Array.from(files ?? [])) {
      setUploading((u) => [...u, f.name]);
      setError(null);
      try {
        await api("POST", `/api/radio/tracks?name=${encodeURIComponent(f.name)}`, f);
        mine.reload();
      } catch (err) {
        setError(err);
      } finally {
        setUploading((u) => u.filter((n) => n !== f.name));
      }
    }
  }
  async function move(i: number, by: number) {
    if (!m) return;
    const ids = m.tracks.map((t) => t.id);
    const j = i + by;
    if (j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    try {
      mine.setData(await api<Mine>("PUT", "/api/radio/tracks/order", { ids }));
    } catch (err) {
      setError(err);
    }
  }
  async function remove(id: number) {
    try {
      await api("DELETE", `/api/radio/tracks/${id}`);
      mine.reload();
    } catch (err) {
      setError(err);
    }
  }
  const total = m?.tracks.reduce((n, t) => n + t.duration_ms, 0) ?? 0;
  return (
    <div className="dashboard radio-studio">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Radio</h1>
          <StudioTabs current="/dashboard/radio" />
        </div>
      </header>
      <Problem error={mine.error ?? error} onRetry={mine.error ? mine.reload : undefined} />
      {!m && !mine.error && <Loading what="your station" />}
      {m && (
        <div className="radio-grid">
          <section className="card" aria-labelledby="station-settings">
            <h2 id="station-settings">Your station</h2>
            <p className="radio-status" data-testid="station-status">
              {m.enabled ? (m.station.now.title ? <>On the air · <strong>{m.station.now.title}</strong></> : "On — starts with your first track") : "Off the air"}
            </p>
            <form onSubmit={(e) => save(m.enabled, e)} className="stack">
              <label>
                Title
                <input value={title ?? m.title} maxLength={100} placeholder={m.station.title} onChange={(e) => setTitle(e.target.value)} />
              </label>
              <label>
                DJ source
                <select value={dj ?? String(m.dj_source_id ?? "")} onChange={(e) => setDj(e.target.value)} data-testid="dj-source">
                  <option value="">No DJ</option>
                  {sources.data?.sources.map((s) => (
                    <option key={s.id} value={String(s.id)}>
                      {s.name}
                    </option>
                  ))}
                </select>
                <span className="muted fine hint">While this source is live, its sound takes the air; the playlist comes back when you stop streaming.</span>
              </label>
              <div className="radio-actions">
                <button className="ghost" type="submit" disabled={busy}>
                  Save
                </button>
                <button className={m.enabled ? "ghost danger-outline" : undefined} type="button" disabled={busy} onClick={() => save(!m.enabled)} data-testid="station-toggle">
                  {m.enabled ? "Take off the air" : "Go on the air"}
                </button>
              </div>
            </form>
            <p className="muted fine">
              Listeners: <Link href={`/radio/${m.station.handle}`}>/radio/{m.station.handle}</Link> · Icecast <code>{m.station.icecast_url}</code>
            </p>
          </section>
          <section className="card" aria-labelledby="playlist">
            <div className="row-between">
              <h2 id="playlist">Playlist</h2>
              <label className="button small file-button">
                Add tracks
                <input
                  type="file"
                  accept="audio/*"
                  multiple
                  aria-label="Add tracks"
                  data-testid="track-file"
                  onChange={(e) => {
                    const files = e.target.files;
                    upload(files).finally(() => (e.target.value = ""));
                  }}
                />
              </label>
            </div>
            <p className="muted fine">
              {m.tracks.length} {m.tracks.length === 1 ? "track" : "tracks"} · {duration(total)} · plays round and round
            </p>
            {uploading.map((n) => (
              <p key={n} className="state" role="status">
                Uploading and encoding {n}…
              </p>
            ))}
            {m.tracks.length === 0 && uploading.length === 0 && <Empty>No tracks yet. Add MP3, AAC, Ogg, FLAC or WAV files (up to an hour each).</Empty>}
            <ol className="track-list" data-testid="track-list">
              {m.tracks.map((t, i) => (
                <li key={t.id} className={m.station.now.track_id === t.id ? "playing" : undefined}>
                  <span className="track-name">
                    <strong>{t.title}</strong>
                    {t.artist && <span className="muted"> · {t.artist}</span>}
                  </span>
                  <span className="muted track-len">{duration(t.duration_ms)}</span>
                  <span className="track-tools">
                    <button className="ghost small" aria-label={`Move ${t.title} up`} disabled={i === 0} onClick={() => move(i, -1)}>
                      ↑
                    </button>
                    <button className="ghost small" aria-label={`Move ${t.title} down`} disabled={i === m.tracks.length - 1} onClick={() => move(i, 1)}>
                      ↓
                    </button>
                    <button className="ghost small" aria-label={`Delete ${t.title}`} onClick={() => remove(t.id)}>
                      ✕
                    </button>
                  </span>
                </li>
              ))}
            </ol>
          </section>
        </div>
      )}
    </div>
  );
}
