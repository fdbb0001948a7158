// Live pieces shared by the dashboard and the watch page: the Socket.IO connection, the HLS
// player and the chat.
import Hls from "hls.js/light";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { io, type Socket } from "socket.io-client";
import { api, session, type Schemas } from "./api";
import { Problem, QualityMenu, qualities, type Quality } from "./ui";
import { ReportButton } from "./safety";

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

/** How far behind its target latency (seconds, beyond one target duration) a live player may
 * fall before it jumps ahead (within what it has buffered) towards the live edge. */
const JUMP_BEHIND_S = 1.5;
/** A player jumps at most this often (ms), and only once it has played on from its last jump:
 * on a network too slow for the live edge, jumping again before the edge arrived would keep it
 * from ever playing (each jump throws away the fragment being fetched for the place it left). */
const JUMP_EVERY_MS = 10_000;
const PLAYED_ON_S = 0.5;
/** A jump stops this far (seconds) short of the end of what is buffered… */
const JUMP_MARGIN_S = 0.3;
/** … and is made only if it skips at least this much. */
const MIN_JUMP_S = 1;
/** Behind its target by more than this (seconds), with enough buffered, it plays faster… */
const CATCH_UP_FROM_S = 0.15;
/** … until it is this near, at most this fast, keeping this much buffered ahead. */
const CAUGHT_UP_S = 0.05;
const MAX_RATE = 1.5;
const MIN_AHEAD_S = 0.35;
/** After the stream went offline, a player that stalls this long has reached the end. */
const END_STALL_MS = 4000;

/** Seconds of media buffered ahead of the playhead. */
function bufferedAhead(v: HTMLVideoElement): number {
  const b = v.buffered;
  for (let i = 0; i < b.length; i++) if (b.start(i) <= v.currentTime + 0.1 && v.currentTime < b.end(i)) return b.end(i) - v.currentTime;
  return 0;
}

/** A live player: hls.js in low-latency mode where Media Source Extensions exist (it follows
 * the playlist's `PART-HOLD-BACK`, 0.6 s with ferrocast's LL-HLS, and plays plain HLS when a
 * playlist has no parts), the browser's own HLS elsewhere (Safari on iOS).
 *
 * A live playlist appears a moment after the stream starts and can go away and come back: a
 * fatal error starts a fresh player two seconds later, and two in a row after the playlist
 * loaded but before any media played fall back to plain HLS (no blocking reloads or parts,
 * for proxies that break them). A player a little behind its target latency plays up to 1.5×
 * faster until it is back; one far behind (after a long stall, a background tab) jumps ahead
 * through what it has buffered towards the live edge, at most every 10 s and again only once
 * it has played on from there.
 *
 * `live`: whether the stream is live as far as the page knows. Once it is not, the player keeps
 * playing what is left (the playlist ends with `EXT-X-ENDLIST` after the final segment) and
 * calls `onEnded` when it reaches the end, or when it stalls or fails and nothing more will come. */
export function Player({ src, title, live = true, onEnded }: { src: string; title: string; live?: boolean; onEnded?: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [lowLatency, setLowLatency] = useState(true);
  const fruitless = useRef(0);
  // Read by the player's callbacks, which outlive a render.
  const liveRef = useRef(live);
  const endedRef = useRef(onEnded);
  liveRef.current = live;
  endedRef.current = onEnded;
  const [ended, setEnded] = useState(false);
  // Adaptive bitrate: the renditions (highest first), the one playing, and the viewer's choice
  // (-1: automatic).
  const [levels, setLevels] = useState<Quality[]>([]);
  const [playing, setPlaying] = useState(-1);
  const [choice, setChoice] = useState(-1);
  const hlsRef = useRef<Hls | null>(null);
  // The playlist said the stream is over (EXT-X-ENDLIST).
  const [endlist, setEndlist] = useState(false);
  const done = useRef(false);
  /** The end, once: why is left on the video (`data-ended`) for whoever watches the page. */
  const finish = (why: "ended" | "endlist" | "stalled" | "error") => {
    if (done.current) return;
    done.current = true;
    video.current?.setAttribute("data-ended", why);
    setEnded(true);
    endedRef.current?.();
  };

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const onVideoEnded = () => finish("ended");
    v.addEventListener("ended", onVideoEnded);
    if (Hls.isSupported()) {
      // maxLiveSyncPlaybackRate 1: the playback rate is ours to steer (below).
      const hls = new Hls({ lowLatencyMode: lowLatency, maxLiveSyncPlaybackRate: 1, manifestLoadingMaxRetry: 2 });
      let retry: ReturnType<typeof setTimeout> | undefined;
      let loaded = false;
      let played = false;
      hlsRef.current = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
        loaded = true;
        setLevels(qualities(d.levels));
        if (choice >= 0 && choice < d.levels.length) hls.currentLevel = choice;
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
        setPlaying(d.level);
        v.setAttribute("data-level-height", String(hls.levels[d.level]?.height ?? 0));
      });
      hls.on(Hls.Events.LEVEL_UPDATED, (_e, d) => {
        if (!d.details.live) setEndlist(true);
      });
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (!d.fatal) return;
        console.warn("player error", d.type, d.details);
        hls.destroy();
        if (!liveRef.current) {
          finish("error");
          return;
        }
        setProblem("The stream is not playing right now; retrying…");
        if (lowLatency && loaded && !played && ++fruitless.current >= 2) setLowLatency(false);
        retry = setTimeout(() => setAttempt((a) => a + 1), 2000);
      });
      hls.on(Hls.Events.FRAG_BUFFERED, () => {
        played = true;
        fruitless.current = 0;
        setProblem(null);
      });
      // Keeping to the target latency. hls.js speeds up only with more than a second buffered,
      // which a player 0.6 s behind the live edge never has, so it stays wherever it started
      // (or stalled): behind by a little, play a little faster while enough is buffered; far
      // behind (a long stall, a background tab), jump ahead through the buffer towards the live edge.
      let catchingUp = false;
      let lastJump: { at: number; to: number } | null = null;
      const steer = setInterval(() => {
        const target = hls.targetLatency;
        const edge = hls.liveSyncPosition;
        const details = hls.latestLevelDetails;
        let rate = 1;
        if (!v.paused && target !== null && edge !== null && details?.live) {
          const behind = hls.latency - target;
          const mayJump = lastJump === null || (Date.now() - lastJump.at >= JUMP_EVERY_MS && v.currentTime >= lastJump.to + PLAYED_ON_S);
          // Forward within what is buffered only: a jump past it lands where nothing has
          // loaded (nor may, if the network is slow or the rendition's timeline maps
          // elsewhere), and the player stalls there.
          const to = Math.min(edge, v.currentTime + bufferedAhead(v) - JUMP_MARGIN_S);
          if (behind > JUMP_BEHIND_S + details.targetduration) {
            if (mayJump && to > v.currentTime + MIN_JUMP_S) {
              lastJump = { at: Date.now(), to };
              v.currentTime = to;
            }
          } else {
            catchingUp = behind > (catchingUp ? CAUGHT_UP_S : CATCH_UP_FROM_S) && bufferedAhead(v) > MIN_AHEAD_S;
            if (catchingUp) rate = Math.min(MAX_RATE, 1 + Math.max(0.05, behind / 2));
          }
        }
        if (v.playbackRate !== rate) v.playbackRate = rate;
      }, 250);
      hls.loadSource(src);
      hls.attachMedia(v);
      v.play().catch(() => {});
      return () => {
        clearTimeout(retry);
        clearInterval(steer);
        v.removeEventListener("ended", onVideoEnded);
        hlsRef.current = null;
        hls.destroy();
      };
    }
    if (v.canPlayType("application/vnd.apple.mpegurl")) {
      v.src = src;
      v.play().catch(() => {});
    } else {
      setProblem("This browser cannot play live video (it has neither Media Source Extensions nor HLS).");
    }
    return () => {
      v.removeEventListener("ended", onVideoEnded);
      v.removeAttribute("src");
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [src, attempt, lowLatency]);

  // The end without an `ended` event: the media of the last part may stop short of the
  // playlist's end (an encoder that stopped sends its last audio and video frames unevenly),
  // which leaves the video waiting for what will not come. Once the playlist has ended, two
  // seconds without progress are the end; once the page knows the stream is offline, four.
  useEffect(() => {
    const v = video.current;
    if (!v || ended || (live && !endlist)) return;
    let position = v.currentTime;
    let moved = Date.now();
    const watch = setInterval(() => {
      if (!v.paused && v.currentTime !== position) {
        position = v.currentTime;
        moved = Date.now();
        return;
      }
      const still = Date.now() - moved;
      if (endlist && still >= 2000) finish("endlist");
      else if (!live && still >= END_STALL_MS) finish("stalled");
    }, 250);
    return () => clearInterval(watch);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, ended, endlist]);

  const choose = (index: number) => {
    setChoice(index);
    const hls = hlsRef.current;
    // The next segment comes in the chosen quality; what is buffered plays out first.
    if (hls) hls.nextLevel = index;
  };
  const playingLabel = levels.find((l) => l.index === playing)?.label;

  return (
    <div className="player">
      <video ref={video} controls muted autoPlay playsInline aria-label={title} data-low-latency={lowLatency ? "yes" : "no"} data-levels={levels.length} />
      <QualityMenu levels={levels} choice={choice} playingLabel={playingLabel} onChoose={choose} />
      {problem && <p className="muted" role="status">{problem}</p>}
    </div>
  );
}

/** A live player over WebRTC (WHEP, RFC 9725): sub-second delay, no adaptive bitrate. It offers
 * to receive video and audio, posts the offer to `src` (`/whep/<playback_id>`, with a gated
 * stream's token) and plays what the answer's session sends; the session is ended (DELETE) when
 * the player goes. A failure says why and tries again after three seconds while the stream is
 * live. */
export function WhepPlayer({ src, title, live = true, onEnded }: { src: string; title: string; live?: boolean; onEnded?: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  // Nothing is buffered: the stream's end is the player's.
  useEffect(() => {
    if (!live) onEnded?.();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live]);
  const [problem, setProblem] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    const v = video.current;
    if (!v || !live) return;
    const pc = new RTCPeerConnection();
    let session: string | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    const fail = (why: string) => {
      if (closed) return;
      setProblem(why);
      retry = setTimeout(() => setAttempt((a) => a + 1), 3000);
    };
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      v.srcObject = stream;
      v.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      setState(pc.connectionState);
      if (pc.connectionState === "connected") setProblem(null);
      if (pc.connectionState === "failed") fail("The WebRTC connection failed (a firewall may block UDP); retrying…");
    };
    (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(src, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription?.sdp ?? "" });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw new Error(body ? `${body.error}: ${body.details}` : `the server answered ${res.status}`);
      }
      session = res.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    })().catch((e) => fail(`WebRTC playback is not available: ${e.message}; retrying…`));
    return () => {
      closed = true;
      clearTimeout(retry);
      pc.close();
      if (session) fetch(session, { method: "DELETE" }).catch(() => {});
    };
  }, [src, attempt, live]);
  return (
    <div className="player">
      <video ref={video} controls muted autoPlay playsInline aria-label={title} data-webrtc={state} />
      {problem && <p className="muted" role="status">{problem}</p>}
    </div>
  );
}

/** A stream's room as a viewer sees it: its status (`null` until the server answers) and its
 * viewer count, joined again after every reconnect. Socket.IO events are not in the OpenAPI
 * document: their payload types here are hand-written. */
export function useStreamRoom(socket: Socket | null, playbackId: string): { status: string | null; viewers: number } {
  const [status, setStatus] = useState<string | null>(null);
  const [viewers, setViewers] = useState(0);
  useEffect(() => {
    if (!socket) return;
    const onStatus = (s: string) => setStatus(s);
    const onViewers = (v: { count: number }) => setViewers(v.count);
    socket.on("stream-status", onStatus);
    socket.on("viewer-count", onViewers);
    const join = () => socket.emit("join-stream", { playbackId });
    socket.on("connect", join);
    if (socket.connected) join();
    return () => {
      socket.off("stream-status", onStatus);
      socket.off("viewer-count", onViewers);
      socket.off("connect", join);
    };
  }, [socket, playbackId]);
  return { status, viewers };
}

/** Whether a page shows its player: from when the stream goes live until the player has shown
 * the stream's last frames (`Player`'s `onEnded`), at most `GRACE_MS` after the stream went
 * offline. `round` changes whenever a fresh player is needed (pass it as the player's `key`). */
export function useStage(live: boolean): { show: boolean; round: number; onEnded: () => void } {
  const [show, setShow] = useState(live);
  const [round, setRound] = useState(0);
  const liveRef = useRef(live);
  liveRef.current = live;
  useEffect(() => {
    if (live) {
      setShow((s) => {
        if (!s) setRound((r) => r + 1);
        return true;
      });
      return;
    }
    const grace = setTimeout(() => setShow(false), GRACE_MS);
    return () => clearTimeout(grace);
  }, [live]);
  const [again, setAgain] = useState(0);
  // A player that reached the end while the page still believes the stream live (the status
  // arrives later, or the publisher came straight back): a fresh player shortly, if still live.
  useEffect(() => {
    if (!again) return;
    const t = setTimeout(() => {
      if (liveRef.current) {
        setRound((r) => r + 1);
        setShow(true);
      }
    }, 3000);
    return () => clearTimeout(t);
  }, [again]);
  const onEnded = useCallback(() => {
    setShow(false);
    setAgain((a) => a + 1);
  }, []);
  return { show, round, onEnded };
}
/** The longest a player stays on screen after the stream went offline, waiting for the end. */
const GRACE_MS = 15000;

/** A chat message: the history's items (`GET /api/chat/messages/…`) and, over Socket.IO, the
 * `chat-message` event, which the server sends as the same `ChatMessageOut`. */
type Message = Schemas["ChatMessageOut"];

/** The roles ferrocast marks in chat, with the label shown. */
const BADGES: Record<string, string> = { broadcaster: "Host", moderator: "Mod", admin: "Admin", tip: "Tip" };

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
  const me = session()?.user;
  return (
    <section className="chat" aria-label="Chat">
      <h2>Chat</h2>
      <ol ref={list} className="messages" aria-live="polite">
        {messages.length === 0 && <li className="muted">No messages yet.</li>}
        {messages.map((m) => (
          <li key={m.id} className={`message ${m.platform} ${m.message_type}`} data-type={m.message_type}>
            <span className="platform" title={m.platform}>{m.platform === "native" ? "" : m.platform}</span>
            {badgesOf(m).map((b) => (
              <span key={b} className={`chat-badge ${b}`} title={b}>
                {BADGES[b]}
              </span>
            ))}
            <strong>{m.author_name}</strong> <span className="text">{m.message_text}</span>
            {loggedIn && m.message_type !== "system" && m.author_id !== me?.uuid && (
              <ReportButton kind="chat_message" target={String(m.id)} label={`what ${m.author_name} wrote`} heading={`${m.author_name}: “${m.message_text.length > 80 ? m.message_text.slice(0, 80) + "…" : m.message_text}”`} compact testId="report-message" />
            )}
            {canModerate && (
              <>
                <button className="link small" onClick={() => remove(m.id)} aria-label={`Delete the message from ${m.author_name}`}>
                  Delete
                </button>
                {m.platform === "native" && m.message_type !== "system" && (
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
