// Shared pieces: the page frame, and the loading, empty and error states every page uses.
import { useEffect, useState, type ReactNode } from "react";
import { ApiError, logout, session, type User } from "./api";
import { Mark } from "./brand";
import { Link, navigate, usePath } from "./router";
import { Bell } from "./notify";
import "./search.css";

export function useUser(): User | null {
  const [user, setUser] = useState(session()?.user ?? null);
  useEffect(() => {
    const on = () => setUser(session()?.user ?? null);
    window.addEventListener("ferrocast-session", on);
    return () => window.removeEventListener("ferrocast-session", on);
  }, []);
  return user;
}

export function Frame({ children }: { children: ReactNode }) {
  const user = useUser();
  const path = usePath();
  // The page the reader is on, for the navigation's highlight.
  const here = (href: string) => (path === href ? ("page" as const) : undefined);
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <Link href="/" className="brand" aria-label="ferrocast home">
          <Mark />
          <span>ferrocast</span>
        </Link>
        <SearchBox />
        <nav aria-label="Main">
          <Link href="/browse" aria-current={here("/browse")}>Browse</Link>
          <Link href="/shorts" aria-current={here("/shorts")}>Shorts</Link>
          {user ? (
            <>
              <Link href="/feed" aria-current={here("/feed")}>Feed</Link>
              <Link href="/dashboard" aria-current={here("/dashboard")}>Dashboard</Link>
              <Link href="/library" aria-current={here("/library")}>Videos</Link>
              {user.role === "brand" ? (
                <Link href="/brands" aria-current={here("/brands")} data-testid="nav-campaigns">Campaigns</Link>
              ) : (
                user.role !== "viewer" && <Link href="/campaigns" aria-current={here("/campaigns")} data-testid="nav-campaigns">Campaigns</Link>
              )}
              <Link href="/dashboard/subscription" aria-current={here("/dashboard/subscription")}>Billing</Link>
              <Link href="/settings" aria-current={here("/settings")}>Settings</Link>
              <Bell />
              {user.role === "admin" && <Link href="/admin" aria-current={here("/admin")}>Admin</Link>}
              {(user.role === "moderator" || user.role === "admin") && (
                <Link href="/admin/reports" aria-current={here("/admin/reports")} data-testid="nav-moderation">Moderation</Link>
              )}
              <button
                className="link"
                onClick={async () => {
                  await logout();
                  navigate("/");
                }}
              >
                Log out
              </button>
            </>
          ) : (
            <>
              <Link href="/login" aria-current={here("/login")}>Log in</Link>
              <Link href="/register" className="button small">Start streaming</Link>
            </>
          )}
        </nav>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

/** The top bar's search box: Enter opens the search page (`/search?q=`), which it follows. */
function SearchBox() {
  const path = usePath();
  const fromAddress = () => (location.pathname === "/search" ? (new URLSearchParams(location.search).get("q") ?? "") : "");
  const [q, setQ] = useState(fromAddress);
  useEffect(() => {
    const on = () => setQ(fromAddress());
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  useEffect(() => {
    if (path !== "/search") setQ("");
  }, [path]);
  return (
    <form
      className="top-search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        const words = q.trim();
        if (!words) return;
        const kind = location.pathname === "/search" ? new URLSearchParams(location.search).get("type") : null;
        const p = new URLSearchParams({ q: words });
        if (kind) p.set("type", kind);
        navigate(`/search?${p}`);
      }}
    >
      <input
        type="search"
        name="q"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        placeholder="Search channels, streams, videos"
        aria-label="Search channels, streams and videos"
        maxLength={200}
        enterKeyHint="search"
        autoComplete="off"
        data-testid="top-search"
      />
    </form>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="state" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

/** An error in words, with what the API said to do and, for a plan limit, the way to upgrade. */
export function Problem({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  // A refusal from the chat (a plain Error) says what happened in its own words.
  const e =
    error instanceof ApiError
      ? error
      : error instanceof Error
        ? new ApiError(0, error.message.charAt(0).toUpperCase() + error.message.slice(1), "")
        : new ApiError(0, "Something went wrong", String(error));
  return (
    <div className="problem" role="alert">
      <strong>{e.error}</strong>
      {e.details && <span> {e.details}</span>}
      {e.code === "PLAN_LIMIT_REACHED" && (
        <span>
          {" "}
          <Link href={typeof e.body?.upgrade_url === "string" && e.body.upgrade_url.startsWith("/") ? e.body.upgrade_url : "/dashboard/subscription"}>See plans and upgrade</Link>
        </span>
      )}
      {onRetry && (
        <button className="link" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Runs `load` now and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError(null)),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1), setData };
}

/** The studio's pages, in one order everywhere; `current` is the open one's path. */
const STUDIO_TABS: [string, string][] = [
  ["/dashboard", "Streams"],
  ["/dashboard/analytics", "Analytics"],
  ["/dashboard/tips", "Tips & goals"],
  ["/dashboard/members", "Members"],
  ["/dashboard/earnings", "Earnings"],
  ["/dashboard/radio", "Radio"],
  ["/hangouts", "Hangouts"],
];

export function StudioTabs({ current }: { current: string }) {
  return (
    <nav className="page-tabs" aria-label="Studio">
      {STUDIO_TABS.map(([href, label]) => (
        <Link key={href} href={href} aria-current={href === current ? "page" : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

/** A button that picks a picture (PNG, JPEG or WebP) and hands it to `onFile`; "Uploading…"
 * while `busy`. */
export function PictureButton({ label, busy, ariaLabel, testId, onFile }: { label: string; busy: boolean; ariaLabel: string; testId: string; onFile: (f: File) => void }) {
  return (
    <label className={`button ghost small file-button ${busy ? "busy" : ""}`}>
      {busy ? "Uploading…" : label}
      <input
        type="file"
        accept="image/png,image/jpeg,image/webp"
        aria-label={ariaLabel}
        data-testid={testId}
        disabled={busy}
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = "";
          if (f) onFile(f);
        }}
      />
    </label>
  );
}

/** One quality a player can switch to: its index in hls.js's levels, its picture height, and
 * how the menu names it. */
export type Quality = { index: number; height: number; label: string };

/** hls.js's levels as the quality menu lists them, highest first; the highest is the source,
 * passed through as the encoder sent it. */
export function qualities(levels: { height: number; bitrate: number }[]): Quality[] {
  const list = levels.map((l, index) => ({ index, height: l.height || 0, label: l.height ? `${l.height}p` : `${Math.round(l.bitrate / 1000)} kbit/s` }));
  list.sort((a, b) => b.height - a.height);
  if (list.length > 1) list[0] = { ...list[0], label: `${list[0].label} (source)` };
  return list;
}

/** The **Quality** menu over a player with renditions: *Auto* (naming the quality playing) or
 * one the viewer picks. Nothing when there is only one. */
export function QualityMenu({ levels, choice, playingLabel, onChoose }: { levels: Quality[]; choice: number; playingLabel?: string; onChoose: (index: number) => void }) {
  if (levels.length < 2) return null;
  return (
    <label className="quality">
      <span>Quality</span>
      <select value={choice} onChange={(e) => onChoose(Number(e.target.value))} data-testid="quality">
        <option value={-1}>Auto{choice < 0 && playingLabel ? ` · ${playingLabel}` : ""}</option>
        {levels.map((l) => (
          <option key={l.index} value={l.index}>
            {l.label}
          </option>
        ))}
      </select>
    </label>
  );
}
