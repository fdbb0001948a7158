// Search (`/search?q=&type=`): channels, streams live now and public videos matching the words
// typed in the top bar's search box. "All" shows the first few of each kind with a way to see
// all of one kind; one kind pages on with "Show more". Handles match with a typo or two, and a
// channel found that way says so.
import { useEffect, useState } from "react";
import { api, type Schemas } from "../api";
import { Avatar } from "../profile";
import { Link, navigate } from "../router";
import { Loading, Problem } from "../ui";
import { day, Poster } from "../videos";
import "../videos.css";
import "../browse.css";
import "../search.css";

type Result = Schemas["SearchResponse"];
type Kind = "all" | "channels" | "live" | "videos";
const KINDS: { id: Kind; label: string }[] = [
  { id: "all", label: "All" },
  { id: "channels", label: "Channels" },
  { id: "live", label: "Live" },
  { id: "videos", label: "Videos" },
];
/** Results of each kind in "All" (the API's default). */
const ALL_LIMIT = 6;

function readAddress(): { q: string; kind: Kind } {
  const p = new URLSearchParams(location.search);
  const t = p.get("type") ?? "all";
  return { q: p.get("q") ?? "", kind: (KINDS.some((k) => k.id === t) ? t : "all") as Kind };
}

/** The address of a search. */
export function searchHref(q: string, kind: Kind = "all"): string {
  const p = new URLSearchParams({ q });
  if (kind !== "all") p.set("type", kind);
  return `/search?${p}`;
}

export default function Search() {
  const [where, setWhere] = useState(readAddress);
  useEffect(() => {
    const on = () => setWhere(readAddress());
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  const { q, kind } = where;
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [more, setMore] = useState(false);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    document.title = q.trim() ? `${q.trim()} · Search · ferrocast` : "Search · ferrocast";
  }, [q]);
  useEffect(() => {
    let live = true;
    setResult(null);
    setError(null);
    if (!q.trim()) return;
    const p = new URLSearchParams({ q, type: kind });
    api<Result>("GET", `/api/search?${p}`).then(
      (r) => live && setResult(r),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [q, kind, tick]);

  async function showMore() {
    if (!result?.next_cursor) return;
    setMore(true);
    try {
      const p = new URLSearchParams({ q, type: kind, cursor: result.next_cursor });
      const next = await api<Result>("GET", `/api/search?${p}`);
      setResult({
        ...next,
        channels: [...result.channels, ...next.channels],
        live: [...result.live, ...next.live],
        videos: [...result.videos, ...next.videos],
      });
    } catch (e) {
      setError(e);
    } finally {
      setMore(false);
    }
  }

  const nothing = result && result.channels.length + result.live.length + result.videos.length === 0;
  return (
    <div className="search-page" data-testid="search-page">
      <header className="search-head">
        <p className="eyebrow">Search</p>
        <h1>{q.trim() ? <>Results for “{q.trim()}”</> : "Find channels, streams and videos"}</h1>
      </header>
      <div className="chips" role="tablist" aria-label="What to show">
        {KINDS.map((k) => (
          <button
            key={k.id}
            type="button"
            role="tab"
            className="chip"
            aria-selected={kind === k.id}
            aria-pressed={kind === k.id}
            data-testid={`search-tab-${k.id}`}
            onClick={() => navigate(searchHref(q, k.id))}
          >
            {k.label}
          </button>
        ))}
      </div>
      {!q.trim() && (
        <div className="vod-empty" data-testid="search-prompt">
          <h2>What are you looking for?</h2>
          <p>Type a channel’s name or handle, a stream’s title or tag, or words of a video in the search box above. A handle finds its channel even with a typo.</p>
          <p>
            <Link href="/browse" className="button secondary">Browse who is live</Link>
          </p>
        </div>
      )}
      <Problem error={error} onRetry={() => setTick((t) => t + 1)} />
      {q.trim() && !result && !error && <Loading what="results" />}
      {nothing && (
        <div className="vod-empty" data-testid="search-empty">
          <h2>Nothing matches “{q.trim()}”</h2>
          <p>
            {kind === "all"
              ? "Check the spelling, use fewer words, or try a channel’s handle."
              : `No ${kind === "live" ? "live streams" : kind} match. Try All, or fewer words.`}
          </p>
        </div>
      )}
      {result && !nothing && (
        <>
          {result.channels.length > 0 && (
            <Section title="Channels" kind="channels" current={kind} q={q} count={result.channels.length}>
              <ul className="search-channels" aria-label="Channels">
                {result.channels.map((c) => (
                  <li key={c.handle}>
                    <Link href={c.url} className="search-channel" data-testid="search-channel">
                      <Avatar url={c.avatar_url} name={c.display_name} className="search-avatar" />
                      <span className="search-channel-words">
                        <span className="search-channel-name">
                          <strong>{c.display_name}</strong>
                          {c.live && <span className="badge live">Live</span>}
                        </span>
                        <span className="muted search-channel-handle" data-testid="search-channel-handle">
                          @{c.handle}
                          {c.matched === "similar_handle" && <span className="search-similar"> · similar handle</span>}
                        </span>
                        {c.bio && <span className="search-channel-bio">{c.bio}</span>}
                      </span>
                    </Link>
                  </li>
                ))}
              </ul>
            </Section>
          )}
          {result.live.length > 0 && (
            <Section title="Live now" kind="live" current={kind} q={q} count={result.live.length}>
              <ul className="vod-cards live-cards" aria-label="Live streams">
                {result.live.map((s) => {
                  const pid = encodeURIComponent(s.playback_id);
                  return (
                    <li key={s.playback_id}>
                      <Link href={`/watch/${pid}`} className="vod-card live-card" data-testid="search-live">
                        <span className="vod-poster">
                          <img src={`/api/watch/${pid}/thumbnail.jpg`} alt="" loading="lazy" />
                          <span className="badge live live-card-badge">Live</span>
                          <span className="live-card-viewers">
                            {s.viewers} {s.viewers === 1 ? "viewer" : "viewers"}
                          </span>
                        </span>
                        <span className="vod-card-title">{s.title}</span>
                        <span className="live-card-meta">
                          <span className="live-card-creator">{s.channel.display_name}</span>
                          {s.category_name && <span className="category-pill">{s.category_name}</span>}
                          {s.mature && <span className="badge warn">18+</span>}
                        </span>
                      </Link>
                    </li>
                  );
                })}
              </ul>
            </Section>
          )}
          {result.videos.length > 0 && (
            <Section title="Videos" kind="videos" current={kind} q={q} count={result.videos.length}>
              <ul className="vod-cards" aria-label="Videos">
                {result.videos.map((h) => (
                  <li key={h.video.id}>
                    <Link href={h.video.watch_url} className="vod-card" data-testid="search-video">
                      <Poster video={h.video} />
                      <span className="vod-card-title">{h.video.title}</span>
                      <span className="vod-card-meta muted">
                        {h.channel.display_name} · {day(h.video.created_at)}
                      </span>
                    </Link>
                  </li>
                ))}
              </ul>
            </Section>
          )}
          {kind !== "all" && result.next_cursor && (
            <p className="search-more">
              <button className="button secondary" onClick={showMore} disabled={more}>
                {more ? "Loading…" : "Show more"}
              </button>
            </p>
          )}
        </>
      )}
    </div>
  );
}

function Section({ title, kind, current, q, count, children }: { title: string; kind: Kind; current: Kind; q: string; count: number; children: React.ReactNode }) {
  return (
    <section className="search-section" aria-label={title}>
      <div className="search-section-head">
        <h2>{title}</h2>
        {current === "all" && count >= ALL_LIMIT && (
          <Link href={searchHref(q, kind)} className="search-all">
            See all {title.toLowerCase()}
          </Link>
        )}
      </div>
      {children}
    </section>
  );
}
