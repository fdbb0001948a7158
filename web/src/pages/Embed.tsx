// The embeddable player (`/embed/<playback_id>`): a stream's player alone, filling the frame a
// site gives it, with the live badge, the viewer count and a link to the watch page. Other
// sites may frame this page (the server sends `frame-ancestors *` for it alone).
import { Player, useSocket, useStage, useStreamRoom } from "../live";
import { watchUrl } from "../links";
import "../embed.css";

export default function Embed({ playbackId }: { playbackId: string }) {
  const socket = useSocket();
  const { status, viewers } = useStreamRoom(socket, playbackId);

  const live = status === "live";
  const stage = useStage(live);
  const watch = watchUrl(playbackId);
  return (
    <main className="embed" aria-label="Live stream">
      {stage.show ? (
        <Player key={stage.round} src={`/hls/${encodeURIComponent(playbackId)}/index.m3u8`} title="Live stream" live={live} onEnded={stage.onEnded} />
      ) : (
        <div className="offline" role="status">
          <strong>{status === null ? "Connecting…" : "This stream is offline."}</strong>
          {status !== null && <span>It starts here as soon as the creator goes live.</span>}
        </div>
      )}
      <div className="overlay">
        {status !== null && <span className={`badge ${live ? "live" : ""}`}>{live ? "Live" : "Offline"}</span>}
        {live && <span className="viewers" data-testid="viewer-count">{viewers} watching</span>}
        <a className="watch-on" href={watch} target="_blank" rel="noopener">
          Watch on ferrocast
        </a>
      </div>
    </main>
  );
}
