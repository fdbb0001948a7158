// Schedules: a channel's upcoming streams (the channel page's Schedule tab, with its calendar
// feed to subscribe to) and the creator's editor on the dashboard (announce, change, remove).
// Times are shown and typed in the reader's own time zone; the API speaks UTC.
import { useState, type FormEvent } from "react";
import { api, type Schemas } from "./api";
import { loadCategories } from "./streaminfo";
import { Empty, Loading, Problem, useLoad } from "./ui";
import "./schedule.css";

type Scheduled = Schemas["ScheduledView"];
type List = Schemas["ScheduleList"];

const WHEN = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function minutesWords(m: number): string {
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

function When({ s }: { s: Scheduled }) {
  const start = new Date(s.starts_at);
  const end = new Date(s.ends_at);
  return (
    <time dateTime={s.starts_at} className="schedule-when">
      {WHEN.format(start)}–{TIME.format(end)}
    </time>
  );
}

/** The channel page's Schedule tab. */
export function ChannelSchedule({ handle }: { handle: string }) {
  const list = useLoad(() => api<List>("GET", `/api/channels/${encodeURIComponent(handle)}/schedule`), [handle]);
  if (list.error) return <Problem error={list.error} onRetry={list.reload} />;
  if (!list.data) return <Loading what="the schedule" />;
  const ics = list.data.ics_url;
  return (
    <div className="schedule" data-testid="channel-schedule">
      {list.data.streams.length === 0 ? (
        <Empty>No streams announced yet. When this channel schedules one, it appears here.</Empty>
      ) : (
        <ul className="schedule-list" aria-label="Upcoming streams">
          {list.data.streams.map((s) => (
            <li key={s.id} className="schedule-item" data-testid="schedule-item">
              <When s={s} />
              <span className="schedule-title">{s.title}</span>
              <span className="schedule-meta muted">
                {minutesWords(s.duration_minutes)}
                {s.category_name && <span className="category-pill">{s.category_name}</span>}
              </span>
            </li>
          ))}
        </ul>
      )}
      <p className="schedule-feed">
        <a href={ics} className="button secondary small" data-testid="schedule-ics" download>
          Add to calendar (.ics)
        </a>{" "}
        <span className="muted fine">Subscribe to this address in your calendar app to follow changes: {ics}</span>
      </p>
    </div>
  );
}

/** The value of a `datetime-local` input for an instant, in local time. */
function localInput(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const DURATIONS = [30, 60, 90, 120, 180, 240, 360, 480];
const REMINDERS: { value: string; label: string }[] = [
  { value: "", label: "No reminder" },
  { value: "0", label: "At the start" },
  { value: "5", label: "5 minutes before" },
  { value: "15", label: "15 minutes before" },
  { value: "30", label: "30 minutes before" },
  { value: "60", label: "1 hour before" },
  { value: "1440", label: "1 day before" },
];

/** The dashboard's schedule editor. */
export function ScheduleEditor() {
  const list = useLoad(() => api<List>("GET", "/api/me/schedule"));
  const categories = useLoad(loadCategories);
  const blank = { title: "", starts: "", duration: "60", category: "", reminder: "15" };
  const [form, setForm] = useState(blank);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof blank) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  async function save(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const starts = new Date(form.starts);
    if (!form.starts || Number.isNaN(starts.getTime())) {
      setError(new Error("choose the day and time the stream starts"));
      return;
    }
    const body = {
      title: form.title.trim(),
      starts_at: starts.toISOString(),
      duration_minutes: Number(form.duration),
      category: form.category || null,
      reminder_minutes: form.reminder === "" ? null : Number(form.reminder),
    };
    setBusy(true);
    try {
      if (editing) await api("PATCH", `/api/me/schedule/${encodeURIComponent(editing)}`, body);
      else await api("POST", "/api/me/schedule", body);
      setForm(blank);
      setEditing(null);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function remove(s: Scheduled) {
    setError(null);
    try {
      await api("DELETE", `/api/me/schedule/${encodeURIComponent(s.id)}`);
      if (editing === s.id) {
        setEditing(null);
        setForm(blank);
      }
      list.reload();
    } catch (err) {
      setError(err);
    }
  }

  function edit(s: Scheduled) {
    setEditing(s.id);
    setForm({
      title: s.title,
      starts: localInput(s.starts_at),
      duration: String(s.duration_minutes),
      category: s.category ?? "",
      reminder: s.reminder_minutes == null ? "" : String(s.reminder_minutes),
    });
  }

  const durations = DURATIONS.includes(Number(form.duration)) ? DURATIONS : [...DURATIONS, Number(form.duration)].sort((a, b) => a - b);
  return (
    <section className="card schedule-editor" aria-labelledby="schedule-editor-title" data-testid="schedule-editor">
      <h2 id="schedule-editor-title">Schedule</h2>
      <p className="muted">Announce your next streams: they show on your channel’s Schedule tab and in its calendar feed.</p>
      <form className="schedule-form" onSubmit={save} aria-label={editing ? "Change a scheduled stream" : "Schedule a stream"}>
        <label className="schedule-form-title">
          Headline
          <input name="schedule_title" required maxLength={140} value={form.title} onChange={set("title")} placeholder="e.g. Friday night speedruns" />
        </label>
        <label>
          Starts
          <input name="schedule_starts" type="datetime-local" required value={form.starts} onChange={set("starts")} />
        </label>
        <label>
          Length
          <select name="schedule_duration" value={form.duration} onChange={set("duration")}>
            {durations.map((m) => (
              <option key={m} value={m}>{minutesWords(m)}</option>
            ))}
          </select>
        </label>
        <label>
          Topic
          <select name="schedule_category" value={form.category} onChange={set("category")}>
            <option value="">None</option>
            {(categories.data ?? []).map((c) => (
              <option key={c.slug} value={c.slug}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          Reminder
          <select name="schedule_reminder" value={form.reminder} onChange={set("reminder")}>
            {REMINDERS.map((r) => (
              <option key={r.value} value={r.value}>{r.label}</option>
            ))}
          </select>
        </label>
        <div className="schedule-form-actions">
          <button type="submit" disabled={busy || !form.title.trim()}>{editing ? "Apply changes" : "Add to schedule"}</button>
          {editing && (
            <button type="button" className="secondary" onClick={() => (setEditing(null), setForm(blank))}>
              Cancel
            </button>
          )}
        </div>
      </form>
      <Problem error={error} />
      <Problem error={list.error} onRetry={list.reload} />
      {list.data && list.data.streams.length === 0 && <p className="muted">Nothing scheduled yet.</p>}
      {list.data && list.data.streams.length > 0 && (
        <ul className="schedule-list" aria-label="Your upcoming streams">
          {list.data.streams.map((s) => (
            <li key={s.id} className="schedule-item" data-testid="my-schedule-item">
              <When s={s} />
              <span className="schedule-title">{s.title}</span>
              <span className="schedule-meta muted">
                {minutesWords(s.duration_minutes)}
                {s.category_name && <span className="category-pill">{s.category_name}</span>}
                {s.reminder_minutes != null && <span>reminder {s.reminder_minutes ? `${minutesWords(s.reminder_minutes)} before` : "at the start"}</span>}
              </span>
              <span className="schedule-actions">
                <button className="link small" onClick={() => edit(s)}>Edit</button>
                <button className="link small danger" onClick={() => remove(s)}>Remove</button>
              </span>
            </li>
          ))}
        </ul>
      )}
      {list.data && (
        <p className="muted fine">
          Calendar feed: <a href={list.data.ics_url}>{list.data.ics_url}</a>
        </p>
      )}
    </section>
  );
}
