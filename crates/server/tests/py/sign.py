"""Signs payment-gateway requests for ferrocast's tests with the gateways' own libraries.

Reads one JSON object on stdin and writes one on stdout, in the same order:
  {"stripe": [{"payload": str, "secret": str, "timestamp": int}, ...],
   "razorpay_webhook": [{"body": str, "secret": str}, ...],
   "razorpay_payment": [{"order_id": str, "payment_id": str, "key_id": str, "key_secret": str}, ...],
   "epayco": [{"fields": [str, ...]}, ...],
   "telegram": [{"bot_token": str, "fields": {str: str}, "webapp": bool}, ...]}
→ {"stripe": [header, ...], "razorpay_webhook": [sig, ...], "razorpay_payment": [sig, ...],
   "epayco": [sig, ...], "telegram": [hash or initData, ...]}

Stripe's header comes from stripe.WebhookSignature.generate_signature_header. Razorpay's library
only verifies, so each signature is computed as Razorpay documents (HMAC-SHA256, hex) and then
must pass razorpay.Utility's verification before it is handed out. ePayco publishes no Python
library; its SHA-256 over the `^`-joined fields is computed with hashlib. Telegram's hashes
are computed as its documentation says, with hmac and hashlib: the Login Widget's under
SHA-256(bot token), a Mini App's under HMAC-SHA256("WebAppData", bot token), whose whole
`initData` query (urllib's encoding, the hash last) is handed out.
"""
import hashlib
import hmac
import json
import sys
import urllib.parse

import razorpay
import stripe

req = json.load(sys.stdin)
out = {"stripe": [], "razorpay_webhook": [], "razorpay_payment": [], "epayco": [], "telegram": []}

for s in req.get("stripe", []):
    out["stripe"].append(
        stripe.WebhookSignature.generate_signature_header(s["payload"], s["secret"], s["timestamp"])
    )

for w in req.get("razorpay_webhook", []):
    sig = hmac.new(w["secret"].encode(), w["body"].encode(), hashlib.sha256).hexdigest()
    razorpay.Utility(None).verify_webhook_signature(w["body"], sig, w["secret"])
    out["razorpay_webhook"].append(sig)

for p in req.get("razorpay_payment", []):
    msg = "{}|{}".format(p["order_id"], p["payment_id"])
    sig = hmac.new(p["key_secret"].encode(), msg.encode(), hashlib.sha256).hexdigest()
    client = razorpay.Client(auth=(p["key_id"], p["key_secret"]))
    client.utility.verify_payment_signature(
        {"razorpay_order_id": p["order_id"], "razorpay_payment_id": p["payment_id"], "razorpay_signature": sig}
    )
    out["razorpay_payment"].append(sig)

for e in req.get("epayco", []):
    out["epayco"].append(hashlib.sha256("^".join(e["fields"]).encode()).hexdigest())

for t in req.get("telegram", []):
    check = "\n".join("{}={}".format(k, v) for k, v in sorted(t["fields"].items()))
    if t.get("webapp"):
        secret = hmac.new(b"WebAppData", t["bot_token"].encode(), hashlib.sha256).digest()
    else:
        secret = hashlib.sha256(t["bot_token"].encode()).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    if t.get("webapp"):
        out["telegram"].append(urllib.parse.urlencode(list(t["fields"].items()) + [("hash", digest)]))
    else:
        out["telegram"].append(digest)

json.dump(out, sys.stdout)
