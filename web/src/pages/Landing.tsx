import { Link } from "../router";
import { useUser } from "../ui";

export default function Landing() {
  const user = useUser();
  return (
    <section className="hero" aria-labelledby="hero-title">
      <h1 id="hero-title">Stream once. Reach every platform.</h1>
      <p className="lead">
        Point OBS at ferrocast: your viewers watch here, and the same stream goes unchanged to YouTube,
        Twitch, Facebook or any RTMP server — with every platform's chat in one feed.
      </p>
      <p>
        {user ? (
          <Link href="/dashboard" className="button">Open your dashboard</Link>
        ) : (
          <>
            <Link href="/register" className="button">Start streaming</Link> <Link href="/login" className="button ghost">Log in</Link>
          </>
        )}
      </p>
      <ul className="features">
        <li><strong>Low latency</strong> HLS and LL-HLS players, HTTP-FLV and RTMP.</li>
        <li><strong>Restream</strong> to every platform at once, each with its live state.</li>
        <li><strong>One chat</strong> merging YouTube and Twitch with your own viewers.</li>
      </ul>
    </section>
  );
}
