import { useEffect, useState } from "react";
import { api, ApiError, session, type Schemas } from "../api";
import { ReportButton } from "../safety";
import { Chat, Player, WhepPlayer, useSocket, useStage, useStreamRoom } from "../live";
import { CreatorLink } from "../profile";
import { SharePanel } from "../share";
import { ChannelGoals, TipButton } from "../tips";
import { Loading, Problem, useLoad } from "../ui";
import { VideoCards } from "../videos";
import { JoinButton, LockedPlayer } from "../memberships";

const REACTIONS: Record<string, string> = { heart: "❤️", fire: "🔥", clap: "👏", laugh: "😂", wow: "😮", sad: "😢" };

export default function Watch({ playbackId }: { playbackId: string }) {
  const stream = useLoad(() => api<Schemas["WatchView"]>("GET", `/api/watch/${encodeURIComponent(playbackId)}`), [playbackId]);
  useEffect(() => {
    if (stream.data) document.title = `${stream.data.title} · ${stream.data.creator}`;
  }, [stream.data]);
  if (stream.error instanceof ApiError && stream.error.code === "STREAM_NOT_FOUND") {
    return (
      <section className="narrow center watch-missing" role="status">
        <h1>This stream does not exist</h1>
        <p>No stream has this link. Check it, or ask the creator for a new one.</p>
        <p>
          <a href="/">Go to the start page</a>
        </p>
      </section>
    );
  }
  if (stream.error) return <Problem error={stream.error} onRetry={stream.reload} />;
  if (!stream.data) return <Loading what="the stream" />;
  return <Stream playbackId={playbackId} info={stream.data} />;
}

/** What `stream-info` carries when the creator changes the stream's title, category or tags
 * (Socket.IO events are not in the OpenAPI document). */
type StreamInfo = Pick<Schemas["WatchView"], "title" | "description" | "category" | "category_name" | "tags" | "language" | "mature"> & { playback_id: string };

function Stream({ playbackId, info: first }: { playbackId: string; info: Schemas["WatchView"] }) {
  const socket = useSocket();
  const { status, viewers } = useStreamRoom(socket, playbackId);
  const [burst, setBurst] = useState<{ id: number; r: string }[]>([]);
  const [info, setInfo] = useState(first);

  // The creator changed what the stream is called (or its category or tags): shown at once.
  useEffect(() => {
    if (!socket) return;
    const onInfo = (i: StreamInfo) => {
      if (i.playback_id !== playbackId) return;
      setInfo((w) => ({ ...w, title: i.title, description: i.description, category: i.category, category_name: i.category_name, tags: i.tags, language: i.language, mature: i.mature }));
      document.title = `${i.title} · ${first.creator}`;
    };
    socket.on("stream-info", onInfo);
    return () => {
      socket.off("stream-info", onInfo);
    };
  }, [socket, playbackId, first.creator]);

  useEffect(() => {
    if (!socket) return;
    const onReaction = (r: { reaction: string }) => {
      const id = Math.random();
      setBurst((b) => [...b.slice(-20), { id, r: r.reaction }]);
      setTimeout(() => setBurst((b) => b.filter((x) => x.id !== id)), 2500);
    };
    socket.on("reaction", onReaction);
    return () => {
      socket.off("reaction", onReaction);
    };
  }, [socket]);

  const live = status === "live";
  // Sub-second playback over WebRTC instead of LL-HLS (`?webrtc=1` opens the page with it).
  const [webrtc, setWebrtc] = useState(() => new URLSearchParams(window.location.search).get("webrtc") === "1");
  // The player stays until it has shown the stream's last seconds, after the status says offline.
  const stage = useStage(live);
  // Where this viewer plays it (a members-only or pay-per-view stream: with their token), asked
  // again for each round of the player so a token never outlives it.
  const access = useLoad(() => api<Schemas["LiveAccess"]>("GET", `/api/watch/${encodeURIComponent(playbackId)}/access`), [playbackId, stage.round]);
  return (
    <div className="watch">
      <header className="watch-head">
        <h1 data-testid="watch-title">{info.title}</h1>
        <p data-testid="watch-creator">
          <CreatorLink handle={info.creator_handle} name={info.creator} avatarUrl={info.creator_avatar_url} testId="watch-creator-link" />
          <JoinButton handle={info.creator_handle} compact />
          {info.creator_handle !== session()?.user?.handle && <ReportButton kind="live_stream" target={playbackId} label={`“${info.title}”`} testId="report-stream" />}
        </p>
        {(info.category_name || info.tags.length > 0) && (
          <div className="watch-info">
            {info.category && info.category_name && (
              <a className="category-pill" href={`/browse?category=${encodeURIComponent(info.category)}`} data-testid="watch-category">
                {info.category_name}
              </a>
            )}
            {info.tags.length > 0 && (
              <span className="tags" data-testid="watch-tags">
                {info.tags.map((t) => (
                  <span key={t} className="tag">#{t}</span>
                ))}
              </span>
            )}
          </div>
        )}
        {info.description && <Description text={info.description} />}
        {info.creator_handle && (
          <div className="watch-support" data-testid="watch-support">
            <TipButton handle={info.creator_handle} name={info.creator} />
            <ChannelGoals handle={info.creator_handle} />
          </div>
        )}
      </header>
      <section className="stage" aria-label="Stream">
        {stage.show ? (
          access.data && !access.data.access.entitled ? (
            <LockedPlayer access={access.data.access} handle={info.creator_handle} target={{ source_id: access.data.source_id }} />
          ) : access.data?.hls && webrtc ? (
            <WhepPlayer key={stage.round} src={`/whep/${encodeURIComponent(playbackId)}${new URL(access.data.hls, window.location.href).search}`} title="Live stream" live={live} onEnded={stage.onEnded} />
          ) : access.data?.hls ? (
            <Player key={stage.round} src={access.data.hls} title="Live stream" live={live} onEnded={stage.onEnded} />
          ) : (
            <div className="offline" role="status">Loading the player…</div>
          )
        ) : (
          <div className="offline" role="status">This stream is offline. It starts here as soon as the creator goes live.</div>
        )}
        <div className="bar">
          <span className={`badge ${live ? "live" : ""}`}>{live ? "Live" : "Offline"}</span>
          <span data-testid="viewer-count">{viewers} watching</span>
          <button
            className={`ghost small ${webrtc ? "on" : ""}`}
            aria-pressed={webrtc}
            data-testid="webrtc-toggle"
            title={webrtc ? "Playing over WebRTC: under a second behind, one quality" : "Play over WebRTC: under a second behind the creator"}
            onClick={() => setWebrtc((w) => !w)}
          >
            ⚡ Real-time
          </button>
          <span className="reactions" aria-label="React">
            {Object.entries(REACTIONS).map(([k, e]) => (
              <button key={k} className="ghost small" aria-label={`React with ${k}`} onClick={() => socket?.emit("send-reaction", { playbackId, reaction: k })}>
                {e}
              </button>
            ))}
          </span>
          <span className="burst" aria-hidden="true">
            {burst.map((b) => (
              <span key={b.id}>{REACTIONS[b.r] ?? ""}</span>
            ))}
          </span>
        </div>
      </section>
      <Chat socket={socket} room={{ playbackId }} />
      <SharePanel playbackId={playbackId} title={info.title} />
      <PastBroadcasts playbackId={playbackId} />
    </div>
  );
}

/** The source's recorded broadcasts (public and ready, newest first); nothing when none. */
function PastBroadcasts({ playbackId }: { playbackId: string }) {
  const past = useLoad(() => api<Schemas["PastBroadcasts"]>("GET", `/api/watch/${encodeURIComponent(playbackId)}/videos`), [playbackId]);
  const videos = past.data?.videos ?? [];
  if (!videos.length) return null;
  return (
    <section className="past-broadcasts" aria-labelledby="past-title" data-testid="past-broadcasts">
      <h2 id="past-title">Past broadcasts</h2>
      <VideoCards videos={videos} />
    </section>
  );
}

/** The stream's description: three lines, and the rest on asking. */
function Description({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const long = text.length > 240 || text.split("\n").length > 3;
  return (
    <div className="watch-description" data-testid="watch-description">
      <p className={open || !long ? "" : "clamped"}>{text}</p>
      {long && (
        <button type="button" className="link small" onClick={() => setOpen(!open)} aria-expanded={open}>
          {open ? "Show less" : "Show more"}
        </button>
      )}
    </div>
  );
}
