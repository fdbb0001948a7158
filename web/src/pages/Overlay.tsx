// The overlays OBS shows as browser sources (`/overlay/<token>/alerts`, `/overlay/<token>/goal`):
// transparent pages with nothing but the alert or the goal. Both listen to the overlay's
// Server-Sent Events (`/api/overlay/<token>/events`), which carry tips and goal progress from
// whichever node took the payment, the moment it is confirmed; EventSource reconnects by itself
// and is sent the tips it missed.
import { useEffect, useRef, useState } from "react";
import { api, ApiError, type Schemas } from "../api";
import { GoalBar, money } from "../tips";
import "../overlay.css";

type Alert = Schemas["TipAlert"];
type Goal = Schemas["GoalView"];

/** Seconds an alert stays on screen (`?duration=`, 4 to 30; default 8). */
function alertSeconds(): number {
  const d = Number(new URLSearchParams(location.search).get("duration"));
  return Number.isFinite(d) && d >= 4 && d <= 30 ? d : 8;
}

/** The overlay's event stream: `on` is called with each event's name and data. `null` until it
 * is known whether the token works; then `true`, or `false` (rotated or mistyped). */
function useOverlayEvents(token: string, on: (name: string, data: unknown) => void): boolean | null {
  const [ok, setOk] = useState<boolean | null>(null);
  const handler = useRef(on);
  handler.current = on;
  useEffect(() => {
    document.documentElement.classList.add("overlay-root");
    let es: EventSource | null = null;
    let closed = false;
    api("GET", `/api/overlay/${encodeURIComponent(token)}`).then(
      () => {
        if (closed) return;
        setOk(true);
        es = new EventSource(`/api/overlay/${encodeURIComponent(token)}/events`);
        for (const name of ["goals", "tip", "goal", "revoked"]) {
          es.addEventListener(name, (e) => {
            const data = JSON.parse((e as MessageEvent<string>).data);
            if (name === "revoked") {
              es?.close();
              setOk(false);
            }
            handler.current(name, data);
          });
        }
      },
      (e) => {
        // A token that does not work says so (the creator sees it in OBS's preview); a server
        // that cannot be reached is asked again shortly.
        if (e instanceof ApiError && e.status === 404) setOk(false);
        else setTimeout(() => !closed && location.reload(), 5000);
      },
    );
    return () => {
      closed = true;
      es?.close();
      document.documentElement.classList.remove("overlay-root");
    };
  }, [token]);
  return ok;
}

function Revoked() {
  return (
    <div className="overlay-note" role="status" data-testid="overlay-revoked">
      This overlay's address no longer works. Copy the new one from your dashboard (Tips &amp; goals).
    </div>
  );
}

export default function Overlay({ token, kind }: { token: string; kind: "alerts" | "goal" }) {
  return kind === "alerts" ? <Alerts token={token} /> : <GoalOverlay token={token} />;
}

/** Tip alerts, one at a time, in the order they came. */
function Alerts({ token }: { token: string }) {
  const [queue, setQueue] = useState<Alert[]>([]);
  const [current, setCurrent] = useState<{ alert: Alert; shownAt: number } | null>(null);
  const [leaving, setLeaving] = useState(false);
  const seen = useRef(new Set<string>());
  const ok = useOverlayEvents(token, (name, data) => {
    if (name !== "tip") return;
    const a = data as Alert;
    if (seen.current.has(a.id)) return;
    seen.current.add(a.id);
    setQueue((q) => [...q, a]);
  });
  useEffect(() => {
    if (current || queue.length === 0) return;
    const [next, ...rest] = queue;
    setQueue(rest);
    setLeaving(false);
    setCurrent({ alert: next, shownAt: Date.now() });
  }, [queue, current]);
  useEffect(() => {
    if (!current) return;
    const ms = alertSeconds() * 1000;
    const out = setTimeout(() => setLeaving(true), ms - 600);
    const done = setTimeout(() => setCurrent(null), ms);
    return () => {
      clearTimeout(out);
      clearTimeout(done);
    };
  }, [current]);
  if (ok === false) return <Revoked />;
  return (
    <main className="overlay overlay-alerts" data-testid="overlay-alerts" data-ready={ok ? "yes" : "no"}>
      {current && (
        <div
          key={current.alert.id}
          className={`tip-alert ${leaving ? "leaving" : ""}`}
          role="status"
          data-testid="overlay-alert"
          data-alert-id={current.alert.id}
          data-shown-at={current.shownAt}
        >
          <div className="tip-alert-burst" aria-hidden="true">
            {Array.from({ length: 14 }, (_, i) => (
              <span key={i} style={{ ["--i" as string]: i }} />
            ))}
          </div>
          <div className="tip-alert-icon" aria-hidden="true">
            <svg viewBox="0 0 24 24" width="40" height="40" fill="currentColor">
              <path d="M12 21s-7-4.35-9.5-9A5.5 5.5 0 0 1 12 6a5.5 5.5 0 0 1 9.5 6C19 16.65 12 21 12 21z" />
            </svg>
          </div>
          <p className="tip-alert-line">
            <strong className="tip-alert-name" data-testid="overlay-alert-name">{current.alert.name}</strong> tipped{" "}
            <strong className="tip-alert-amount" data-testid="overlay-alert-amount">{money(current.alert.amount_minor, current.alert.currency)}</strong>
          </p>
          {current.alert.message && (
            <p className="tip-alert-message" data-testid="overlay-alert-message">
              {current.alert.message}
            </p>
          )}
        </div>
      )}
    </main>
  );
}

/** One goal's bar: `?goal=<id>`, else the newest open goal. */
function GoalOverlay({ token }: { token: string }) {
  const wanted = new URLSearchParams(location.search).get("goal");
  const [goal, setGoal] = useState<Goal | null>(null);
  const [pulse, setPulse] = useState(0);
  const [flash, setFlash] = useState(false);
  useEffect(() => {
    if (!pulse) return;
    setFlash(true);
    const t = setTimeout(() => setFlash(false), 1400);
    return () => clearTimeout(t);
  }, [pulse]);
  const ok = useOverlayEvents(token, (name, data) => {
    if (name === "goals") {
      const goals = data as Goal[];
      setGoal(goals.find((g) => (wanted ? g.id === wanted : true)) ?? null);
    } else if (name === "goal") {
      const g = data as Goal;
      setGoal((cur) => {
        const mine = wanted ? g.id === wanted : !cur || cur.id === g.id || !cur.open;
        if (!mine) return cur;
        if (cur && g.raised_minor > cur.raised_minor) setPulse((p) => p + 1);
        // An ended goal leaves the overlay (unless it was asked for by its id).
        return !g.open && !wanted ? null : g;
      });
    }
  });
  if (ok === false) return <Revoked />;
  return (
    <main className="overlay overlay-goal" data-testid="overlay-goal" data-ready={ok ? "yes" : "no"}>
      {goal && (
        <div className={`goal-card ${flash ? "pulse" : ""}`}>
          <GoalBar goal={goal} className="goal-overlay" />
        </div>
      )}
    </main>
  );
}
