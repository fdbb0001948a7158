// The creator's analytics: the channel's totals over time, the broadcasts with their audience
// figures, and one broadcast's viewers over time with its split by protocol and by where people
// watched. Charts are plain SVG.
import { useEffect, useState } from "react";
import { api, session, type Schemas } from "../api";
import { Link, navigate } from "../router";
import { Empty, Loading, Problem, useLoad, StudioTabs } from "../ui";
import "../analytics.css";

type Figures = Schemas["BroadcastFigures"];
type Detail = Schemas["BroadcastDetail"];
type Bucket = Schemas["ChannelBucket"];

const DAY = 86_400_000;

/** Watch time in words: "42 s", "12 min", "3.4 h". */
export function watchTime(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}

const when = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** A round number at or above `v` for a chart's top line. */
function niceMax(v: number): number {
  if (v <= 0) return 2;
  const step = 10 ** Math.floor(Math.log10(v));
  // Counts get a whole middle line; small fractions any round top.
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= v && (v < 2 || Number.isInteger((m * step) / 2))) return m * step;
  return 10 * step;
}

const W = 640;
const H = 180;
const PAD = { l: 40, r: 10, t: 10, b: 24 };

/** One or more series over the same points, as lines (the first with its area). */
export function LineChart({
  title,
  total,
  labels,
  series,
  format,
  testid,
}: {
  title: string;
  total: string;
  labels: string[];
  series: { name: string; values: number[]; className?: string }[];
  format: (v: number) => string;
  testid?: string;
}) {
  const n = labels.length;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => PAD.l + (i * (W - PAD.l - PAD.r)) / Math.max(1, n - 1);
  const y = (v: number) => PAD.t + (H - PAD.t - PAD.b) * (1 - v / max);
  const path = (vs: number[]) => vs.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const ticks = n > 2 ? [0, Math.floor((n - 1) / 2), n - 1] : n ? [0, n - 1] : [];
  const first = series[0]?.values ?? [];
  const area = first.length ? `${path(first)}L${x(n - 1).toFixed(1)},${y(0)}L${x(0).toFixed(1)},${y(0)}Z` : "";
  const described = series.map((s) => `${s.name}: ${s.values.map(format).join(", ")}`).join("; ");
  return (
    <figure className="chart" data-testid={testid ?? "analytics-chart"}>
      <figcaption>
        <span>{title}</span> <strong>{total}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} from ${labels[0] ?? ""} to ${labels[n - 1] ?? ""}. ${described}`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={PAD.l - 6} y={y(max * f) + 4} textAnchor="end">{format(max * f)}</text>
          </g>
        ))}
        {n > 0 && <path d={area} className="area" />}
        {series.map((s) => (
          <path key={s.name} d={path(s.values)} className={`line ${s.className ?? ""}`} />
        ))}
        {n <= 60 &&
          first.map((v, i) => (
            <circle key={i} cx={x(i)} cy={y(v)} r={2.5} className="dot">
              <title>{`${labels[i]}: ${format(v)}`}</title>
            </circle>
          ))}
        {ticks.map((i) => (
          <text key={i} x={x(i)} y={H - 6} textAnchor={i === 0 ? "start" : i === n - 1 ? "end" : "middle"}>{labels[i]}</text>
        ))}
      </svg>
      {series.length > 1 && (
        <p className="legend">
          {series.map((s) => (
            <span key={s.name} className={`key ${s.className ?? ""}`}>{s.name}</span>
          ))}
        </p>
      )}
    </figure>
  );
}

const PROTOCOL: Record<string, string> = { rtmp: "RTMP", http_flv: "HTTP-FLV", hls: "HLS", ll_hls: "Low-Latency HLS" };
const ORIGIN: Record<string, string> = { watch_page: "Watch page", embed: "Embedded player", external: "Other players" };

/** Shares of watch time as horizontal bars. */
function Split({ title, rows, names }: { title: string; rows: Schemas["Breakdown"][]; names: Record<string, string> }) {
  const total = rows.reduce((a, r) => a + r.watch_ms, 0);
  return (
    <figure className="split" data-testid="analytics-split">
      <figcaption>{title}</figcaption>
      {rows.length === 0 ? (
        <p className="muted">No viewers yet.</p>
      ) : (
        <ul>
          {rows.map((r) => {
            const share = total ? r.watch_ms / total : 0;
            return (
              <li key={r.key}>
                <span className="name">{names[r.key] ?? r.key}</span>
                <svg viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">
                  <rect x="0" y="0" width="100" height="8" className="track" />
                  <rect x="0" y="0" width={Math.max(1, share * 100)} height="8" className="fill" />
                </svg>
                <span className="figure">
                  {Math.round(share * 100)} % · {r.unique_viewers} viewer{r.unique_viewers === 1 ? "" : "s"} · peak {r.peak_viewers}
                </span>
              </li>
            );
          })}
        </ul>
      )}
    </figure>
  );
}

async function downloadCsv(id: number) {
  const s = session();
  const r = await fetch(`/api/analytics/streams/${id}.csv`, { headers: s ? { authorization: `Bearer ${s.access_token}` } : {} });
  if (!r.ok) throw new Error(`The download failed (${r.status}). Reload the page and try again.`);
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `broadcast-${id}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function BroadcastPanel({ id }: { id: number }) {
  const detail = useLoad(() => api<Detail>("GET", `/api/analytics/streams/${id}`), [id]);
  const [error, setError] = useState<unknown>(null);
  const d = detail.data;
  if (detail.error) return <Problem error={detail.error} onRetry={detail.reload} />;
  if (!d) return <Loading what="the broadcast" />;
  const b = d.broadcast;
  const t = (ms: number) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const labels = d.samples.map((s) => t(s.at_ms));
  return (
    <section className="card broadcast" aria-labelledby="broadcast-title" data-testid="broadcast-detail">
      <header className="row">
        <h2 id="broadcast-title">
          {b.title} <span className="muted small">{when(b.started_at)}{b.live ? " · live now" : ""}</span>
        </h2>
        <button className="secondary small" onClick={() => downloadCsv(b.id).catch(setError)} data-testid="csv-download">
          Download CSV
        </button>
      </header>
      <Problem error={error} />
      <dl className="tiles">
        <div><dt>Peak viewers</dt><dd data-testid="analytics-peak">{b.peak_viewers}</dd></div>
        <div><dt>Average viewers</dt><dd data-testid="analytics-average">{b.average_viewers.toFixed(1)}</dd></div>
        <div><dt>Unique viewers</dt><dd data-testid="analytics-unique">{b.unique_viewers}</dd></div>
        <div><dt>Watch time</dt><dd data-testid="analytics-watch">{watchTime(b.watch_ms)}</dd></div>
        <div><dt>Chat messages</dt><dd>{b.chat_messages}</dd></div>
        <div><dt>New followers</dt><dd>{b.new_followers}</dd></div>
        <div><dt>Length</dt><dd className="small-figure">{duration(b.duration_seconds)}</dd></div>
      </dl>
      {d.samples.length === 0 ? (
        <Empty>No samples yet: viewers are counted every {d.sample_every_seconds} s, a few seconds behind.</Empty>
      ) : (
        <LineChart
          title="Viewers"
          total={`peak ${b.peak_viewers}`}
          labels={labels}
          series={[
            { name: "Watching", values: d.samples.map((s) => s.viewers) },
            { name: "Most at once", values: d.samples.map((s) => s.peak), className: "second" },
          ]}
          format={(v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))}
        />
      )}
      <div className="splits">
        <Split title="By protocol (share of watch time)" rows={d.by_protocol} names={PROTOCOL} />
        <Split title="By where people watched" rows={d.by_origin} names={ORIGIN} />
      </div>
    </section>
  );
}

function ChannelTotals() {
  const [days, setDays] = useState(30);
  const series = useLoad(() => {
    const from = Math.floor((Date.now() - (days - 1) * DAY) / DAY) * DAY;
    return api<Schemas["ChannelSeries"]>("GET", `/api/analytics/channel?step=day&from=${from}`);
  }, [days]);
  const b: Bucket[] = series.data?.buckets ?? [];
  const labels = b.map((x) => x.from.slice(5, 10));
  const total = (f: (x: Bucket) => number) => b.reduce((a, x) => a + f(x), 0);
  // Watch time in hours, or in minutes while the busiest day has less than two hours.
  const hours = Math.max(0, ...b.map((x) => x.watch_ms)) >= 7_200_000;
  const unit = hours ? 3_600_000 : 60_000;
  return (
    <section className="card" aria-labelledby="channel-title">
      <header className="row">
        <h2 id="channel-title">Your channel</h2>
        <label className="compact">
          Period{" "}
          <select name="days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </label>
      </header>
      {series.error ? <Problem error={series.error} onRetry={series.reload} /> : null}
      {!series.data && !series.error && <Loading what="your channel's figures" />}
      {series.data && (
        <>
          <dl className="tiles" data-testid="channel-totals">
            <div><dt>Broadcasts</dt><dd>{total((x) => x.broadcasts)}</dd></div>
            <div><dt>Watch time</dt><dd>{watchTime(total((x) => x.watch_ms))}</dd></div>
            <div><dt>Best peak</dt><dd>{Math.max(0, ...b.map((x) => x.peak_viewers))}</dd></div>
            <div><dt>New followers</dt><dd>{total((x) => x.new_followers)}</dd></div>
            <div><dt>Chat messages</dt><dd>{total((x) => x.chat_messages)}</dd></div>
          </dl>
          <div className="charts">
            <LineChart title={`Watch time per day, ${hours ? "hours" : "minutes"}`} total={watchTime(total((x) => x.watch_ms))} labels={labels} series={[{ name: hours ? "Hours" : "Minutes", values: b.map((x) => x.watch_ms / unit) }]} format={(v) => (v >= 10 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1))} testid="channel-chart" />
            <LineChart title="Unique viewers per day" total={String(total((x) => x.unique_viewers))} labels={labels} series={[{ name: "Viewers", values: b.map((x) => x.unique_viewers) }]} format={(v) => String(Math.round(v))} testid="channel-chart" />
            <LineChart title="New followers per day" total={String(total((x) => x.new_followers))} labels={labels} series={[{ name: "Followers", values: b.map((x) => x.new_followers) }]} format={(v) => String(Math.round(v))} testid="channel-chart" />
          </div>
        </>
      )}
    </section>
  );
}

export default function Analytics() {
  useEffect(() => {
    if (!session()) navigate("/login");
  }, []);
  const [pages, setPages] = useState<Figures[][]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [selected, setSelected] = useState<number | null>(null);
  async function more(from?: string | null) {
    try {
      const page = await api<Schemas["BroadcastList"]>("GET", `/api/analytics/streams${from ? `?cursor=${encodeURIComponent(from)}` : ""}`);
      setPages((p) => (from ? [...p, page.broadcasts] : [page.broadcasts]));
      setCursor(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }
  useEffect(() => {
    more();
  }, []);
  const list = pages.flat();
  const current = selected ?? list[0]?.id ?? null;
  return (
    <div className="analytics-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Analytics</h1>
          <StudioTabs current="/dashboard/analytics" />
        </div>
      </header>
      <ChannelTotals />
      <section className="card" aria-labelledby="broadcasts-title">
        <h2 id="broadcasts-title">Broadcasts</h2>
        <Problem error={error} onRetry={() => more()} />
        {cursor === undefined && !error && <Loading what="your broadcasts" />}
        {cursor !== undefined && list.length === 0 && (
          <Empty>
            <p>No broadcasts yet. Go live from the <Link href="/dashboard">studio</Link>; each broadcast's audience appears here.</p>
          </Empty>
        )}
        {list.length > 0 && (
          <div className="table-scroll">
            <table className="broadcasts">
              <thead>
                <tr>
                  <th scope="col">Broadcast</th>
                  <th scope="col">Length</th>
                  <th scope="col">Peak</th>
                  <th scope="col">Unique</th>
                  <th scope="col">Watch time</th>
                </tr>
              </thead>
              <tbody>
                {list.map((b) => (
                  <tr key={b.id} className={b.id === current ? "on" : ""} data-testid="broadcast-row">
                    <th scope="row">
                      <button className="link" onClick={() => setSelected(b.id)} aria-pressed={b.id === current}>
                        {b.title}
                      </button>
                      <span className="muted small"> {when(b.started_at)}{b.live ? " · live" : ""}</span>
                    </th>
                    <td>{duration(b.duration_seconds)}</td>
                    <td>{b.peak_viewers}</td>
                    <td>{b.unique_viewers}</td>
                    <td>{watchTime(b.watch_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {cursor && (
          <p>
            <button className="secondary" onClick={() => more(cursor)}>Older broadcasts</button>
          </p>
        )}
      </section>
      {current !== null && <BroadcastPanel id={current} />}
      <VideoFigures />
    </div>
  );
}

type VideoRow = { video: Schemas["VideoView"]; figures: Schemas["VideoAnalyticsView"] | null };

/** Per video: views (once per viewer per 30 minutes), watch time and the average view, for the
 * 20 most recent ready videos. */
function VideoFigures() {
  const rows = useLoad(async (): Promise<VideoRow[]> => {
    const list = await api<Schemas["VideoList"]>("GET", "/api/videos?limit=20");
    const ready = list.videos.filter((v) => v.status === "ready");
    return Promise.all(
      ready.map(async (video) => ({
        video,
        figures: await api<Schemas["VideoAnalyticsView"]>("GET", `/api/videos/${encodeURIComponent(video.id)}/analytics`).catch(() => null),
      })),
    );
  });
  return (
    <section className="card" aria-labelledby="videos-title">
      <h2 id="videos-title">Videos</h2>
      <Problem error={rows.error} onRetry={rows.reload} />
      {!rows.data && !rows.error && <Loading what="your videos' figures" />}
      {rows.data && rows.data.length === 0 && (
        <Empty>
          <p>No videos yet. Recordings of your streams and your <Link href="/library">uploads</Link> appear here with their views and watch time.</p>
        </Empty>
      )}
      {rows.data && rows.data.length > 0 && (
        <div className="table-scroll">
          <table className="broadcasts" data-testid="video-figures">
            <thead>
              <tr>
                <th scope="col">Video</th>
                <th scope="col">Views</th>
                <th scope="col">Watch time</th>
                <th scope="col">Average view</th>
                <th scope="col">Likes</th>
              </tr>
            </thead>
            <tbody>
              {rows.data.map(({ video, figures }) => (
                <tr key={video.id} data-testid="video-figures-row">
                  <th scope="row">
                    <Link href={`/v/${video.id}`}>{video.title}</Link>
                  </th>
                  <td>{figures ? figures.views : "—"}</td>
                  <td>{figures ? watchTime(figures.watch_seconds * 1000) : "—"}</td>
                  <td>{figures ? duration(Math.round(figures.average_view_seconds)) : "—"}</td>
                  <td>{figures ? figures.likes : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
