// A channel (`/c/<handle>`): the banner, avatar, name, handle, bio and links of a creator; their
// stream when they are live (the watch page's player); and their past broadcasts, videos and
// shorts, with an About tab. A handle no channel has is the page's own not-found answer.
import { useEffect, useState } from "react";
import { api, ApiError, session, type Schemas } from "../api";
import { Player } from "../live";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad } from "../ui";
import { day, VideoCards } from "../videos";
import { Avatar } from "../profile";
import { ChannelSchedule } from "../schedule";
import { ChannelGoals, TipButton } from "../tips";
import { JoinButton, LockedPlayer } from "../memberships";
import { ReportButton } from "../safety";
import { PostList } from "../posts";

type ChannelView = Schemas["ChannelView"];

/** The channel's live player: the viewer's own playback address (a members-only or
 * pay-per-view stream's with their token), or the locked player. */
function LivePlayer({ playbackId, title, handle }: { playbackId: string; title: string; handle: string }) {
  const access = useLoad(() => api<Schemas["LiveAccess"]>("GET", `/api/watch/${encodeURIComponent(playbackId)}/access`), [playbackId]);
  if (!access.data) return null;
  if (!access.data.access.entitled || !access.data.hls) {
    return <LockedPlayer access={access.data.access} handle={handle} target={{ source_id: access.data.source_id }} />;
  }
  return <Player src={access.data.hls} title={title} />;
}
type Tab = "posts" | "past" | "videos" | "shorts" | "schedule" | "about";

export default function Channel({ handle }: { handle: string }) {
  const channel = useLoad(() => api<ChannelView>("GET", `/api/channels/${encodeURIComponent(handle)}`), [handle]);
  useEffect(() => {
    if (channel.data) document.title = `${channel.data.display_name} (@${channel.data.handle}) · ferrocast`;
  }, [channel.data]);
  // While live, the channel is asked again now and then: a stream that ends leaves the page.
  const live = (channel.data?.live.length ?? 0) > 0;
  useEffect(() => {
    const t = setInterval(channel.reload, live ? 30000 : 60000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live]);
  if (channel.error instanceof ApiError && channel.error.status === 404) {
    return (
      <section className="standalone" aria-labelledby="cm-title" data-testid="channel-missing">
        <p className="code" aria-hidden="true">404</p>
        <h1 id="cm-title">This channel does not exist</h1>
        <p className="lead">No channel is called @{handle}. Check the spelling, or ask its creator for the link.</p>
        <p className="actions">
          <a className="button" href="/">Go to the start page</a>
        </p>
      </section>
    );
  }
  if (channel.error) return <Problem error={channel.error} onRetry={channel.reload} />;
  if (!channel.data) return <Loading what="the channel" />;
  return <ChannelPage channel={channel.data} />;
}

/** A link's address without its scheme, as people read it. */
function shortUrl(url: string): string {
  return url.replace(/^https?:\/\//i, "").replace(/\/$/, "");
}

/** "On the radio", linking to the channel's station while it is on the air. */
function RadioBadge({ handle }: { handle: string }) {
  const [onAir, setOnAir] = useState(false);
  useEffect(() => {
    let live = true;
    setOnAir(false);
    api<Schemas["StationView"]>("GET", `/api/radio/${encodeURIComponent(handle)}`).then(
      (s) => live && setOnAir(s.on_air),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [handle]);
  if (!onAir) return null;
  return (
    <Link className="badge good" href={`/radio/${handle}`} data-testid="channel-radio">
      On the radio
    </Link>
  );
}

function ChannelPage({ channel }: { channel: ChannelView }) {
  const counts: Record<Tab, number> = {
    posts: 0,
    past: channel.past_broadcasts.length,
    videos: channel.videos.length,
    shorts: channel.shorts.length,
    schedule: 0,
    about: 0,
  };
  const first: Tab = (["past", "videos", "shorts"] as Tab[]).find((t) => counts[t] > 0) ?? "about";
  const [tab, setTab] = useState<Tab>(first);
  const tabs: { id: Tab; label: string }[] = [
    { id: "past", label: "Past broadcasts" },
    { id: "videos", label: "Videos" },
    { id: "shorts", label: "Shorts" },
    { id: "posts", label: "Posts" },
    { id: "schedule", label: "Schedule" },
    { id: "about", label: "About" },
  ];
  const live = channel.live[0];
  const [followers, setFollowers] = useState(channel.followers);
  useEffect(() => setFollowers(channel.followers), [channel.followers]);
  return (
    <article className="channel" data-testid="channel">
      <div className="channel-banner">
        {channel.banner_url ? <img src={channel.banner_url} alt="" data-testid="channel-banner" /> : <span className="channel-banner-none" aria-hidden="true" />}
      </div>
      <header className="channel-head">
        <Avatar url={channel.avatar_url} name={channel.display_name} className="channel-avatar" />
        <div className="channel-who">
          <h1 data-testid="channel-name">{channel.display_name}</h1>
          <p className="channel-handle muted">
            <span data-testid="channel-handle">@{channel.handle}</span>
            <span className="channel-followers" data-testid="channel-followers">
              {followers === 1 ? "1 follower" : `${followers.toLocaleString()} followers`}
            </span>
            {live && (
              <span className="badge live" data-testid="channel-live">
                Live
              </span>
            )}
            <RadioBadge handle={channel.handle} />
          </p>
          {channel.bio && (
            <p className="channel-bio" data-testid="channel-bio">
              {channel.bio}
            </p>
          )}
          {channel.links.length > 0 && (
            <ul className="channel-links" aria-label="Links">
              {channel.links.map((l, i) => (
                <li key={i}>
                  <a href={l.url} rel="noopener noreferrer nofollow ugc" target="_blank" title={l.url}>
                    <svg viewBox="0 0 24 24" width="14" height="14" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
                      <path d="M10 14a5 5 0 0 0 7.07 0l3-3a5 5 0 0 0-7.07-7.07l-1 1M14 10a5 5 0 0 0-7.07 0l-3 3a5 5 0 0 0 7.07 7.07l1-1" />
                    </svg>
                    {l.label}
                  </a>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div className="channel-actions">
          <TipButton handle={channel.handle} name={channel.display_name} />
          <JoinButton handle={channel.handle} />
          <FollowButton channel={channel} onChange={setFollowers} />
          {channel.handle !== session()?.user?.handle && <ReportButton kind="channel" target={channel.handle} label={channel.display_name} testId="report-channel" />}
        </div>
      </header>

      <ChannelGoals handle={channel.handle} />

      {live && (
        <section className="channel-live card" aria-labelledby="channel-live-title" data-testid="channel-live-now">
          <div className="channel-live-player">
            <LivePlayer playbackId={live.playback_id} title={live.title} handle={channel.handle} />
          </div>
          <div className="channel-live-words">
            <span className="badge live">Live now</span>
            <h2 id="channel-live-title">{live.title}</h2>
            <p className="muted">{live.viewers === 1 ? "1 watching" : `${live.viewers} watching`}</p>
            <Link href={live.watch_url} className="button">
              Watch with chat
            </Link>
            {channel.live.length > 1 && (
              <ul className="channel-more-live">
                {channel.live.slice(1).map((l) => (
                  <li key={l.playback_id}>
                    <Link href={l.watch_url}>{l.title}</Link>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </section>
      )}

      <div className="channel-tabs" role="tablist" aria-label="Channel">
        {tabs.map((t) => (
          <button
            key={t.id}
            role="tab"
            id={`channel-tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls="channel-panel"
            className={`channel-tab ${tab === t.id ? "on" : ""}`}
            onClick={() => setTab(t.id)}
            data-testid={`channel-tab-${t.id}`}
          >
            {t.label}
            {t.id !== "about" && counts[t.id] > 0 && <span className="channel-count">{counts[t.id]}</span>}
          </button>
        ))}
      </div>
      <section id="channel-panel" role="tabpanel" aria-labelledby={`channel-tab-${tab}`} className="channel-panel">
        {tab === "past" && (channel.past_broadcasts.length ? <VideoCards videos={channel.past_broadcasts} /> : <Empty>No past broadcasts yet. Recorded streams appear here.</Empty>)}
        {tab === "videos" && (channel.videos.length ? <VideoCards videos={channel.videos} /> : <Empty>No videos yet.</Empty>)}
        {tab === "shorts" &&
          (channel.shorts.length ? (
            <div className="channel-shorts">
              <VideoCards videos={channel.shorts} />
            </div>
          ) : (
            <Empty>No shorts yet. Videos of a minute or less appear here.</Empty>
          ))}
        {tab === "posts" && (
          <PostList
            path={`/api/channels/${encodeURIComponent(channel.handle)}/posts`}
            composer={session()?.user.handle === channel.handle}
            empty={`${channel.display_name} has not posted yet.`}
          />
        )}
        {tab === "schedule" && <ChannelSchedule handle={channel.handle} />}
        {tab === "about" && (
          <div className="card channel-about" data-testid="channel-about">
            <h2>About</h2>
            {channel.bio ? <p className="channel-bio-full">{channel.bio}</p> : <p className="muted">{channel.display_name} has not written a bio yet.</p>}
            {channel.links.length > 0 && (
              <>
                <h3>Links</h3>
                <ul className="channel-about-links">
                  {channel.links.map((l, i) => (
                    <li key={i}>
                      <strong>{l.label}</strong>{" "}
                      <a href={l.url} rel="noopener noreferrer nofollow ugc" target="_blank">
                        {shortUrl(l.url)}
                      </a>
                    </li>
                  ))}
                </ul>
              </>
            )}
            <p className="muted fine">Joined {day(channel.created_at)}</p>
          </div>
        )}
      </section>
    </article>
  );
}

/** Follow and unfollow; someone signed out is sent to log in, the owner to their channel settings. */
function FollowButton({ channel, onChange }: { channel: ChannelView; onChange: (followers: number) => void }) {
  const me = session()?.user;
  const [following, setFollowing] = useState(channel.following);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setFollowing(channel.following), [channel.following]);
  if (!me) {
    return (
      <a className="button channel-follow" href="/login" data-testid="channel-follow-login">
        Log in to follow
      </a>
    );
  }
  if (me.handle === channel.handle) {
    return (
      <Link href="/settings" className="button ghost channel-follow" data-testid="channel-edit">
        Edit channel
      </Link>
    );
  }
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<Schemas["FollowView"]>(following ? "DELETE" : "POST", `/api/channels/${encodeURIComponent(channel.handle)}/follow`);
      setFollowing(r.following);
      onChange(r.followers);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : "Could not reach the server; try again.");
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="channel-follow-box">
      <button
        className={`button channel-follow ${following ? "ghost" : ""}`}
        aria-pressed={following}
        disabled={busy}
        onClick={toggle}
        data-testid="channel-follow"
      >
        {following ? "Following" : "Follow"}
      </button>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
