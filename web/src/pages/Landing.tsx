import type { ReactNode } from "react";
import { Link } from "../router";
import { useUser } from "../ui";

/** A line icon (24 × 24, drawn with the current colour). */
function Icon({ children }: { children: ReactNode }) {
  return (
    <span className="icon" aria-hidden="true">
      <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
        {children}
      </svg>
    </span>
  );
}

const FEATURES: { title: string; text: string; icon: ReactNode }[] = [
  {
    title: "Your own live page",
    text: "Viewers watch on your page in any browser, about a second behind you with low-latency HLS.",
    icon: <><rect x="2" y="4" width="20" height="14" rx="2" /><path d="m10 8 5 3-5 3z" /><path d="M8 21h8" /></>,
  },
  {
    title: "Restream everywhere",
    text: "The same stream goes unchanged to YouTube, Twitch, Facebook, Kick or any RTMP server, each with its live state.",
    icon: <><circle cx="12" cy="12" r="2" /><path d="M16.2 7.8a6 6 0 0 1 0 8.4M7.8 16.2a6 6 0 0 1 0-8.4M19 5a10 10 0 0 1 0 14M5 19A10 10 0 0 1 5 5" /></>,
  },
  {
    title: "One chat",
    text: "YouTube and Twitch chat merged with your own viewers', moderated from one place.",
    icon: <><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z" /><path d="M8 11h8M8 14h5" /></>,
  },
  {
    title: "A studio dashboard",
    text: "Preview, chat and stream health side by side; go live, end the stream, fix a destination.",
    icon: <><path d="M3 3v18h18" /><path d="m7 15 4-4 3 3 5-6" /></>,
  },
  {
    title: "Secure by default",
    text: "Two-factor login, sign-in with Google or Twitch, scoped API keys for your stream deck.",
    icon: <><path d="M12 3 4 6v6c0 4.5 3.4 8.3 8 9 4.6-.7 8-4.5 8-9V6z" /><path d="m9 12 2 2 4-4" /></>,
  },
  {
    title: "Runs on your server",
    text: "One program with SQLite or PostgreSQL: your streams, your viewers, your data.",
    icon: <><rect x="3" y="4" width="18" height="7" rx="2" /><rect x="3" y="13" width="18" height="7" rx="2" /><path d="M7 7.5h.01M7 16.5h.01" /></>,
  },
];

/** The front page: what ferrocast does, and the way in. */
export default function Landing() {
  const user = useUser();
  const start = user ? (
    <Link href="/dashboard" className="button large">Open your dashboard</Link>
  ) : (
    <>
      <Link href="/register" className="button large">Start streaming</Link>
      <Link href="/login" className="button ghost large">Log in</Link>
    </>
  );
  return (
    <div className="landing">
      <section className="hero" aria-labelledby="hero-title">
        <div>
          <span className="pill"><span className="dot" aria-hidden="true" /> Live streaming for creators</span>
          <h1 id="hero-title">
            Stream once. <span className="accent">Reach every platform.</span>
          </h1>
          <p className="lead">
            Point OBS at ferrocast: your viewers watch on your own page, the same stream goes to YouTube, Twitch, Facebook or any RTMP
            server, and every platform's chat arrives in one feed.
          </p>
          <div className="actions">{start}</div>
          <p className="muted fine">Works with OBS Studio, Streamlabs, vMix and any encoder that speaks RTMP.</p>
        </div>
        <Showcase />
      </section>

      <h2 className="section-title">Everything a live show needs</h2>
      <p className="lead">From the first test stream to a show on every platform at once.</p>
      <ul className="features">
        {FEATURES.map((f) => (
          <li key={f.title}>
            <Icon>{f.icon}</Icon>
            <strong>{f.title}</strong>
            <p>{f.text}</p>
          </li>
        ))}
      </ul>

      <h2 className="section-title">Live in three steps</h2>
      <ol className="steps">
        <li><strong>Create a source</strong><p>It gets a server address and a private stream key.</p></li>
        <li><strong>Point your encoder at it</strong><p>In OBS: Settings → Stream → Custom, paste both.</p></li>
        <li><strong>Go live everywhere</strong><p>Add destinations; each starts with your stream and says how it is doing.</p></li>
      </ol>

      <section className="cta" aria-labelledby="cta-title">
        <h2 id="cta-title">Ready when your encoder is.</h2>
        <p className="muted">Create an account, paste two lines into OBS, and you are live.</p>
        <div className="actions">{start}</div>
      </section>
    </div>
  );
}

/** A drawing of a show in progress: the picture, and where it goes. */
function Showcase() {
  const places: [string, string, string][] = [
    ["Your watch page", "#6366f1", "fc"],
    ["YouTube", "#e62117", "YT"],
    ["Twitch", "#9146ff", "Tw"],
    ["Facebook", "#1877f2", "f"],
  ];
  return (
    <div className="showcase" aria-hidden="true">
      <div className="screen">
        <span className="badge live">Live</span>
        <svg viewBox="0 0 400 120" preserveAspectRatio="none">
          <path d="M0 90 C60 60 100 100 160 70 S260 20 320 50 S380 80 400 60 V120 H0z" fill="rgb(255 255 255 / 0.10)" />
          <path d="M0 105 C80 80 140 110 210 88 S330 70 400 85 V120 H0z" fill="rgb(255 255 255 / 0.14)" />
        </svg>
      </div>
      <ul>
        {places.map(([name, colour, short]) => (
          <li key={name}>
            <span className="where">
              <span className="logo" style={{ background: colour }}>{short}</span>
              {name}
            </span>
            <span className="badge good">live</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
