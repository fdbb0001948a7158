// A purchase from a creator (a tip, a membership, a pay-per-view video): where a gateway sends
// the buyer back (`/pay/<id>?checkout=success|canceled`, or ePayco's `?ref_payco=…`), and where
// a purchase through Razorpay or ePayco continues to the gateway. The gateway's confirmation
// (its webhook) is what pays it; this page says so and follows until it arrives.
import { useEffect, useState } from "react";
import { api, ApiError, type Schemas } from "../api";
import { Link } from "../router";
import { Loading, Problem, useLoad } from "../ui";
import { loadScript, money } from "./Subscription";

type View = Schemas["PurchaseView"];
type EpaycoScript = {
  checkout: { configure(o: { sessionId: string; type: "standard" | "onpage"; test: boolean }): { open(): void } };
};

const GATEWAY: Record<string, string> = { stripe: "Stripe", razorpay: "Razorpay", epayco: "ePayco" };
const KIND: Record<string, string> = { tip: "Tip", membership: "Membership", ppv: "Pay-per-view" };

/** Posts Razorpay's hosted Checkout form, or opens ePayco's session. */
async function continueToGateway(v: View) {
  if (v.razorpay) {
    const form = document.createElement("form");
    form.method = "POST";
    form.action = v.razorpay.url;
    for (const f of v.razorpay.fields) {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = f.name;
      input.value = f.value;
      form.appendChild(input);
    }
    document.body.appendChild(form);
    form.submit();
    return;
  }
  if (v.epayco) {
    await loadScript(v.epayco.script_url);
    const ePayco = (window as unknown as { ePayco?: EpaycoScript }).ePayco;
    if (!ePayco?.checkout?.configure) throw new ApiError(0, "ePayco's checkout did not start", "Try again, or pay another way.");
    ePayco.checkout.configure({ sessionId: v.epayco.session_id, type: "standard", test: v.epayco.test }).open();
  }
}

export default function Pay({ id }: { id: string }) {
  const query = new URLSearchParams(location.search);
  const back = query.get("checkout") ?? (query.get("ref_payco") ? "success" : null);
  const { data, error, reload } = useLoad(() => api<View>("GET", `/api/purchases/${encodeURIComponent(id)}`), [id]);
  const [tries, setTries] = useState(0);
  const [failure, setFailure] = useState<unknown>(null);
  // Back from paying: the gateway's confirmation usually follows within seconds.
  const waiting = data?.status === "created" && back === "success";
  useEffect(() => {
    if (!waiting || tries >= 30) return;
    const t = window.setTimeout(() => {
      setTries((n) => n + 1);
      reload();
    }, 2000);
    return () => window.clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [waiting, tries, data]);
  if (error) return <Problem error={error} onRetry={reload} />;
  if (!data) return <Loading what="your purchase" />;
  const canContinue = data.status === "created" && back !== "success" && (data.razorpay || data.epayco);
  return (
    <section className="pay-page" aria-labelledby="pay-title">
      <h1 id="pay-title">{KIND[data.kind] ?? "Purchase"} · {money(data.amount_minor, data.currency)}</h1>
      <p className={`notice${data.status === "paid" ? " success" : ""}`} role="status" data-status={data.status}>
        {back === "canceled" && data.status === "created" ? "You left the checkout; nothing was charged." : data.summary}
      </p>
      {data.message ? <blockquote className="pay-message">{data.message}</blockquote> : null}
      <dl className="pay-facts">
        <dt>Paid with</dt>
        <dd>{GATEWAY[data.gateway] ?? data.gateway}</dd>
        {data.tax_minor > 0 ? (
          <>
            <dt>Tax included</dt>
            <dd>{money(data.tax_minor, data.currency)}</dd>
          </>
        ) : null}
        <dt>Reference</dt>
        <dd className="muted">{data.id}</dd>
      </dl>
      {waiting && tries >= 30 ? <p className="muted">Still waiting for {GATEWAY[data.gateway] ?? "the gateway"}; this page keeps your place — reload it in a minute.</p> : null}
      {canContinue ? (
        <button
          type="button"
          className="primary"
          onClick={() => continueToGateway(data).catch(setFailure)}
        >
          Continue to {GATEWAY[data.gateway] ?? "the gateway"}
        </button>
      ) : null}
      <Problem error={failure} />
      <p>
        <Link href="/">Back to ferrocast</Link>
      </p>
    </section>
  );
}
