// A source's platform chat (YouTube and Twitch connectors: connect through the platform's
// consent page, reconnect, disconnect, their state and last error) and its chat rules (slow
// mode, blocked words, links, moderators).
import { useEffect, useState, type FormEvent } from "react";
import { api, session, type Schemas } from "../api";
import { Problem, useLoad } from "../ui";
import { OAUTH_ERRORS } from "../oauth";

type Connector = Schemas["ConnectorView"];
const PLATFORMS: { id: "youtube" | "twitch"; name: string }[] = [
  { id: "youtube", name: "YouTube" },
  { id: "twitch", name: "Twitch" },
];
const STATES: Record<string, string> = {
  connecting: "connecting…",
  connected: "connected",
  waiting: "waiting for a live broadcast",
  retrying: "retrying",
  failed: "stopped",
};

/** What the consent's return to `/dashboard?chat_connected=…` or `?chat_error=…` says, once. */
function consentOutcome(sourceId: number): { done: string; error: Error | null } {
  const q = new URLSearchParams(location.search);
  const connected = q.get("chat_connected");
  const error = q.get("chat_error") ?? q.get("oauth_error");
  if (connected && q.get("source") === String(sourceId)) {
    return { done: `${connected === "youtube" ? "YouTube" : "Twitch"} chat is connected.`, error: null };
  }
  if (error) return { done: "", error: new Error(`Connecting the chat did not work: ${OAUTH_ERRORS[error] ?? error}`) };
  return { done: "", error: null };
}

export function PlatformChat({ sourceId }: { sourceId: number }) {
  const list = useLoad(() => api<Schemas["ConnectorList"]>("GET", `/api/chat/connectors/${sourceId}`), [sourceId]);
  const providers = useLoad(() => api<Schemas["ProviderList"]>("GET", "/api/auth/providers"));
  const [outcome] = useState(() => consentOutcome(sourceId));
  const [error, setError] = useState<unknown>(outcome.error);
  const [done, setDone] = useState(outcome.done);
  useEffect(() => {
    if (location.search.includes("chat_") || location.search.includes("oauth_error")) history.replaceState(null, "", location.pathname);
    // The connector's state changes as it connects: look again for a while.
    const t = setInterval(list.reload, 3000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const offered = new Set(providers.data?.providers.filter((p) => p.id !== "telegram").map((p) => (p.id === "google" ? "youtube" : p.id)));
  async function connect(platform: string) {
    setError(null);
    try {
      const r = await api<Schemas["ChatConsent"]>("POST", "/api/chat/connectors/oauth", { source_id: sourceId, platform } satisfies Schemas["ChatConsentRequest"]);
      location.assign(r.authorize_url);
    } catch (e) {
      setError(e);
    }
  }
  async function disconnect(c: Connector, name: string) {
    if (!confirm(`Disconnect ${name} chat? Its messages stay here.`)) return;
    setError(null);
    try {
      await api("DELETE", `/api/chat/connectors/${c.id}`);
      setDone(`${name} chat is disconnected.`);
      list.reload();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section className="platform-chat" aria-labelledby={`pchat-${sourceId}`}>
      <h3 id={`pchat-${sourceId}`}>YouTube and Twitch chat</h3>
      <ul className="identities">
        {PLATFORMS.map(({ id, name }) => {
          const c = list.data?.connectors.find((x) => x.platform === id);
          const channel = (c?.config as { channel_name?: string } | undefined)?.channel_name;
          return (
            <li key={id} data-testid={`connector-${id}`}>
              <span className="who">
                <strong>{name}</strong>{" "}
                {c ? (
                  <>
                    <span className={`badge ${c.state === "connected" ? "" : c.state === "failed" ? "warn" : ""}`} data-testid="connector-state">
                      {STATES[c.state] ?? c.state}
                    </span>
                    {channel ? <span className="muted"> {channel}</span> : null}
                    {c.last_error ? <span className="muted"> — {c.last_error}</span> : null}
                  </>
                ) : (
                  <span className="muted">not connected</span>
                )}
              </span>
              {offered.has(id) && (
                <button className="ghost small" onClick={() => connect(id)}>
                  {c ? `Reconnect ${name}` : `Connect ${name} chat`}
                </button>
              )}
              {c && (
                <button className="link small danger" onClick={() => disconnect(c, name)}>
                  Disconnect
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {providers.data && offered.size === 0 && <p className="muted">The operator has not configured a Google or Twitch client, so chats cannot be connected from here.</p>}
      <Problem error={error ?? list.error} />
      {done && <p role="status" className="ok">{done}</p>}
    </section>
  );
}

export function ChatRules({ sourceId }: { sourceId: number }) {
  const settings = useLoad(() => api<Schemas["ChatSettings"]>("GET", `/api/chat/settings/${sourceId}`), [sourceId]);
  const mods = useLoad(() => api<Schemas["ModeratorList"]>("GET", `/api/chat/moderators/${sourceId}`), [sourceId]);
  const [slow, setSlow] = useState("0");
  const [words, setWords] = useState("");
  const [links, setLinks] = useState(true);
  const [mod, setMod] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  // Who could moderate: accounts that chatted here recently (native messages carry the user's
  // id), the source's moderators aside.
  const recent = useLoad(() => api<Schemas["MessageList"]>("GET", `/api/chat/messages/${sourceId}?limit=200`), [sourceId, done]);
  const isMod = new Set(mods.data?.moderators.map((m) => m.user_id));
  isMod.add(session()?.user.uuid ?? "");
  const candidates = [
    ...new Map(
      (recent.data?.messages ?? [])
        .filter((m) => m.platform === "native" && m.author_id && !isMod.has(m.author_id))
        .map((m) => [m.author_id as string, { id: m.author_id as string, name: m.author_name }]),
    ).values(),
  ];
  useEffect(() => {
    if (!settings.data) return;
    setSlow(String(settings.data.slow_mode_seconds));
    setWords(settings.data.blocked_words.join(", "));
    setLinks(settings.data.links_allowed);
  }, [settings.data]);
  async function save(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setDone("");
    try {
      const body = {
        slow_mode_seconds: Number(slow) || 0,
        blocked_words: words.split(",").map((w) => w.trim()).filter(Boolean),
        links_allowed: links,
      } satisfies Schemas["ChatSettings"];
      settings.setData(await api<Schemas["ChatSettings"]>("PUT", `/api/chat/settings/${sourceId}`, body));
      setDone("Chat rules saved.");
    } catch (err) {
      setError(err);
    }
  }
  async function moderator(method: "PUT" | "DELETE", userId: string) {
    setError(null);
    setDone("");
    try {
      const r = await api<Schemas["Done"]>(method, `/api/chat/moderators/${sourceId}/${encodeURIComponent(userId.trim())}`);
      setDone(r.message);
      setMod("");
      mods.reload();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <details className="chat-rules">
      <summary>Chat rules</summary>
      <form onSubmit={save} aria-label="Chat rules">
        <label>
          Slow mode <span className="muted">(seconds between a viewer's messages; 0: off)</span>
          <input name="slow_mode_seconds" type="number" min={0} max={3600} value={slow} onChange={(e) => setSlow(e.target.value)} />
        </label>
        <label>
          Blocked words <span className="muted">(comma-separated)</span>
          <input name="blocked_words" value={words} onChange={(e) => setWords(e.target.value)} placeholder="e.g. spoiler, casino" />
        </label>
        <label className="toggle">
          <input type="checkbox" checked={links} onChange={(e) => setLinks(e.target.checked)} /> Viewers may post links
        </label>
        <button type="submit" disabled={!settings.data}>Save rules</button>
      </form>
      <h4>Moderators</h4>
      {mods.data && mods.data.moderators.length === 0 && <p className="muted">No moderators.</p>}
      <ul className="rows">
        {mods.data?.moderators.map((m) => (
          <li key={m.user_id}>
            {m.display_name}{" "}
            <button className="link small danger" onClick={() => moderator("DELETE", m.user_id)}>Remove</button>
          </li>
        ))}
      </ul>
      {candidates.length > 0 ? (
        <form
          className="inline"
          aria-label="Add a moderator"
          onSubmit={(e) => {
            e.preventDefault();
            moderator("PUT", mod);
          }}
        >
          <label>
            Add a moderator <span className="muted">(someone who chatted here)</span>
            <select name="moderator" value={mod} onChange={(e) => setMod(e.target.value)}>
              <option value="">Choose…</option>
              {candidates.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" className="ghost" disabled={!mod}>Add</button>
        </form>
      ) : (
        <p className="muted">Viewers who chat here with an account can be made moderators.</p>
      )}
      <Problem error={error ?? settings.error} />
      {done && <p role="status" className="ok">{done}</p>}
    </details>
  );
}
