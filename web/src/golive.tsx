// Going live from the browser: camera, microphone or screen, published over WebRTC (WHIP,
// `POST /api/whip` with the stream key) into the same stream OBS would publish to.
import { useEffect, useRef, useState } from "react";

type Phase = "idle" | "preview" | "connecting" | "live";

/** H.264 first (the stream is passed through to HLS, recordings and destinations as it is sent),
 * packetization mode 1, the highest profile the browser offers. */
export function preferH264(t: RTCRtpTransceiver) {
  const codecs = RTCRtpSender.getCapabilities?.("video")?.codecs ?? [];
  const h264 = codecs.filter((c) => c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine ?? ""));
  h264.sort((a, b) => (b.sdpFmtpLine ?? "").localeCompare(a.sdpFmtpLine ?? ""));
  if (h264.length > 0 && t.setCodecPreferences) t.setCodecPreferences(h264);
}

export function BrowserBroadcast({ streamKey, live }: { streamKey: string; live: boolean }) {
  const [phase, setPhase] = useState<Phase>("idle");
  const [problem, setProblem] = useState<string | null>(null);
  const [source, setSource] = useState<"camera" | "screen">("camera");
  const preview = useRef<HTMLVideoElement>(null);
  const media = useRef<MediaStream | null>(null);
  const pc = useRef<RTCPeerConnection | null>(null);
  const session = useRef<string | null>(null);

  const release = () => {
    media.current?.getTracks().forEach((t) => t.stop());
    media.current = null;
    if (preview.current) preview.current.srcObject = null;
  };
  const hangUp = async () => {
    pc.current?.close();
    pc.current = null;
    const url = session.current;
    session.current = null;
    if (url) await fetch(url, { method: "DELETE", headers: { Authorization: `Bearer ${streamKey}` } }).catch(() => {});
  };
  // Leaving the page stops the broadcast.
  useEffect(
    () => () => {
      void hangUp();
      release();
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [],
  );

  const open = async (what: "camera" | "screen") => {
    setProblem(null);
    release();
    try {
      let stream: MediaStream;
      if (what === "camera") {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
      } else {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: true });
        // The screen's own sound if shared, else the microphone.
        if (stream.getAudioTracks().length === 0) {
          const mic = await navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => null);
          mic?.getAudioTracks().forEach((t) => stream.addTrack(t));
        }
      }
      media.current = stream;
      setSource(what);
      if (preview.current) preview.current.srcObject = stream;
      setPhase("preview");
    } catch (e) {
      setProblem(
        e instanceof DOMException && e.name === "NotAllowedError"
          ? "The browser was not allowed to use it: allow the camera, microphone or screen for this site and try again."
          : `No ${what} could be opened: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };

  const goLive = async () => {
    const stream = media.current;
    if (!stream) return;
    setProblem(null);
    setPhase("connecting");
    try {
      const conn = new RTCPeerConnection();
      pc.current = conn;
      for (const track of stream.getTracks()) {
        const t = conn.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        if (track.kind === "video") {
          preferH264(t);
          const p = t.sender.getParameters();
          p.encodings = [{ ...(p.encodings?.[0] ?? {}), maxBitrate: 2_500_000 }];
          await t.sender.setParameters(p).catch(() => {});
        }
      }
      conn.onconnectionstatechange = () => {
        if (conn.connectionState === "connected") setPhase("live");
        if (conn.connectionState === "failed") {
          setProblem("The connection to the server failed (a firewall may block UDP). Try again, or use OBS.");
          void hangUp();
          setPhase("preview");
        }
      };
      await conn.setLocalDescription(await conn.createOffer());
      const res = await fetch("/api/whip", {
        method: "POST",
        headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${streamKey}` },
        body: conn.localDescription?.sdp ?? "",
      });
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        throw new Error(body ? `${body.error}: ${body.details}` : `the server answered ${res.status}`);
      }
      session.current = res.headers.get("Location");
      await conn.setRemoteDescription({ type: "answer", sdp: await res.text() });
    } catch (e) {
      await hangUp();
      setProblem(`Could not go live: ${e instanceof Error ? e.message : String(e)}`);
      setPhase("preview");
    }
  };

  const stop = async () => {
    await hangUp();
    setPhase("preview");
  };

  const busy = live && phase !== "live" && phase !== "connecting";
  return (
    <section className="studio-card browser-broadcast" aria-label="Go live from your browser">
      <h3>Go live from your browser</h3>
      <p className="muted">No OBS needed: your camera and microphone, or a screen or window, straight from this page.</p>
      <div className="golive-preview">
        <video ref={preview} muted autoPlay playsInline aria-label="Your camera or screen" data-phase={phase} />
        {phase === "idle" && <span className="golive-empty">Choose a camera or a screen to preview it here</span>}
        {phase === "live" && <span className="badge live golive-badge">Live</span>}
      </div>
      <div className="golive-actions">
        {phase !== "live" && phase !== "connecting" && (
          <>
            <button className={source === "camera" && phase === "preview" ? "" : "ghost"} onClick={() => open("camera")}>
              Camera and microphone
            </button>
            <button className={source === "screen" && phase === "preview" ? "" : "ghost"} onClick={() => open("screen")}>
              Share a screen
            </button>
          </>
        )}
        {phase === "preview" && (
          <button onClick={goLive} disabled={busy} data-testid="golive-start">
            Go live
          </button>
        )}
        {phase === "connecting" && <button disabled>Connecting…</button>}
        {phase === "live" && (
          <button className="ghost danger-outline" onClick={stop} data-testid="golive-stop">
            Stop broadcasting
          </button>
        )}
      </div>
      {busy && <p className="muted small">This stream is live from another encoder; stop it first.</p>}
      {problem && (
        <p className="error-text" role="alert">
          {problem}
        </p>
      )}
    </section>
  );
}
