"""An independent check of the audit log's hashing (RFC 9162 §2.1), written from the RFC and the
README's format description, sharing no code with the server.

Reads JSON on standard input:
  {"entries": [entry as GET /api/admin/audit/entries/{index} shows it, ...] (index order, from 0),
   "inclusion": [proof as GET /api/admin/audit/proof/inclusion answers, ...],
   "consistency": [proof as GET /api/admin/audit/proof/consistency answers, ...],
   "checkpoint": checkpoint as the API shows it, or null,
   "public_key_pem": the log's public key (PEM), or null}
Prints JSON: {"roots": {size: hex root of the first `size` leaves}, "inclusion_ok": [bool...],
"consistency_ok": [bool...], "checkpoint_ok": bool or null, "leaves_ok": bool, "errors": [...]}
"""

import base64
import hashlib
import json
import sys


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    # RFC 9162 §2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    # RFC 9162 §2.1.4.2
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def canonical(v) -> bytes:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_bytes(e) -> bytes:
    subject = None
    if e["subject_kind"] is not None:
        subject = {"kind": e["subject_kind"], "id": e["subject_id"]}
    return canonical({
        "v": 1,
        "index": e["index"],
        "time": e["time"],
        "action": e["action"],
        "actor": e["actor"],
        "subject": subject,
        "details": e["details"],
        "personal": e["personal_commitment"],
        "prev": e["prev_hash"],
    })


def main():
    req = json.load(sys.stdin)
    errors = []
    leaves = []
    prev = "0" * 64
    for i, e in enumerate(req["entries"]):
        data = leaf_bytes(e)
        if data.decode() != e["leaf"]:
            errors.append(f"entry {i}: the leaf rebuilt from its fields differs from the server's")
        h = leaf_hash(data)
        if h.hex() != e["leaf_hash"]:
            errors.append(f"entry {i}: leaf hash differs")
        if e["index"] != i:
            errors.append(f"entry {i}: index {e['index']}")
        if e["prev_hash"] != prev:
            errors.append(f"entry {i}: chain broken")
        prev = h.hex()
        leaves.append(h)
    roots = {str(n): mth(leaves[:n]).hex() for n in range(0, len(leaves) + 1)}
    inclusion_ok = []
    for p in req.get("inclusion", []):
        size, index = p["tree_size"], p["leaf_index"]
        root = mth(leaves[:size])
        ok = (root.hex() == p["root_hash"]
              and leaves[index].hex() == p["leaf_hash"]
              and verify_inclusion(index, size, leaves[index], [bytes.fromhex(x) for x in p["path"]], root))
        inclusion_ok.append(ok)
    consistency_ok = []
    for p in req.get("consistency", []):
        m, n = p["from_size"], p["to_size"]
        r1, r2 = mth(leaves[:m]), mth(leaves[:n])
        ok = (r1.hex() == p["from_root"] and r2.hex() == p["to_root"]
              and verify_consistency(m, n, r1, r2, [bytes.fromhex(x) for x in p["path"]]))
        consistency_ok.append(ok)
    checkpoint_ok = None
    c = req.get("checkpoint")
    if c is not None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
        lines = c["body"].split("\n")
        size = int(lines[1])
        root_ok = base64.b64decode(lines[2]) == mth(leaves[:size])
        key = load_pem_public_key(req["public_key_pem"].encode())
        try:
            key.verify(base64.b64decode(c["signature"]), c["body"].encode())
            sig_ok = True
        except Exception:
            sig_ok = False
        checkpoint_ok = root_ok and sig_ok
    json.dump({
        "roots": roots,
        "inclusion_ok": inclusion_ok,
        "consistency_ok": consistency_ok,
        "checkpoint_ok": checkpoint_ok,
        "leaves_ok": not errors,
        "errors": errors,
    }, sys.stdout)


main()
