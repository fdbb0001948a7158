// Video on demand pieces shared by the library, the video page and the watch page: the words
// and numbers a video is shown with, its status badge, the VOD player with the preview strip
// on its seek bar, and the cards of a list of videos.
import Hls from "hls.js/light";
import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent, type ReactNode } from "react";
import { type Schemas } from "./api";
import { useWatchReport } from "./engage";
import { Link } from "./router";
import { QualityMenu, qualities, type Quality } from "./ui";
import "./videos.css";
export { bytes } from "./format";

export type Video = Schemas["VideoView"];
export type VideoList = Schemas["VideoList"];
export type UpdateVideo = Schemas["UpdateVideo"];
export type Strip = Schemas["PreviewStrip"];

/** The `video-progress` Socket.IO event (not in the OpenAPI document: typed by hand). */
export type VideoProgressEvent = { video_id: string; status: Video["status"]; stage: string; percent: number };

/** `h:mm:ss` or `m:ss`. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A date as the reader's locale writes it (`3 Dec 2026`). */
export function day(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

const STAGES: Record<string, string> = {
  queued: "Waiting to process",
  probing: "Checking the file",
  packaging: "Preparing playback",
  mp4: "Making the download",
  thumbnails: "Making thumbnails",
};

/** What processing is doing, in words. */
export function stageWords(stage: string | null | undefined): string {
  return (stage && STAGES[stage]) || "Processing";
}

export const VISIBILITY: Record<string, string> = {
  public: "Public",
  unlisted: "Unlisted",
  private: "Private",
};

/** The status of a video as a badge: recording, uploading, processing n %, ready, failed. */
export function StatusBadge({ video, progress }: { video: Pick<Video, "status" | "progress">; progress?: { stage: string; percent: number } | null }) {
  const p = progress ?? video.progress;
  switch (video.status) {
    case "recording":
      return <span className="badge live" data-testid="video-status">Recording</span>;
    case "uploading":
      return <span className="badge warn" data-testid="video-status">Uploading</span>;
    case "processing":
      return (
        <span className="badge warn vod-processing" data-testid="video-status" title={stageWords(p?.stage)}>
          Processing {Math.max(0, Math.min(100, Math.round(p?.percent ?? 0)))} %
        </span>
      );
    case "ready":
      return <span className="badge good" data-testid="video-status">Ready</span>;
    case "failed":
      return <span className="badge failed" data-testid="video-status">Failed</span>;
    default:
      return <span className="badge" data-testid="video-status">{video.status}</span>;
  }
}

/** The poster of a video (its thumbnail, or a placeholder), with its duration over a corner. */
export function Poster({ video, className = "" }: { video: Video; className?: string }) {
  const thumb = video.playback?.thumbnail;
  return (
    <span className={`vod-poster ${className}`}>
      {thumb ? (
        <img src={thumb} alt="" loading="lazy" />
      ) : (
        <span className="vod-poster-none" aria-hidden="true">
          <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
            <rect x="2.5" y="5" width="14" height="14" rx="2.5" />
            <path d="m16.5 10 5-3v10l-5-3" />
          </svg>
        </span>
      )}
      {video.duration_seconds != null && <span className="vod-duration">{clock(video.duration_seconds)}</span>}
    </span>
  );
}

/** A grid of video cards linking to their pages (past broadcasts). */
export function VideoCards({ videos }: { videos: Video[] }) {
  return (
    <ul className="vod-cards">
      {videos.map((v) => (
        <li key={v.id}>
          <Link href={v.watch_url} className="vod-card" data-testid="video-card">
            <Poster video={v} />
            <span className="vod-card-title">{v.title}</span>
            <span className="vod-card-meta muted">{day(v.created_at)}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

/** Where in the strip the frame for `time` seconds is: its column and row. */
export function stripTile(strip: Strip, time: number): { col: number; row: number } {
  const i = Math.max(0, Math.min(strip.frames - 1, Math.floor(time / Math.max(1, strip.interval_seconds))));
  return { col: i % strip.columns, row: Math.floor(i / strip.columns) };
}

/** A video on demand: hls.js where Media Source Extensions exist (the browser's own HLS
 * elsewhere), the native controls for play, volume and full screen, and under the picture a seek
 * bar of its own that shows, while hovered (or dragged), the preview strip's frame of the time
 * under the pointer. */
export function VodPlayer({ src, poster, strip, title, duration, videoId, onViews, overlay }: { src: string; poster?: string | null; strip?: Strip | null; title: string; duration?: number | null; videoId?: string; onViews?: (views: number) => void; overlay?: (time: number) => ReactNode }) {
  const video = useRef<HTMLVideoElement>(null);
  // The view when it loads, and the time played while it plays.
  useWatchReport(video, videoId, onViews);
  const bar = useRef<HTMLDivElement>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [time, setTime] = useState(0);
  const [length, setLength] = useState(duration ?? 0);
  const [buffered, setBuffered] = useState(0);
  const [hover, setHover] = useState<{ x: number; t: number } | null>(null);
  const dragging = useRef(false);
  // A recording with renditions: its qualities, the one playing, and the viewer's choice
  // (-1: automatic).
  const [levels, setLevels] = useState<Quality[]>([]);
  const [playing, setPlaying] = useState(-1);
  const [choice, setChoice] = useState(-1);
  const hlsRef = useRef<Hls | null>(null);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const onTime = () => {
      setTime(v.currentTime);
      const b = v.buffered;
      setBuffered(b.length ? b.end(b.length - 1) : 0);
    };
    const onMeta = () => Number.isFinite(v.duration) && v.duration > 0 && setLength(v.duration);
    v.addEventListener("timeupdate", onTime);
    v.addEventListener("progress", onTime);
    v.addEventListener("seeking", onTime);
    v.addEventListener("durationchange", onMeta);
    let hls: Hls | null = null;
    let recovered = 0;
    if (Hls.isSupported()) {
      hls = new Hls({ maxBufferLength: 30, startPosition: 0 });
      hlsRef.current = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => setLevels(qualities(d.levels)));
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
        setPlaying(d.level);
        v.setAttribute("data-level-height", String(hls?.levels[d.level]?.height ?? 0));
      });
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (!d.fatal) return;
        console.warn("player error", d.type, d.details);
        if (d.type === Hls.ErrorTypes.MEDIA_ERROR && recovered++ < 2) hls?.recoverMediaError();
        else setProblem("This video cannot be played right now. Reload the page to try again.");
      });
      hls.loadSource(src);
      hls.attachMedia(v);
    } else if (v.canPlayType("application/vnd.apple.mpegurl")) {
      v.src = src;
    } else {
      setProblem("This browser cannot play this video (it has neither Media Source Extensions nor HLS).");
    }
    return () => {
      v.removeEventListener("timeupdate", onTime);
      v.removeEventListener("progress", onTime);
      v.removeEventListener("seeking", onTime);
      v.removeEventListener("durationchange", onMeta);
      hls?.destroy();
      hlsRef.current = null;
      setLevels([]);
      v.removeAttribute("src");
    };
  }, [src]);

  /** The time under the pointer at `clientX`, and where that is on the bar. */
  const at = (clientX: number) => {
    const r = bar.current!.getBoundingClientRect();
    const x = Math.max(0, Math.min(r.width, clientX - r.left));
    return { x, t: length > 0 ? (x / r.width) * length : 0 };
  };
  const seek = (t: number) => {
    const v = video.current;
    if (!v || !(length > 0)) return;
    v.currentTime = Math.max(0, Math.min(length - 0.05, t));
    setTime(v.currentTime);
  };
  const onMove = (e: PointerEvent<HTMLDivElement>) => {
    const p = at(e.clientX);
    setHover(p);
    if (dragging.current) seek(p.t);
  };
  const onDown = (e: PointerEvent<HTMLDivElement>) => {
    dragging.current = true;
    e.currentTarget.setPointerCapture(e.pointerId);
    const p = at(e.clientX);
    setHover(p);
    seek(p.t);
  };
  const onUp = (e: PointerEvent<HTMLDivElement>) => {
    dragging.current = false;
    e.currentTarget.releasePointerCapture(e.pointerId);
    if (e.pointerType !== "mouse") setHover(null);
  };
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const step = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, PageDown: -30, PageUp: 30 }[e.key];
    if (step !== undefined) seek(time + step);
    else if (e.key === "Home") seek(0);
    else if (e.key === "End") seek(length);
    else return;
    e.preventDefault();
  };

  const choose = (index: number) => {
    setChoice(index);
    // The next segment comes in the chosen quality; what is buffered plays out first.
    if (hlsRef.current) hlsRef.current.nextLevel = index;
  };
  const playingLabel = levels.find((l) => l.index === playing)?.label;

  const pct = (t: number) => (length > 0 ? `${Math.min(100, (t / length) * 100)}%` : "0%");
  const tile = strip && hover ? stripTile(strip, hover.t) : null;
  // The preview stays inside the bar: centred on the pointer, held at the ends.
  const previewWidth = strip ? strip.width : 64;
  const barWidth = bar.current?.getBoundingClientRect().width ?? 0;
  const left = hover ? Math.max(0, Math.min(barWidth - previewWidth, hover.x - previewWidth / 2)) : 0;
  return (
    <div className="vod-player">
      <div className="vod-screen">
        <video ref={video} controls playsInline preload="metadata" poster={poster ?? undefined} aria-label={title} data-testid="vod-video" data-levels={levels.length} />
        <QualityMenu levels={levels} choice={choice} playingLabel={playingLabel} onChoose={choose} />
        {overlay && <div className="vod-overlay">{overlay(time)}</div>}
      </div>
      <div className="vod-seek">
        <span className="vod-time" aria-hidden="true">{clock(time)}</span>
        <div
          ref={bar}
          className="vod-bar"
          role="slider"
          tabIndex={0}
          aria-label="Seek"
          aria-valuemin={0}
          aria-valuemax={Math.round(length)}
          aria-valuenow={Math.round(time)}
          aria-valuetext={`${clock(time)} of ${clock(length)}`}
          data-testid="seek-bar"
          onPointerMove={onMove}
          onPointerDown={onDown}
          onPointerUp={onUp}
          onPointerLeave={() => !dragging.current && setHover(null)}
          onKeyDown={onKey}
        >
          <span className="vod-track">
            <span className="vod-buffered" style={{ width: pct(buffered) }} />
            <span className="vod-played" style={{ width: pct(time) }} />
            {hover && <span className="vod-hover-line" style={{ left: hover.x }} />}
          </span>
          <span className="vod-thumb" style={{ left: pct(time) }} />
          {hover && (
            <span className="vod-preview" style={{ left, width: previewWidth }} data-testid="seek-preview" aria-hidden="true">
              {strip && tile && (
                <span
                  className="vod-preview-frame"
                  data-tile={`${tile.col},${tile.row}`}
                  style={{
                    width: strip.width,
                    height: strip.height,
                    backgroundImage: `url("${strip.url}")`,
                    backgroundPosition: `-${tile.col * strip.width}px -${tile.row * strip.height}px`,
                  }}
                />
              )}
              <span className="vod-preview-time">{clock(hover.t)}</span>
            </span>
          )}
        </div>
        <span className="vod-time" aria-hidden="true">{clock(length)}</span>
      </div>
      {problem && <p className="problem" role="alert">{problem}</p>}
    </div>
  );
}
