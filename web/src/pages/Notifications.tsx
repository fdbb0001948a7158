// Settings → Notifications: how each kind of notice reaches the user (in the app, by email at
// once or in a daily digest, by push), per-channel choices, and this browser's push.
import { useEffect, useState } from "react";
import { api, session, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Loading, Problem, useLoad } from "../ui";
import { currentPush, disablePush, enablePush, pushSupported } from "../notify";
import "../notify.css";

type Prefs = Schemas["Preferences"];
type KindPref = Schemas["KindPreference"];
type ChannelPref = Schemas["ChannelPreference"];

const KIND_NAME: Record<string, string> = { live: "Go-live", video: "New videos", follower: "New followers", reply: "Replies", moderation: "Reports, strikes and appeals" };

function PushCard() {
  const [state, setState] = useState<"unknown" | "on" | "off" | "unsupported">("unknown");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!pushSupported()) setState("unsupported");
    else currentPush().then((s) => setState(s ? "on" : "off"), () => setState("off"));
  }, []);
  async function toggle() {
    setBusy(true);
    setError("");
    try {
      if (state === "on") {
        await disablePush();
        setState("off");
      } else {
        await enablePush();
        setState("on");
      }
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="card" aria-labelledby="push-title">
      <h2 id="push-title">Push on this browser</h2>
      {state === "unsupported" ? (
        <p className="muted">This browser cannot receive push notifications. Notices still appear under the bell and by email.</p>
      ) : (
        <>
          <p className="muted">
            {state === "on"
              ? "This browser shows a notification when a channel you follow goes live, even with ferrocast closed."
              : "Get a notification on this device when a channel you follow goes live, even with ferrocast closed."}
          </p>
          {error && <p className="error" role="alert">{error}</p>}
          <button type="button" className={state === "on" ? "ghost" : undefined} disabled={busy || state === "unknown"} onClick={toggle} data-testid="push-toggle">
            {busy ? "Please wait…" : state === "on" ? "Turn off push on this browser" : "Turn on push notifications"}
          </button>
        </>
      )}
    </section>
  );
}

function Row({ label, pref, onChange }: { label: string; pref: { in_app: boolean; email: KindPref["email"]; push: boolean }; onChange: (p: { in_app: boolean; email: KindPref["email"]; push: boolean }) => void }) {
  return (
    <tr>
      <td>{label}</td>
      <td data-label="In the app">
        <input type="checkbox" aria-label={`${label}: in the app`} checked={pref.in_app} onChange={(e) => onChange({ ...pref, in_app: e.target.checked })} />
      </td>
      <td data-label="Email">
        <select aria-label={`${label}: email`} value={pref.email} onChange={(e) => onChange({ ...pref, email: e.target.value as KindPref["email"] })}>
          <option value="instant">At once</option>
          <option value="daily">Daily digest</option>
          <option value="off">Off</option>
        </select>
      </td>
      <td data-label="Push">
        <input type="checkbox" aria-label={`${label}: push`} checked={pref.push} onChange={(e) => onChange({ ...pref, push: e.target.checked })} />
      </td>
    </tr>
  );
}

export default function Notifications() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const { data, error, reload } = useLoad(() => api<Prefs>("GET", "/api/me/notification-preferences"));
  const [kinds, setKinds] = useState<KindPref[]>([]);
  const [channels, setChannels] = useState<ChannelPref[]>([]);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  useEffect(() => {
    if (data) {
      setKinds(data.kinds);
      setChannels(data.channels ?? []);
    }
  }, [data]);
  if (error) return <Problem error={error} onRetry={reload} />;
  if (!data) return <Loading what="your notification settings" />;

  async function save() {
    setSaving(true);
    setSaveError(null);
    setSaved("");
    try {
      const r = await api<Prefs>("PUT", "/api/me/notification-preferences", { kinds, channels });
      setKinds(r.kinds);
      setChannels(r.channels ?? []);
      setSaved("Saved.");
    } catch (e) {
      setSaveError(e);
    } finally {
      setSaving(false);
    }
  }

  return (
    <div className="settings">
      <p className="muted"><Link href="/settings">← Settings</Link></p>
      <h1>Notifications</h1>
      <section className="card" aria-labelledby="kinds-title">
        <h2 id="kinds-title">What you are told, and how</h2>
        <table className="prefs-table">
          <thead>
            <tr><th>When</th><th>In the app</th><th>Email</th><th>Push</th></tr>
          </thead>
          <tbody>
            {kinds.map((k, i) => (
              <Row key={k.kind} label={KIND_NAME[k.kind] ?? k.kind} pref={k} onChange={(p) => setKinds(kinds.map((o, j) => (j === i ? { ...o, ...p } : o)))} />
            ))}
          </tbody>
        </table>
        {channels.length > 0 && (
          <>
            <h3>Channels with their own choice</h3>
            <table className="prefs-table">
              <tbody>
                {channels.map((c, i) => (
                  <Row key={`${c.handle}-${c.kind}`} label={`${c.display_name} (@${c.handle}) · ${KIND_NAME[c.kind] ?? c.kind}`} pref={c} onChange={(p) => setChannels(channels.map((o, j) => (j === i ? { ...o, ...p } : o)))} />
                ))}
              </tbody>
            </table>
            <p className="muted">To drop a channel's own choice, set it like the kind above and save; channels without one follow the table above.</p>
          </>
        )}
        <Problem error={saveError} />
        {saved && <p role="status" className="ok">{saved}</p>}
        <button type="button" onClick={save} disabled={saving} data-testid="save-notification-preferences">{saving ? "Saving…" : "Save"}</button>
      </section>
      <PushCard />
    </div>
  );
}
