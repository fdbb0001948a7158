// Hangouts. `/hangouts`: your rooms — make one, copy its links, see which are on. `/hangout/<id>`
// (`?code=` from the speaker link puts you on stage): the room — your camera and everyone on
// stage over WebRTC through the server, who is in the audience, and for the host the links, the
// broadcast of the stage to their channel, and ending the hangout.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { preferH264 } from "../golive";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, StudioTabs, useLoad, useUser } from "../ui";
import "../analytics.css";
import "../studio.css";
import "../hangout.css";

type Room = Schemas["RoomView"];
type Joined = Schemas["Joined"];
type Peer = Schemas["PeerView"];

/** How often a peer checks in (the server drops one silent for 20 s). */
const CHECK_IN_MS = 2000;

function copy(text: string, done: () => void) {
  navigator.clipboard?.writeText(text).then(done, () => undefined);
}

export default function Hangouts() {
  useEffect(() => {
    if (!session()) navigate("/login?return_to=/hangouts");
    document.title = "Hangouts · ferrocast";
  }, []);
  const list = useLoad(() => api<Schemas["HangoutList"]>("GET", "/api/hangouts"));
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState("");
  async function create(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const h = await api<Schemas["HangoutView"]>("POST", "/api/hangouts", { title });
      navigate(h.link);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="dashboard hangouts-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Hangouts</h1>
          <StudioTabs current="/hangouts" />
        </div>
      </header>
      <p className="muted">A room for up to 8 on camera, joined by link: send the speaker link to your guests, the room link to everyone else. Broadcast it to your channel when you like.</p>
      <form className="card hangout-new" onSubmit={create}>
        <label>
          Title
          <input value={title} maxLength={100} required placeholder="Friday night hangout" onChange={(e) => setTitle(e.target.value)} />
        </label>
        <button type="submit" disabled={busy || !title.trim()}>
          New hangout
        </button>
      </form>
      <Problem error={error ?? list.error} onRetry={list.error ? list.reload : undefined} />
      {!list.data && !list.error && <Loading what="your hangouts" />}
      {list.data && list.data.hangouts.length === 0 && <Empty>No hangouts yet: make one above.</Empty>}
      {list.data && list.data.hangouts.length > 0 && (
        <ul className="hangout-list">
          {list.data.hangouts.map((h) => (
            <li key={h.id} className="card">
              <div>
                <Link href={h.link}>
                  <strong>{h.title}</strong>
                </Link>
                <span className="muted fine"> · {new Date(h.created_at).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })}</span>
                {h.ended ? <span className="badge">Ended</span> : h.broadcasting ? <span className="badge live">Broadcasting</span> : null}
              </div>
              {!h.ended && (
                <div className="actions">
                  <button className="ghost small" onClick={() => copy(location.origin + h.speaker_link, () => setCopied(h.id + "s"))}>
                    {copied === h.id + "s" ? "Copied" : "Copy speaker link"}
                  </button>
                  <button className="ghost small" onClick={() => copy(location.origin + h.link, () => setCopied(h.id))}>
                    {copied === h.id ? "Copied" : "Copy room link"}
                  </button>
                  <Link className="button small" href={h.link}>
                    Open
                  </Link>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Another peer's camera, played over WebRTC (WHEP); tries again while it cannot connect. */
function RemoteTile({ peer }: { peer: Peer }) {
  const video = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState("connecting");
  const [attempt, setAttempt] = useState(0);
  const pid = peer.playback_id;
  useEffect(() => {
    const v = video.current;
    if (!v || !pid || !peer.publishing) return;
    const pc = new RTCPeerConnection();
    let session: string | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    const again = () => {
      if (!closed) retry = setTimeout(() => setAttempt((a) => a + 1), 1500);
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
      if (pc.connectionState === "failed") again();
    };
    (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(`/whep/${pid}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription?.sdp ?? "" });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      session = res.headers.get("Location");
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    })().catch(again);
    return () => {
      closed = true;
      clearTimeout(retry);
      pc.close();
      if (session) fetch(session, { method: "DELETE" }).catch(() => {});
    };
  }, [pid, peer.publishing, attempt]);
  return (
    <figure className="hangout-tile" data-state={state}>
      <video ref={video} autoPlay playsInline data-testid="hangout-remote" data-peer={peer.name} aria-label={`${peer.name}'s camera`} />
      <figcaption>
        {peer.name}
        {peer.role === "host" && <span className="badge">Host</span>}
        {state !== "connected" && <span className="muted fine"> · connecting…</span>}
      </figcaption>
    </figure>
  );
}

export function Hangout({ id }: { id: string }) {
  const user = useUser();
  const code = new URLSearchParams(location.search).get("code");
  const room = useLoad(() => api<Room>("GET", `/api/hangouts/${encodeURIComponent(id)}`), [id]);
  const [me, setMe] = useState<Joined | null>(null);
  const [live, setLive] = useState<Room | null>(null);
  const [name, setName] = useState("");
  const [phase, setPhase] = useState<"lobby" | "joining" | "in" | "left">("lobby");
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState("");
  const [busy, setBusy] = useState(false);
  const preview = useRef<HTMLVideoElement>(null);
  const media = useRef<MediaStream | null>(null);
  const pc = useRef<RTCPeerConnection | null>(null);
  const view = live ?? room.data;
  useEffect(() => {
    if (view) document.title = `${view.title} · Hangout · ferrocast`;
  }, [view]);

  // Checking in while in the room; the room as it changes.
  useEffect(() => {
    if (!me || phase !== "in") return;
    let stop = false;
    const tick = async () => {
      try {
        const r = await fetchRoom(id, me);
        if (stop) return;
        setLive(r);
        setError(null);
        if (r.ended) {
          setPhase("left");
          setMe(null);
        }
      } catch (e) {
        if (stop) return;
        setError(e);
        if (e instanceof Dropped) {
          setMe(null);
          setPhase("lobby");
        }
      }
    };
    const t = setInterval(tick, CHECK_IN_MS);
    void tick();
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [me, phase, id]);

  // Leaving when the page goes away.
  useEffect(() => {
    if (!me) return;
    const leave = () => {
      fetch(`/api/hangouts/${id}/peers/${me.peer_id}`, { method: "DELETE", headers: { "X-Peer-Token": me.token }, keepalive: true }).catch(() => {});
    };
    window.addEventListener("pagehide", leave);
    return () => {
      window.removeEventListener("pagehide", leave);
      leave();
      pc.current?.close();
      media.current?.getTracks().forEach((t) => t.stop());
    };
  }, [me, id]);

  const onStage = (role: string | undefined | null) => role === "host" || role === "speaker";
  const expected = view ? (view.your_role === "host" ? "host" : code ? "speaker" : "audience") : "audience";

  async function join(e: FormEvent) {
    e.preventDefault();
    setPhase("joining");
    setError(null);
    try {
      if (onStage(expected)) {
        media.current = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
        if (preview.current) preview.current.srcObject = media.current;
      }
      const joined = await api<Joined>("POST", `/api/hangouts/${encodeURIComponent(id)}/join`, { code: code ?? undefined, name: user ? undefined : name });
      if (onStage(joined.role) && media.current) {
        try {
          await publish(joined, media.current);
        } catch (err) {
          // Not on stage after all: give the seat back at once.
          pc.current?.close();
          pc.current = null;
          fetch(`/api/hangouts/${encodeURIComponent(id)}/peers/${joined.peer_id}`, { method: "DELETE", headers: { "X-Peer-Token": joined.token } }).catch(() => {});
          throw err;
        }
      } else {
        media.current?.getTracks().forEach((t) => t.stop());
        media.current = null;
      }
      setMe(joined);
      setLive(joined.room);
      setPhase("in");
    } catch (err) {
      media.current?.getTracks().forEach((t) => t.stop());
      media.current = null;
      setError(err instanceof DOMException ? new Error(`Your camera or microphone could not be opened (${err.message}). Allow them in the browser, or join without the speaker link to watch.`) : err);
      setPhase("lobby");
    }
  }

  async function publish(joined: Joined, stream: MediaStream) {
    const conn = new RTCPeerConnection();
    pc.current = conn;
    for (const track of stream.getTracks()) {
      const t = conn.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      if (track.kind === "video") preferH264(t);
    }
    await conn.setLocalDescription(await conn.createOffer());
    const res = await fetch(`/api/hangouts/${encodeURIComponent(id)}/peers/${joined.peer_id}/publish`, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", "X-Peer-Token": joined.token },
      body: conn.localDescription?.sdp ?? "",
    });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      throw new Error(body ? `${body.error}: ${body.details}` : `the server answered ${res.status}`);
    }
    await conn.setRemoteDescription({ type: "answer", sdp: await res.text() });
  }

  useEffect(() => {
    if (phase === "in" && preview.current && media.current) preview.current.srcObject = media.current;
  }, [phase]);

  async function broadcast(on: boolean) {
    setBusy(true);
    setError(null);
    try {
      setLive(await api<Room>("POST", `/api/hangouts/${encodeURIComponent(id)}/broadcast`, { on }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function end() {
    if (!confirm("End the hangout for everyone?")) return;
    try {
      await api("DELETE", `/api/hangouts/${encodeURIComponent(id)}`);
      setPhase("left");
      setMe(null);
    } catch (err) {
      setError(err);
    }
  }

  if (room.error) return <Problem error={room.error} onRetry={room.reload} />;
  if (!view) return <Loading what="the hangout" />;
  if (view.ended || phase === "left")
    return (
      <div className="hangout-page">
        <h1>{view.title}</h1>
        <Empty>{view.ended ? "This hangout has ended." : "You left the hangout."}</Empty>
      </div>
    );
  const others = view.peers.filter((p) => p.id !== me?.peer_id);
  const stage = others.filter((p) => onStage(p.role));
  const audience = view.peers.filter((p) => p.role === "audience");
  const myRole = me?.role ?? expected;
  return (
    <div className="hangout-page">
      <header className="hangout-top">
        <div>
          <h1>{view.title}</h1>
          <p className="muted">
            Hosted by {view.host_name} · {view.peers.filter((p) => onStage(p.role)).length} on stage · {audience.length} watching
            {view.broadcast_url && (
              <>
                {" "}· <span className="badge live">Broadcasting</span> <Link href={view.broadcast_url}>Watch the broadcast</Link>
              </>
            )}
          </p>
        </div>
        {phase === "in" && (
          <div className="actions">
            {view.speaker_link && (
              <>
                <button className="ghost small" data-link={view.speaker_link} data-testid="copy-speaker-link" onClick={() => copy(location.origin + view.speaker_link, () => setCopied("s"))}>
                  {copied === "s" ? "Copied" : "Copy speaker link"}
                </button>
                <button className="ghost small" onClick={() => copy(`${location.origin}/hangout/${view.id}`, () => setCopied("r"))}>
                  {copied === "r" ? "Copied" : "Copy room link"}
                </button>
                <button className="small" disabled={busy} onClick={() => broadcast(!view.broadcast_url)} data-testid="hangout-broadcast">
                  {view.broadcast_url ? "Stop broadcast" : "Broadcast to my channel"}
                </button>
                <button className="small danger" onClick={end}>
                  End hangout
                </button>
              </>
            )}
            <button
              className="ghost small"
              onClick={() => {
                setPhase("left");
                setMe(null);
              }}
              data-testid="hangout-leave"
            >
              Leave
            </button>
          </div>
        )}
      </header>
      <Problem error={error} />
      {phase !== "in" && (
        <form className="card hangout-lobby" onSubmit={join}>
          <p>
            {myRole === "host" ? "You host this hangout: your camera goes on stage." : myRole === "speaker" ? "You are invited on stage: your camera and microphone join the room." : "You join the audience: you see and hear everyone on stage."}
          </p>
          {!user && (
            <label>
              Your name
              <input value={name} maxLength={40} required placeholder="The name others see" onChange={(e) => setName(e.target.value)} />
            </label>
          )}
          <button type="submit" disabled={phase === "joining" || (!user && !name.trim())} data-testid="hangout-join">
            {phase === "joining" ? "Joining…" : onStage(myRole) ? "Join with camera and microphone" : "Join"}
          </button>
        </form>
      )}
      {phase === "in" && (
        <>
          <div className={`hangout-grid n${Math.min(9, stage.length + (onStage(me?.role) ? 1 : 0))}`}>
            {onStage(me?.role) && (
              <figure className="hangout-tile me">
                <video ref={preview} autoPlay playsInline muted data-testid="hangout-self" aria-label="Your camera" />
                <figcaption>You</figcaption>
              </figure>
            )}
            {stage.map((p) => (
              <RemoteTile key={`${p.id}-${p.publishing}`} peer={p} />
            ))}
            {stage.length === 0 && !onStage(me?.role) && <Empty>Nobody is on stage yet.</Empty>}
          </div>
          {audience.length > 0 && (
            <p className="muted fine hangout-audience">
              Watching: {audience.map((p) => p.name).join(", ")}
            </p>
          )}
        </>
      )}
    </div>
  );
}

/** Thrown when the server no longer knows this peer: the page goes back to the lobby. */
class Dropped extends Error {}

/** The room, checking in as `me` (the peer's token is the credential: a signed-in session's
 * access token expires, the peer's does not). */
async function fetchRoom(id: string, me: Joined): Promise<Room> {
  const r = await fetch(`/api/hangouts/${encodeURIComponent(id)}?peer=${me.peer_id}`, { headers: { "X-Peer-Token": me.token } });
  if (r.status === 401 || r.status === 404) throw new Dropped("You are no longer in this hangout (you were away too long): join again.");
  if (!r.ok) throw new Error(`The room could not be read (${r.status}); retrying.`);
  return r.json();
}
