// Shorts (`/shorts`): public vertical videos of a minute or less, one screen each, scrolled or
// swiped upwards; the one in view plays (muted until tapped), the others pause. More are read as
// the end comes near.
import { useEffect, useRef, useState } from "react";
import { api, type Schemas } from "../api";
import { Avatar } from "../profile";
import { Link } from "../router";
import { Loading, Problem } from "../ui";
import "../shorts.css";

type Item = Schemas["VideoResult"];
type Page = Schemas["ShortsPage"];

export default function Shorts() {
  const [items, setItems] = useState<Item[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [muted, setMuted] = useState(true);
  const feed = useRef<HTMLDivElement>(null);

  async function more() {
    if (loading || cursor === null) return;
    setLoading(true);
    try {
      const q = new URLSearchParams({ limit: "10" });
      if (cursor) q.set("cursor", cursor);
      const page = await api<Page>("GET", `/api/browse/shorts?${q}`);
      setItems((old) => [...old, ...page.shorts]);
      setCursor(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }
  useEffect(() => {
    document.title = "Shorts · ferrocast";
    more();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // The one mostly in view plays; the others pause. Near the end, more are read.
  useEffect(() => {
    const root = feed.current;
    if (!root) return;
    const seen = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const v = e.target.querySelector("video");
          if (!v) continue;
          if (e.isIntersecting) {
            v.play().catch(() => {});
            if (Number((e.target as HTMLElement).dataset.index) >= items.length - 3) more();
          } else v.pause();
        }
      },
      { root, threshold: 0.6 },
    );
    root.querySelectorAll(".short").forEach((el) => seen.observe(el));
    return () => seen.disconnect();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [items]);

  if (error && items.length === 0) return <Problem error={error} onRetry={more} />;
  if (cursor === undefined) return <Loading what="shorts" />;
  if (items.length === 0)
    return (
      <div className="vod-empty" data-testid="shorts-empty">
        <h1>Shorts</h1>
        <p>No shorts yet. Vertical videos of a minute or less appear here as creators upload them.</p>
        <p>
          <Link href="/browse" className="button secondary">Browse who is live</Link>
        </p>
      </div>
    );
  return (
    <div className="shorts" ref={feed} data-testid="shorts" aria-label="Shorts">
      <h1 className="sr-only">Shorts</h1>
      {items.map((s, i) => (
        <section key={s.video.id} className="short" data-index={i} aria-label={s.video.title} data-testid="short">
          {s.video.playback?.mp4 ? (
            <video
              src={s.video.playback.mp4}
              poster={s.video.playback.thumbnail ?? undefined}
              muted={muted}
              loop
              playsInline
              preload={i < 2 ? "auto" : "metadata"}
              onClick={() => setMuted((m) => !m)}
            />
          ) : (
            <Link href={s.video.watch_url} className="short-poster">
              {s.video.playback?.thumbnail && <img src={s.video.playback.thumbnail} alt="" />}
            </Link>
          )}
          <div className="short-words">
            <Link href={s.channel.channel_url} className="short-channel">
              <Avatar url={s.channel.avatar_url} name={s.channel.display_name} />
              <span>{s.channel.display_name}</span>
            </Link>
            <Link href={s.video.watch_url} className="short-title">{s.video.title}</Link>
          </div>
          <button type="button" className="short-sound" onClick={() => setMuted((m) => !m)} aria-pressed={!muted}>
            {muted ? "Sound off" : "Sound on"}
          </button>
        </section>
      ))}
      {loading && <Loading what="more shorts" />}
    </div>
  );
}
