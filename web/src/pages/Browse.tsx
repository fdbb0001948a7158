// Browse: the streams live now, most viewers first, by category (chips) and language; each card
// a picture of the stream, its viewers, title, creator and category, linking to its watch page.
// The list refreshes itself every 20 s, and the pictures every minute.
import { useEffect, useState } from "react";
import { api, type Schemas } from "../api";
import { count } from "../engage";
import { Link } from "../router";
import { LANGUAGES_BY_NAME, languageName, loadCategories } from "../streaminfo";
import { Loading, Problem, useLoad, useUser } from "../ui";
import { Poster } from "../videos";
import { Avatar } from "../profile";
import "../videos.css";
import "../browse.css";

type Card = Schemas["LiveStreamCard"];

/** How often the list is read again. */
const REFRESH_MS = 20_000;

function fromQuery(name: string): string {
  return new URLSearchParams(location.search).get(name) ?? "";
}

export default function Browse() {
  const user = useUser();
  const [category, setCategory] = useState(() => fromQuery("category"));
  const [language, setLanguage] = useState(() => fromQuery("language"));
  const [tick, setTick] = useState(0);
  const categories = useLoad(loadCategories);
  useEffect(() => {
    document.title = "Browse · ferrocast";
    const t = setInterval(() => setTick((n) => n + 1), REFRESH_MS);
    return () => clearInterval(t);
  }, []);
  // The filters are in the address, so a filtered list can be shared and survives a reload.
  useEffect(() => {
    const q = new URLSearchParams();
    if (category) q.set("category", category);
    if (language) q.set("language", language);
    const to = `/browse${q.size ? `?${q}` : ""}`;
    if (location.pathname + location.search !== to) history.replaceState(null, "", to);
  }, [category, language]);
  const live = useLoad(() => {
    const q = new URLSearchParams({ limit: "48" });
    if (category) q.set("category", category);
    if (language) q.set("language", language);
    return api<Schemas["LiveList"]>("GET", `/api/browse/live?${q}`);
  }, [category, language, tick]);
  // The pictures are asked for again once a minute.
  const minute = Math.floor((tick * REFRESH_MS) / 60_000);
  const streams = live.data?.streams ?? [];
  const categoryName = categories.data?.find((c) => c.slug === category)?.name;

  return (
    <div className="browse">
      <header className="browse-head">
        <div>
          <p className="eyebrow">Live now</p>
          <h1>Browse</h1>
        </div>
        <label className="compact browse-language">
          Language
          <select name="language" value={language} onChange={(e) => setLanguage(e.target.value)}>
            <option value="">Any language</option>
            {LANGUAGES_BY_NAME.map((l) => (
              <option key={l.code} value={l.code}>{l.name}</option>
            ))}
          </select>
        </label>
      </header>
      {user && <Following tick={tick} />}
      <div className="chips" role="group" aria-label="Category">
        <button type="button" className="chip" aria-pressed={category === ""} onClick={() => setCategory("")}>All</button>
        {(categories.data ?? []).map((c) => (
          <button key={c.slug} type="button" className="chip" aria-pressed={category === c.slug} onClick={() => setCategory(c.slug)}>
            {c.name}
          </button>
        ))}
      </div>
      <Problem error={categories.error} onRetry={categories.reload} />
      <Problem error={live.error} onRetry={live.reload} />
      {!live.data && !live.error && <Loading what="live streams" />}
      {live.data && streams.length === 0 && (
        <div className="vod-empty browse-empty" data-testid="browse-empty">
          <span className="icon" aria-hidden="true">
            <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
              <path d="M16.2 7.8a6 6 0 0 1 0 8.4M7.8 16.2a6 6 0 0 1 0-8.4M19.1 4.9a10 10 0 0 1 0 14.2M4.9 19.1a10 10 0 0 1 0-14.2" />
              <circle cx="12" cy="12" r="2" />
            </svg>
          </span>
          <h2>{category || language ? "Nobody is live here right now" : "Nobody is live right now"}</h2>
          <p>
            {category || language
              ? `No live streams${categoryName ? ` in ${categoryName}` : ""}${language ? ` in ${languageName(language)}` : ""} at the moment. Try another category, or come back later: this list updates itself.`
              : "When a creator goes live, their stream appears here. This list updates itself."}
          </p>
          {!user && (
            <p>
              <Link className="button" href="/register">Start streaming</Link>
            </p>
          )}
        </div>
      )}
      {streams.length > 0 && (
        <ul className="vod-cards live-cards" aria-label="Live streams">
          {streams.map((s) => (
            <LiveCard key={s.playback_id} s={s} minute={minute} />
          ))}
        </ul>
      )}
      <Trending tick={Math.floor(minute / 5)} />
    </div>
  );
}

/** Videos with the most engagement lately (views, likes, comments, watch time; each day's
 * counting half as much as the next), read again every five minutes. */
function Trending({ tick }: { tick: number }) {
  const trending = useLoad(() => api<Schemas["TrendingList"]>("GET", "/api/browse/trending?limit=12"), [tick]);
  const videos = trending.data?.videos ?? [];
  if (trending.data && videos.length === 0) return null;
  return (
    <section className="browse-trending" aria-labelledby="trending-title" data-testid="trending">
      <h2 id="trending-title">Trending videos</h2>
      <Problem error={trending.error} onRetry={trending.reload} />
      {!trending.data && !trending.error && <Loading what="trending videos" />}
      {videos.length > 0 && (
        <ul className="vod-cards" aria-label="Trending videos">
          {videos.map((v) => (
            <li key={v.id}>
              <Link href={v.watch_url} className="vod-card" data-testid="trending-card">
                <Poster video={v} />
                <span className="vod-card-title">{v.title}</span>
                <span className="vod-card-meta muted">
                  {v.creator && <span>{v.creator.display_name} · </span>}
                  <span data-testid="trending-views">{count(v.views ?? 0, "view", "views")}</span>
                  {(v.likes ?? 0) > 0 && <span> · {count(v.likes ?? 0, "like", "likes")}</span>}
                </span>
              </Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function LiveCard({ s, minute }: { s: Card; minute: number }) {
  const pid = encodeURIComponent(s.playback_id);
  return (
    <li>
      <Link href={`/watch/${pid}`} className="vod-card live-card" data-testid="live-card">
        <span className="vod-poster">
          <img src={`/api/watch/${pid}/thumbnail.jpg?m=${minute}`} alt="" loading="lazy" data-testid="live-thumbnail" />
          <span className="badge live live-card-badge">Live</span>
          <span className="live-card-viewers" data-testid="live-viewers">
            {s.viewers} {s.viewers === 1 ? "viewer" : "viewers"}
          </span>
        </span>
        <span className="vod-card-title" data-testid="live-title">{s.title}</span>
        <span className="live-card-meta">
          <span className="live-card-creator">{s.channel.display_name}</span>
          {s.category_name && <span className="category-pill" data-testid="live-category">{s.category_name}</span>}
          {s.mature && <span className="badge warn">18+</span>}
        </span>
      </Link>
    </li>
  );
}

/** The channels the signed-in viewer follows, those live first, as a row of avatars. */
function Following({ tick }: { tick: number }) {
  const list = useLoad(() => api<Schemas["FollowedChannel"][]>("GET", "/api/me/following"), [tick]);
  const channels = [...(list.data ?? [])].sort((a, b) => Number(b.live) - Number(a.live));
  if (channels.length === 0) return null;
  return (
    <section className="browse-following" aria-labelledby="following-title">
      <h2 id="following-title">Channels you follow</h2>
      <ul>
        {channels.map((c) => (
          <li key={c.handle}>
            <Link href={c.url} className="following-channel" data-testid="following-channel" title={`@${c.handle}`}>
              <Avatar url={c.avatar_url} name={c.display_name} />
              <span className="following-name">{c.display_name}</span>
              {c.live && <span className="badge live">Live</span>}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
