// A video's page (`/v/<uuid>`): the player with the preview strip on its seek bar, the title,
// date, description and tags, the MP4 download and the link to share. A video that is not
// there, or is private to someone else, is one answer: it does not exist for this visitor.
import { useEffect, useState } from "react";
import { api, ApiError, session } from "../api";
import { ReportButton } from "../safety";
import { Comments, count, LikeButton } from "../engage";
import { CreatorLink } from "../profile";
import { CopyField } from "../share";
import { Loading, Problem, useLoad } from "../ui";
import { bytes, day, Poster, StatusBadge, stageWords, VISIBILITY, VodPlayer, type Video as VideoView } from "../videos";
import { LockedPlayer } from "../memberships";
import "../dmca.css";

export default function Video({ id }: { id: string }) {
  const video = useLoad(() => api<VideoView>("GET", `/api/videos/${encodeURIComponent(id)}`), [id]);
  const v = video.data;
  useEffect(() => {
    if (v) document.title = `${v.title} · ferrocast`;
  }, [v]);
  // Not ready yet (the owner looking at it): asked again every few seconds.
  const pending = v && v.status !== "ready" && v.status !== "failed";
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(video.reload, 3000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pending]);

  if (video.error instanceof ApiError && video.error.status === 451) {
    return (
      <section className="standalone" aria-labelledby="vl-title" data-testid="video-legal">
        <p className="code" aria-hidden="true">451</p>
        <h1 id="vl-title">This video is unavailable for legal reasons</h1>
        <p className="lead">It was disabled after a copyright notice. If it is yours, its case is in the email we sent you, where you can file a counter-notice.</p>
        <p className="actions">
          <a className="button" href="/">Go to the start page</a>
        </p>
      </section>
    );
  }
  if (video.error instanceof ApiError && video.error.status === 404) {
    return (
      <section className="standalone" aria-labelledby="vm-title" data-testid="video-missing">
        <p className="code" aria-hidden="true">404</p>
        <h1 id="vm-title">This video does not exist or is private</h1>
        <p className="lead">The link may be old or mistyped, or its creator deleted the video or made it private.</p>
        <p className="actions">
          <a className="button" href="/">Go to the start page</a>
        </p>
      </section>
    );
  }
  if (video.error) return <Problem error={video.error} onRetry={video.reload} />;
  if (!v) return <Loading what="the video" />;
  return <VideoPage video={v} />;
}

function VideoPage({ video }: { video: VideoView }) {
  const p = video.playback;
  const [views, setViews] = useState(video.views ?? 0);
  const [comments, setComments] = useState(video.comments ?? 0);
  const link = `${location.origin}${video.watch_url}`;
  return (
    <article className="vod-page">
      {video.disabled && (
        <p className="notice dmca-banner" role="status" data-testid="video-disabled">
          This video is disabled after a copyright notice: nobody else can watch it.{" "}
          {video.disabled.case_id != null && (
            <a href={`/dmca/counter/${video.disabled.case_id}`} data-testid="video-counter-link">See the case and file a counter-notice</a>
          )}
        </p>
      )}
      <div className="vod-stage">
        {video.disabled ? (
          <div className="vod-legal" data-testid="video-legal-owner">
            <div>
              <p className="code" aria-hidden="true">451</p>
              <p>Unavailable for legal reasons.</p>
            </div>
          </div>
        ) : video.status === "ready" && !video.access.entitled ? (
          <LockedPlayer access={video.access} handle={video.creator?.handle} target={{ video: video.id }} poster={p?.thumbnail} />
        ) : video.status === "ready" && p?.hls ? (
          <VodPlayer src={p.hls} poster={p.thumbnail} strip={p.strip} title={video.title} duration={video.duration_seconds} videoId={video.id} onViews={setViews} />
        ) : (
          <div className="vod-not-ready" role="status" data-testid="video-not-ready">
            <Poster video={video} />
            <div className="vod-not-ready-words">
              <StatusBadge video={video} />
              <p>
                {video.status === "failed"
                  ? `This video could not be processed: ${video.failure ?? "no reason was given"}.`
                  : video.status === "recording"
                    ? "This broadcast is still being recorded. It can be watched here once it ends and is processed."
                    : video.status === "uploading"
                      ? "This video is still uploading."
                      : `${stageWords(video.progress?.stage)}… It can be watched here in a moment.`}
              </p>
            </div>
          </div>
        )}
      </div>
      <div className="vod-info">
        <h1 data-testid="video-page-title">{video.title}</h1>
        <div className="vod-meta">
          {video.creator && <CreatorLink handle={video.creator.handle} name={video.creator.display_name} avatarUrl={video.creator.avatar_url} testId="video-creator" />}
          <span className="muted">
            {day(video.created_at)}
            {video.kind === "recording" && " · Broadcast"}
          </span>
          {video.visibility !== "public" && <span className={`badge vod-visibility ${video.visibility}`}>{VISIBILITY[video.visibility] ?? video.visibility}</span>}
          {video.access.level !== "public" && <span className="badge member-badge" data-testid="video-access-badge">{video.access.level === "ppv" ? "Pay-per-view" : video.access.tier ? `${video.access.tier.name}+ members` : "Members only"}</span>}
          <span className="vod-meta-actions">
            {p?.mp4 && (
              <a className="button ghost small" href={p.mp4} download data-testid="download-mp4">
                <svg viewBox="0 0 24 24" width="16" height="16" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
                  <path d="M12 4v12m0 0-5-5m5 5 5-5M4 20h16" />
                </svg>
                Download MP4{video.size_bytes > 0 && <span className="muted fine"> ({bytes(video.size_bytes)})</span>}
              </a>
            )}
            <a className="muted fine" href={`/dmca?video=${encodeURIComponent(video.id)}`} data-testid="report-copyright">Report copyright infringement</a>
          </span>
        </div>
        <div className="vod-stats">
          <span className="muted" data-testid="view-count">{count(views, "view", "views")}</span>
          <LikeButton videoId={video.id} likes={video.likes ?? 0} liked={video.liked ?? false} />
          {video.creator?.handle !== session()?.user?.handle && <ReportButton kind="video" target={video.id} label={`“${video.title}”`} testId="report-video" />}
          <a href="#comments-title" className="muted fine">{count(comments, "comment", "comments")}</a>
        </div>
        <div className="vod-description card">
          {video.description ? <p className="vod-description-text">{video.description}</p> : <p className="muted">No description.</p>}
          {video.tags.length > 0 && (
            <p className="vod-tags" aria-label="Tags">
              {video.tags.map((t) => (
                <span key={t} className="vod-tag">#{t}</span>
              ))}
            </p>
          )}
        </div>
        <details className="card share" data-testid="video-share">
          <summary>Share</summary>
          <CopyField label="Link" value={link} testId="video-share-link" />
        </details>
        <Comments videoId={video.id} total={comments} onCount={setComments} />
      </div>
    </article>
  );
}
