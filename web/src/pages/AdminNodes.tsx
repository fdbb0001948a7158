// The nodes of the deployment, for administrators: each node's role, the URLs the others reach
// it at, its last heartbeat, the live streams it holds (published there, or relayed from the
// node that publishes them), and the pulls the node answering this page is running.
import { api, type Schemas } from "../api";
import { Link } from "../router";
import { Empty, Loading, Problem, useLoad, useUser } from "../ui";
import "./admin.css";

type Node = Schemas["NodeView"];

function Row({ n }: { n: Node }) {
  const published = n.streams.filter((s) => !s.relay);
  const relayed = n.streams.filter((s) => s.relay);
  return (
    <tr data-testid="node-row" data-role={n.role}>
      <th scope="row">
        <code title={n.id}>{n.id.slice(0, 8)}</code>
        {n.this_node && <span className="muted"> (this node)</span>}
      </th>
      <td data-testid="node-role">{n.role}</td>
      <td>
        <code>{n.rtmp_url}</code>
        <br />
        <code>{n.http_url}</code>
      </td>
      <td data-testid="node-heartbeat">
        {n.up ? `${n.heartbeat_age_secs} s ago` : <strong>silent {n.heartbeat_age_secs} s</strong>}
      </td>
      <td data-testid="node-published">{published.map((s) => s.playback_id).join(", ") || "—"}</td>
      <td data-testid="node-relayed">{relayed.map((s) => s.playback_id).join(", ") || "—"}</td>
    </tr>
  );
}

export default function AdminNodes() {
  const user = useUser();
  const r = useLoad(() => api<Schemas["Nodes"]>("GET", "/api/admin/nodes"));
  if (user?.role !== "admin") {
    return (
      <section className="narrow">
        <h1>Nodes</h1>
        <p>This page is for administrators.</p>
      </section>
    );
  }
  return (
    <div className="admin">
      <h1>Nodes</h1>
      <p className="admin-links">
        <Link href="/admin" className="button ghost small">Administration</Link>
      </p>
      <section className="card" aria-labelledby="nodes-title">
        <h2 id="nodes-title">Origin and edge nodes</h2>
        <p className="muted">
          Nodes write a heartbeat every 5 s; one silent for 20 s is removed. A node relays a live stream it does not hold by pulling it once from the node its encoder publishes to.
        </p>
        {r.error ? <Problem error={r.error} onRetry={r.reload} /> : null}
        {!r.data && !r.error && <Loading what="nodes" />}
        {r.data && r.data.nodes.length === 0 && <Empty>No node is registered.</Empty>}
        {r.data && r.data.nodes.length > 0 && (
          <div className="table-scroll">
            <table data-testid="nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Role</th>
                  <th scope="col">Reached at</th>
                  <th scope="col">Heartbeat</th>
                  <th scope="col">Publishing</th>
                  <th scope="col">Relaying</th>
                </tr>
              </thead>
              <tbody>
                {r.data.nodes.map((n) => (
                  <Row key={n.id} n={n} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {r.data && (
          <p data-testid="node-pulls">
            Pulls on this node: {r.data.pulls.length === 0 ? "none" : r.data.pulls.join(", ")}
          </p>
        )}
        <button type="button" className="button ghost small" onClick={r.reload}>Refresh</button>
      </section>
    </div>
  );
}
