// Copyright notices (DMCA): the public notice form (`/dmca`), the complainant's case page
// (`/dmca/case/<id>?token=…`), the uploader's case page with the counter-notice form
// (`/dmca/counter/<id>`), and the operator's list and case page (`/admin/dmca`,
// `/admin/dmca/<id>`) with the preserved evidence and its SHA-256 hashes.
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import "./admin.css";
import "../dmca.css";

type Case = Schemas["CaseView"];

const STATUS: Record<string, string> = {
  received: "Received",
  content_disabled: "Video disabled",
  counter_noticed: "Counter-notice filed",
  restored: "Restored",
  court_action: "Court action",
  withdrawn: "Withdrawn",
};

function when(s?: string | null) {
  return s ? new Date(s).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—";
}

function StatusBadge({ status }: { status: string }) {
  const tone = status === "restored" || status === "withdrawn" ? "good" : status === "court_action" ? "bad" : "warn";
  return (
    <span className={`badge ${tone}`} data-testid="case-status" data-status={status}>
      {STATUS[status] ?? status}
    </span>
  );
}

function Statement({ name, checked, onChange, children }: { name: string; checked: boolean; onChange: (v: boolean) => void; children: ReactNode }) {
  return (
    <label className="dmca-statement">
      <input type="checkbox" name={name} checked={checked} onChange={(e) => onChange(e.target.checked)} required />
      <span>{children}</span>
    </label>
  );
}

/** The public notice form. */
export default function DmcaNotice() {
  const [f, setF] = useState({ name: "", address: "", phone: "", email: "", work: "", urls: "", signature: "" });
  const [good, setGood] = useState(false);
  const [accurate, setAccurate] = useState(false);
  const [authorized, setAuthorized] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [filed, setFiled] = useState<Schemas["NoticeFiled"] | null>(null);
  useEffect(() => {
    document.title = "Copyright notice · ferrocast";
    const v = new URLSearchParams(location.search).get("video");
    if (v) setF((o) => ({ ...o, urls: `${location.origin}/v/${v}` }));
  }, []);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body: Schemas["NoticeRequest"] = {
        ...f,
        urls: f.urls.split(/\s+/).filter(Boolean),
        good_faith: good,
        accurate,
        authorized,
      };
      setFiled(await api<Schemas["NoticeFiled"]>("POST", "/api/dmca/notices", body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  if (filed) {
    return (
      <section className="narrow card dmca" aria-labelledby="dmca-done" data-testid="dmca-filed">
        <h1 id="dmca-done">Notice received: case {filed.case_id}</h1>
        <p>The video is disabled while the case is open. We emailed you this case's link; keep it, it is the only way to follow the case without an account.</p>
        <p>
          <Link className="button" href={filed.case_url} data-testid="dmca-case-link">Follow case {filed.case_id}</Link>
        </p>
      </section>
    );
  }
  return (
    <section className="dmca dmca-form-page" aria-labelledby="dmca-title">
      <h1 id="dmca-title">Report copyright infringement</h1>
      <p className="lead">
        If a video here uses your copyrighted work without permission, send a notice under the Digital Millennium Copyright Act (17 U.S.C. §512(c)(3)). The video is disabled as soon as a complete notice arrives, and its uploader is told and may answer with a counter-notice.
      </p>
      <p className="muted">
        A notice is a legal document: a false claim can make you liable for damages (§512(f)). If you are unsure whether a use is fair, ask a lawyer first.
      </p>
      <form className="card dmca-form" onSubmit={submit} data-testid="dmca-form">
        <fieldset>
          <legend>You</legend>
          <label>
            Full legal name
            <input name="name" maxLength={200} autoComplete="name" required value={f.name} onChange={set("name")} />
          </label>
          <label>
            Postal address
            <textarea name="address" maxLength={500} rows={3} autoComplete="street-address" required value={f.address} onChange={set("address")} />
          </label>
          <div className="dmca-two">
            <label>
              Telephone
              <input name="phone" type="tel" maxLength={50} autoComplete="tel" required value={f.phone} onChange={set("phone")} />
            </label>
            <label>
              Email
              <input name="email" type="email" maxLength={254} autoComplete="email" required value={f.email} onChange={set("email")} />
            </label>
          </div>
        </fieldset>
        <fieldset>
          <legend>The work and the video</legend>
          <label>
            The copyrighted work
            <textarea name="work" maxLength={4000} rows={3} required placeholder="Title, author, and where the original can be seen" value={f.work} onChange={set("work")} />
          </label>
          <label>
            Address of the video here
            <textarea name="urls" rows={2} required placeholder={`${location.origin}/v/…`} value={f.urls} onChange={set("urls")} />
            <span className="hint">The address of the video's page; one video per notice.</span>
          </label>
        </fieldset>
        <fieldset>
          <legend>Statements</legend>
          <Statement name="good_faith" checked={good} onChange={setGood}>
            I have a good faith belief that use of the material in the manner complained of is not authorized by the copyright owner, its agent, or the law.
          </Statement>
          <Statement name="accurate" checked={accurate} onChange={setAccurate}>
            The information in this notification is accurate.
          </Statement>
          <Statement name="authorized" checked={authorized} onChange={setAuthorized}>
            Under penalty of perjury, I am the owner, or am authorized to act on behalf of the owner, of an exclusive right that is allegedly infringed.
          </Statement>
          <label>
            Electronic signature (type your full name)
            <input name="signature" maxLength={200} required value={f.signature} onChange={set("signature")} />
          </label>
        </fieldset>
        <button type="submit" disabled={busy} data-testid="dmca-submit">{busy ? "Sending…" : "Send the notice"}</button>
        <Problem error={error} />
      </form>
    </section>
  );
}

function CaseFacts({ c }: { c: Case }) {
  return (
    <dl className="dmca-facts">
      <dt>Status</dt>
      <dd><StatusBadge status={c.status} /></dd>
      <dt>Video</dt>
      <dd><a href={c.video_url}>{c.video_id}</a></dd>
      <dt>Work</dt>
      <dd className="dmca-text">{c.work}</dd>
      <dt>Reported addresses</dt>
      <dd>{c.infringing_urls.map((u) => <div key={u}><code>{u}</code></div>)}</dd>
      <dt>Complainant</dt>
      <dd>
        {c.complainant.name} · {c.complainant.email}
        {c.complainant.phone && <> · {c.complainant.phone}</>}
        {c.complainant.address && <div className="dmca-text muted">{c.complainant.address}</div>}
        <div className="muted fine">Signed “{c.complainant.signature}”; the three statements were made.</div>
      </dd>
      <dt>Received</dt>
      <dd>{when(c.received_at)}</dd>
      <dt>Video disabled</dt>
      <dd>{when(c.disabled_at)}</dd>
      {c.counter_noticed_at && (
        <>
          <dt>Counter-notice</dt>
          <dd>{when(c.counter_noticed_at)}</dd>
        </>
      )}
      {c.restore_after && c.status === "counter_noticed" && (
        <>
          <dt>Restored on</dt>
          <dd data-testid="case-restore-after">{when(c.restore_after)}, unless court action is recorded first</dd>
        </>
      )}
      {c.resolved_at && (
        <>
          <dt>Decided</dt>
          <dd>{when(c.resolved_at)}{c.resolution_note && <> — {c.resolution_note}</>}</dd>
        </>
      )}
    </dl>
  );
}

function CounterFacts({ c }: { c: Case }) {
  if (!c.counter) return null;
  const k = c.counter;
  return (
    <section className="card" aria-labelledby="counter-title" data-testid="case-counter">
      <h2 id="counter-title">Counter-notice</h2>
      <dl className="dmca-facts">
        <dt>From</dt>
        <dd>{k.name} · {k.email} · {k.phone}<div className="dmca-text muted">{k.address}</div></dd>
        <dt>Material</dt>
        <dd className="dmca-text">{k.material}</dd>
        <dt>Statements</dt>
        <dd>Under penalty of perjury, a good faith belief of mistake or misidentification; consent to the jurisdiction of the Federal District Court and to service of process.</dd>
        <dt>Signed</dt>
        <dd>“{k.signature}”, {when(k.filed_at)}</dd>
      </dl>
    </section>
  );
}

/** The complainant's view of their case. */
export function DmcaCase({ id }: { id: string }) {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const c = useLoad(() => api<Case>("GET", `/api/dmca/notices/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`), [id, token]);
  if (c.error) return <section className="narrow"><Problem error={c.error} onRetry={c.reload} /></section>;
  if (!c.data) return <Loading what="the case" />;
  return (
    <div className="dmca dmca-case">
      <h1>Copyright case {c.data.id}</h1>
      <section className="card"><CaseFacts c={c.data} /></section>
      <CounterFacts c={c.data} />
    </div>
  );
}

/** The uploader's view of a case about their video, with the counter-notice form. */
export function DmcaCounter({ id }: { id: string }) {
  const user = useUser();
  const c = useLoad(() => (user ? api<Case>("GET", `/api/dmca/cases/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id, user?.id]);
  const [f, setF] = useState({ name: "", address: "", phone: "", email: "", material: "", signature: "" });
  const [mistake, setMistake] = useState(false);
  const [consent, setConsent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = `Copyright case ${id} · ferrocast`;
  }, [id]);
  useEffect(() => {
    if (c.data && !f.material) setF((o) => ({ ...o, material: `My video at ${location.origin}${c.data!.video_url}` }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [c.data]);
  if (!user) {
    return (
      <section className="narrow card">
        <h1>Copyright case {id}</h1>
        <p>Log in with the account that uploaded the video to see the case and answer it.</p>
        <p><Link className="button" href="/login">Log in</Link></p>
      </section>
    );
  }
  if (c.error) return <section className="narrow"><Problem error={c.error} onRetry={c.reload} /></section>;
  if (!c.data) return <Loading what="the case" />;
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body: Schemas["CounterRequest"] = { ...f, mistake, consent };
      c.setData(await api<Case>("POST", `/api/dmca/cases/${encodeURIComponent(id)}/counter`, body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const k = c.data;
  return (
    <div className="dmca dmca-case">
      <h1>Copyright case {k.id}</h1>
      <p className="lead">A copyright notice named your video, and it is disabled while the case is open.</p>
      <section className="card"><CaseFacts c={k} /></section>
      <CounterFacts c={k} />
      {k.status === "counter_noticed" && (
        <p className="notice ok-notice" role="status" data-testid="counter-filed">
          Your counter-notice was sent to the complainant. The video comes back on {when(k.restore_after)} unless they tell us they have gone to court.
        </p>
      )}
      {k.can_counter && (
        <form className="card dmca-form" onSubmit={submit} data-testid="counter-form">
          <h2>File a counter-notice</h2>
          <p className="muted">
            If the video was disabled by mistake or misidentification, you may answer under 17 U.S.C. §512(g)(3). A copy, with your name and contact details, goes to the complainant, who may then take you to court. Do not file one if the use was not yours to make.
          </p>
          <label>
            Full legal name
            <input name="name" maxLength={200} autoComplete="name" required value={f.name} onChange={set("name")} />
          </label>
          <label>
            Postal address
            <textarea name="address" maxLength={500} rows={3} autoComplete="street-address" required value={f.address} onChange={set("address")} />
          </label>
          <div className="dmca-two">
            <label>
              Telephone
              <input name="phone" type="tel" maxLength={50} autoComplete="tel" required value={f.phone} onChange={set("phone")} />
            </label>
            <label>
              Email
              <input name="email" type="email" maxLength={254} autoComplete="email" required value={f.email} onChange={set("email")} />
            </label>
          </div>
          <label>
            The material that was disabled, and where it was
            <textarea name="material" maxLength={4000} rows={2} required value={f.material} onChange={set("material")} />
          </label>
          <Statement name="mistake" checked={mistake} onChange={setMistake}>
            Under penalty of perjury, I have a good faith belief that the material was removed or disabled as a result of mistake or misidentification of the material to be removed or disabled.
          </Statement>
          <Statement name="consent" checked={consent} onChange={setConsent}>
            I consent to the jurisdiction of the Federal District Court for the judicial district in which my address is located (or, if my address is outside the United States, any judicial district in which the service provider may be found), and I will accept service of process from the person who provided the notice or their agent.
          </Statement>
          <label>
            Electronic signature (type your full name)
            <input name="signature" maxLength={200} required value={f.signature} onChange={set("signature")} />
          </label>
          <button type="submit" disabled={busy} data-testid="counter-submit">{busy ? "Sending…" : "File the counter-notice"}</button>
          <Problem error={error} />
        </form>
      )}
    </div>
  );
}

/** The operator's list of cases. */
export function AdminDmca() {
  const user = useUser();
  const [filter, setFilter] = useState("");
  const list = useLoad(() => (user?.role === "admin" ? api<Schemas["CaseList"]>("GET", `/api/admin/dmca${filter ? `?status=${filter}` : ""}`) : Promise.resolve(null)), [filter, user?.role]);
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Copyright notices</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  const rows = list.data?.cases ?? [];
  return (
    <div className="admin dmca">
      <header>
        <p className="crumbs"><Link href="/admin">← Administration</Link></p>
        <h1>Copyright notices</h1>
        <p className="muted">A countered video comes back {list.data?.restore_days ?? "…"} days after the counter-notice unless court action is recorded; a takedown not countered within that time gives its uploader a strike.</p>
      </header>
      <section className="card" aria-label="Cases">
        <header className="section-head">
          <h2>Cases</h2>
          <label className="compact">
            <span className="visually-hidden">Which cases</span>
            <select name="status" value={filter} onChange={(e) => setFilter(e.target.value)}>
              <option value="">All</option>
              {Object.entries(STATUS).filter(([k]) => k !== "received").map(([k, v]) => <option key={k} value={k}>{v}</option>)}
            </select>
          </label>
        </header>
        {list.error ? <Problem error={list.error} onRetry={list.reload} /> : null}
        {!list.data && !list.error && <Loading what="cases" />}
        {list.data && rows.length === 0 && <Empty>No cases.</Empty>}
        {rows.length > 0 && (
          <div className="table-scroll">
            <table className="ledger" data-testid="dmca-cases">
              <thead>
                <tr><th scope="col">Case</th><th scope="col">Status</th><th scope="col">Video</th><th scope="col">Work</th><th scope="col">From</th><th scope="col">Received</th></tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id} data-testid="dmca-case-row">
                    <th scope="row"><Link href={`/admin/dmca/${r.id}`}>#{r.id}</Link></th>
                    <td><StatusBadge status={r.status} /></td>
                    <td><code>{r.video_id}</code></td>
                    <td className="dmca-work">{r.work}</td>
                    <td>{r.complainant_name}</td>
                    <td>{when(r.received_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

/** The operator's case page: the facts, the evidence with its hashes, and the decisions. */
export function AdminDmcaCase({ id }: { id: string }) {
  const user = useUser();
  const c = useLoad(() => (user?.role === "admin" ? api<Case>("GET", `/api/admin/dmca/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id, user?.role]);
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Copyright case</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  if (c.error) return <section className="narrow"><Problem error={c.error} onRetry={c.reload} /></section>;
  if (!c.data) return <Loading what="the case" />;
  const k = c.data;
  async function decide(action: Schemas["DecisionRequest"]["action"], question: string) {
    if (!confirm(question)) return;
    setError(null);
    setDone(null);
    try {
      c.setData(await api<Case>("POST", `/api/admin/dmca/${k.id}/decision`, { action, note: note.trim() || null } satisfies Schemas["DecisionRequest"]));
      setDone(action === "court_action" ? "Court action recorded; the video stays disabled." : "The video is available again.");
      setNote("");
    } catch (err) {
      setError(err);
    }
  }
  const open = k.status === "content_disabled" || k.status === "counter_noticed";
  return (
    <div className="admin dmca dmca-case">
      <header>
        <p className="crumbs"><Link href="/admin/dmca">← Copyright notices</Link></p>
        <h1>Copyright case {k.id}</h1>
      </header>
      <section className="card">
        <CaseFacts c={k} />
        <p className="muted fine">
          Uploader: user {k.uploader_id ?? "—"}{k.strike_id ? ` · strike ${k.strike_id}` : ""}
        </p>
      </section>
      <CounterFacts c={k} />
      <section className="card" aria-labelledby="evidence-title">
        <h2 id="evidence-title">Evidence</h2>
        <p className="muted">Copied when the notice arrived to storage under <code>holds/</code>, which deleting the video or the account never touches.</p>
        {(k.evidence ?? []).length === 0 ? (
          <Empty>No evidence was preserved (see the server log).</Empty>
        ) : (
          <div className="table-scroll">
            <table className="ledger dmca-evidence" data-testid="dmca-evidence">
              <thead>
                <tr><th scope="col">Object</th><th scope="col" className="num">Bytes</th><th scope="col">SHA-256</th></tr>
              </thead>
              <tbody>
                {(k.evidence ?? []).map((e) => (
                  <tr key={e.hold_key}>
                    <th scope="row"><code>{e.hold_key}</code>{e.kind === "metadata" && <span className="badge">metadata</span>}</th>
                    <td className="num">{e.size_bytes.toLocaleString()}</td>
                    <td><code className="dmca-hash" data-testid="evidence-sha256">{e.sha256}</code></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="decide-title">
        <h2 id="decide-title">Decide</h2>
        <label>
          Note for the record
          <textarea name="note" rows={2} maxLength={2000} value={note} onChange={(e) => setNote(e.target.value)} />
        </label>
        <p className="row-actions">
          {open && (
            <button className="ghost" onClick={() => decide("court_action", "Record that the complainant filed an action seeking a court order? The video stays disabled and the uploader gets a strike.")} data-testid="dmca-court">
              Record court action
            </button>
          )}
          {open && (
            <button className="ghost" onClick={() => decide("withdraw", "Record that the notice was withdrawn? The video comes back now.")} data-testid="dmca-withdraw">
              Notice withdrawn
            </button>
          )}
          {(open || k.status === "court_action") && (
            <button onClick={() => decide("restore", "Restore the video now?")} data-testid="dmca-restore">
              Restore now
            </button>
          )}
        </p>
        {done && <p className="ok" role="status" data-testid="dmca-done">{done}</p>}
        <Problem error={error} />
      </section>
    </div>
  );
}
