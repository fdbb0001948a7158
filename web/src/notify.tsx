// Notifications in the app: the bell in the top bar (unread count, the latest notices, live
// over Socket.IO as `notification`), and this browser's Web Push subscription.
import { useEffect, useRef, useState, type CSSProperties } from "react";
import { io } from "socket.io-client";
import { api, session, type Schemas } from "./api";
import { Link, navigate } from "./router";
import "./notify.css";

type Notice = Schemas["NotificationView"];
type List = Schemas["NotificationList"];

function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

const ICON: Record<string, string> = { live: "●", video: "▶", follower: "+", reply: "↩", moderation: "⚑", campaign: "◆" };

/** The bell: unread badge, and a panel of the latest notices. */
export function Bell() {
  const [list, setList] = useState<Notice[]>([]);
  const [unread, setUnread] = useState(0);
  const [open, setOpen] = useState(false);
  // Where the panel starts on a phone, where it spans the screen below the bell.
  const [top, setTop] = useState(56);
  const [error, setError] = useState("");
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let live = true;
    api<List>("GET", "/api/notifications?limit=20").then(
      (l) => {
        if (!live) return;
        setList(l.notifications);
        setUnread(l.unread);
      },
      () => live && setError("Notifications cannot be loaded right now."),
    );
    const token = session()?.access_token;
    const s = io({ auth: token ? { token } : {} });
    s.on("notification", (n: Notice) => {
      setList((old) => [n, ...old.filter((o) => o.id !== n.id)].slice(0, 20));
      setUnread((u) => u + 1);
    });
    return () => {
      live = false;
      s.close();
    };
  }, []);

  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent | KeyboardEvent) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !box.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);

  async function readAll() {
    try {
      const r = await api<Schemas["UnreadCount"]>("POST", "/api/notifications/read", { all: true });
      setUnread(r.unread);
      setList((l) => l.map((n) => ({ ...n, read: true })));
    } catch {
      setError("Could not mark them read; try again.");
    }
  }

  async function openNotice(n: Notice) {
    setOpen(false);
    if (!n.read) {
      setList((l) => l.map((o) => (o.id === n.id ? { ...o, read: true } : o)));
      api<Schemas["UnreadCount"]>("POST", "/api/notifications/read", { ids: [n.id] }).then((r) => setUnread(r.unread), () => {});
    }
    navigate(n.url);
  }

  const label = unread ? `Notifications, ${unread} unread` : "Notifications";
  return (
    <div className="bell" ref={box}>
      <button type="button" className="bell-button" aria-label={label} aria-expanded={open} aria-haspopup="true" onClick={(e) => {
          setTop(Math.round(e.currentTarget.getBoundingClientRect().bottom + 8));
          setOpen(!open);
        }} data-testid="bell">
        <svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
          <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
          <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
        {unread > 0 && <span className="bell-count" data-testid="bell-count">{unread > 99 ? "99+" : unread}</span>}
      </button>
      {open && (
        <div className="bell-panel" role="dialog" aria-label="Notifications" style={{ "--bell-top": `${top}px` } as CSSProperties}>
          <div className="bell-head">
            <strong>Notifications</strong>
            {unread > 0 && <button type="button" className="link" onClick={readAll}>Mark all read</button>}
          </div>
          {error && <p className="bell-empty" role="alert">{error}</p>}
          {list.length === 0 && !error ? (
            <p className="bell-empty">Nothing yet. Follow channels to hear when they go live.</p>
          ) : (
            <ul className="bell-list">
              {list.map((n) => (
                <li key={n.id}>
                  <button type="button" className={n.read ? "bell-item" : "bell-item unread"} onClick={() => openNotice(n)} data-testid="notice">
                    <span className={`bell-item-icon ${n.kind}`} aria-hidden="true">{ICON[n.kind] ?? "•"}</span>
                    <span className="bell-item-text">
                      <span className="bell-item-title">{n.title}</span>
                      {n.body && <span className="bell-item-body">{n.body}</span>}
                      <span className="bell-item-time">{ago(n.created_at)}</span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
          <div className="bell-foot">
            <Link href="/settings/notifications" onClick={() => setOpen(false)}>Notification settings</Link>
          </div>
        </div>
      )}
    </div>
  );
}

function key(b64url: string): Uint8Array {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64url.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Whether this browser can receive Web Push at all. */
export function pushSupported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** This browser's push subscription, if any. */
export async function currentPush(): Promise<PushSubscription | null> {
  if (!pushSupported()) return null;
  const reg = await navigator.serviceWorker.getRegistration("/");
  return reg ? reg.pushManager.getSubscription() : null;
}

/** Asks for permission, subscribes this browser and stores the subscription. Throws a sentence. */
export async function enablePush(): Promise<void> {
  if (!pushSupported()) throw new Error("This browser cannot receive push notifications.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notifications are blocked for this site. Allow them in the browser's site settings, then try again.");
  const reg = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  const { public_key } = await api<Schemas["VapidPublicKey"]>("GET", "/api/push/vapid-public-key");
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(public_key) as BufferSource });
  const json = sub.toJSON();
  await api("POST", "/api/push/subscriptions", { endpoint: json.endpoint, keys: json.keys });
}

/** Unsubscribes this browser and forgets the subscription on the server. */
export async function disablePush(): Promise<void> {
  const sub = await currentPush();
  if (!sub) return;
  try {
    await api("DELETE", "/api/push/subscriptions", { endpoint: sub.endpoint });
  } finally {
    await sub.unsubscribe();
  }
}
