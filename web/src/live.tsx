// Live pieces shared by the dashboard and the watch page: the Socket.IO connection, the HLS
// player and the chat.
import Hls from "hls.js/light";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { io, type Socket } from "socket.io-client";
import { api, session, type Schemas } from "./api";
import { Problem } from "./ui";

/** One Socket.IO connection for the page, authenticated when logged in. */
export function useSocket(): Socket | null {
  const [socket, setSocket] = useState<Socket | null>(null);
  useEffect(() => {
    const token = session()?.access_token;
    const s = io({ auth: token ? { token } : {} });
    setSocket(s);
    return () => {
      s.close();
    };
  }, []);
  return socket;
}

/** A live player (hls.js where Media Source Extensions exist, the browser's own HLS elsewhere).
 * A live playlist appears a moment after the stream starts, and can go away and come back:
 * a fatal error starts a fresh player two seconds later. */
export function Player({ src, title }: { src: string; title: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const v = video.current;
    if (!v) return;
    if (Hls.isSupported()) {
      const hls = new Hls({ lowLatencyMode: true, liveSyncDurationCount: 2, manifestLoadingMaxRetry: 2 });
      let retry: ReturnType<typeof setTimeout> | undefined;
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (!d.fatal) return;
        console.warn("player error", d.type, d.details);
        setProblem("The stream is not playing right now; retrying…");
        hls.destroy();
        retry = setTimeout(() => setAttempt((a) => a + 1), 2000);
      });
      hls.on(Hls.Events.FRAG_BUFFERED, () => setProblem(null));
      hls.loadSource(src);
      hls.attachMedia(v);
      v.play().catch(() => {});
      return () => {
        clearTimeout(retry);
        hls.destroy();
      };
    }
    v.src = src;
    return () => {
      v.removeAttribute("src");
    };
  }, [src, attempt]);
  return (
    <div className="player">
      <video ref={video} controls muted autoPlay playsInline aria-label={title} />
      {problem && <p className="muted" role="status">{problem}</p>}
    </div>
  );
}

/** A chat message: the history's items (`GET /api/chat/messages/…`) and, over Socket.IO, the
 * `chat-message` event, which the server sends as the same `ChatMessageOut`. */
type Message = Schemas["ChatMessageOut"];

/** The roles ferrocast marks in chat, with the label shown. */
const BADGES: Record<string, string> = { broadcaster: "Host", moderator: "Mod", admin: "Admin" };

/** A message's role badges (platforms' own badges that are not roles are not shown). */
function badgesOf(m: Message): string[] {
  // `metadata` is whatever the platform gave (any JSON value).
  const meta = m.metadata as { badges?: unknown } | null | undefined;
  const b = meta?.badges;
  return Array.isArray(b) ? b.filter((x): x is string => typeof x === "string" && x in BADGES) : [];
}

/** The merged chat of a source: history, live messages, sending, and (for moderators) deleting. */
export function Chat({ socket, room, canModerate = false }: { socket: Socket | null; room: { sourceId: number } | { playbackId: string }; canModerate?: boolean }) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [sourceId, setSourceId] = useState<number | null>("sourceId" in room ? room.sourceId : null);
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const list = useRef<HTMLOListElement>(null);
  const key = JSON.stringify(room);

  useEffect(() => {
    if (!socket) return;
    // Socket.IO events are not in the OpenAPI document; their payloads are typed here by hand
    // (crates/server/src/realtime/mod.rs sends them), except `chat-message` (see `Message`).
    const onMessage = (m: Message) => setMessages((ms) => (ms.some((x) => x.id === m.id) ? ms : [...ms, m].slice(-200)));
    const onDeleted = (d: { id: number }) => setMessages((ms) => ms.filter((m) => m.id !== d.id));
    socket.on("chat-message", onMessage);
    socket.on("message-deleted", onDeleted);
    const join = () =>
      socket.emit("join-chat", room, async (ack: { ok: boolean; sourceId?: number; error?: string }) => {
        if (!ack?.ok || ack.sourceId === undefined) {
          setError(new Error(ack?.error ?? "cannot join the chat"));
          return;
        }
        setSourceId(ack.sourceId);
        try {
          const h = await api<Schemas["MessageList"]>("GET", `/api/chat/messages/${ack.sourceId}?limit=100`);
          setMessages((ms) => {
            const seen = new Set(h.messages.map((m) => m.id));
            return [...h.messages, ...ms.filter((m) => !seen.has(m.id))];
          });
        } catch (e) {
          setError(e);
        }
      });
    socket.on("connect", join);
    if (socket.connected) join();
    return () => {
      socket.off("chat-message", onMessage);
      socket.off("message-deleted", onDeleted);
      socket.off("connect", join);
      socket.emit("leave-chat", room);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, key]);

  useEffect(() => {
    // Scrolls the list only: scrollIntoView would scroll the page too (on a phone the dashboard
    // would open at its chat).
    const l = list.current;
    if (l) l.scrollTop = l.scrollHeight;
  }, [messages.length]);

  function send(e: FormEvent) {
    e.preventDefault();
    if (!socket || sourceId === null || !text.trim()) return;
    socket.emit("send-message", { sourceId, message: text }, (ack: { ok: boolean; error?: string }) => {
      if (ack?.ok) {
        setText("");
        setError(null);
      } else setError(new Error(ack?.error ?? "not sent"));
    });
  }

  async function restrict(id: number, author: string, seconds: number | null) {
    const what = seconds ? `Time ${author} out for ${seconds / 60} minutes?` : `Ban ${author} from this chat?`;
    if (!confirm(what)) return;
    try {
      await api("POST", "/api/chat/bans", { source_id: sourceId, message_id: id, ...(seconds ? { duration_seconds: seconds } : {}) } satisfies Schemas["NewBan"]);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }

  async function remove(id: number) {
    try {
      await api("DELETE", `/api/chat/messages/${sourceId}/${id}`);
      setMessages((ms) => ms.filter((m) => m.id !== id));
    } catch (e) {
      setError(e);
    }
  }

  const loggedIn = !!session();
  return (
    <section className="chat" aria-label="Chat">
      <h2>Chat</h2>
      <ol ref={list} className="messages" aria-live="polite">
        {messages.length === 0 && <li className="muted">No messages yet.</li>}
        {messages.map((m) => (
          <li key={m.id} className={`message ${m.platform}`}>
            <span className="platform" title={m.platform}>{m.platform === "native" ? "" : m.platform}</span>
            {badgesOf(m).map((b) => (
              <span key={b} className={`chat-badge ${b}`} title={b}>
                {BADGES[b]}
              </span>
            ))}
            <strong>{m.author_name}</strong> <span className="text">{m.message_text}</span>
            {canModerate && (
              <>
                <button className="link small" onClick={() => remove(m.id)} aria-label={`Delete the message from ${m.author_name}`}>
                  Delete
                </button>
                {m.platform === "native" && (
                  <>
                    <button className="link small" onClick={() => restrict(m.id, m.author_name, 600)} aria-label={`Time ${m.author_name} out for 10 minutes`}>
                      Time out
                    </button>
                    <button className="link small danger" onClick={() => restrict(m.id, m.author_name, null)} aria-label={`Ban ${m.author_name}`}>
                      Ban
                    </button>
                  </>
                )}
              </>
            )}
          </li>
        ))}
      </ol>
      <Problem error={error} />
      {loggedIn ? (
        <form className="send" onSubmit={send}>
          <label className="sr-only" htmlFor="chat-text">Message</label>
          <input id="chat-text" name="message" maxLength={500} placeholder="Say something" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
          <button type="submit" disabled={!text.trim()}>Send</button>
        </form>
      ) : (
        <p className="muted"><a href="/login">Log in</a> to chat.</p>
      )}
    </section>
  );
}
