#!/usr/bin/env python3
"""Verifies a ferrocast audit bundle with the Python standard library alone.

Run it in the unpacked bundle's directory (or pass the directory): `python3 verify.py [DIR]`.
It checks, and exits non-zero naming the first thing that fails:
  1. the checkpoint's Ed25519 signature (checkpoint.txt, checkpoint.sig) by public_key.pem
     (RFC 8032 verification, implemented below);
  2. each entry's leaf, rebuilt from its fields as canonical JSON, against its leaf hash
     (SHA-256 of 0x00 || leaf, RFC 9162 §2.1.1);
  3. the hash chain between consecutive entries (each entry's `prev_hash`);
  4. each entry's inclusion proof in the checkpoint's tree (RFC 9162 §2.1.3.2).
The same signature can be checked with OpenSSL 3:
  openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig
"""

import base64
import hashlib
import json
import os
import sys

# --- Ed25519 verification (RFC 8032 §6, the reference code) -------------------------------

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493


def _inv(x):
    return pow(x, P - 2, P)


D = -121665 * _inv(121666) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % P
    B = (a[1] + a[0]) * (b[1] + b[0]) % P
    C = 2 * a[3] * b[3] * D % P
    Dd = 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F, G * H, F * G, E * H)


def _mul(s, pt):
    acc = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * _inv(D * y * y + 1)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * _inv(5) % P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % P)


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- RFC 9162 ---------------------------------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
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


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_bytes(e):
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


def fail(message):
    print("NOT VERIFIED: " + message)
    sys.exit(1)


def main():
    root_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

    def read(name):
        with open(os.path.join(root_dir, name), "rb") as f:
            return f.read()

    pem = read("public_key.pem").decode()
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    if len(der) != 44 or der[:12] != bytes.fromhex("302a300506032b6570032100"):
        fail("public_key.pem is not an Ed25519 public key")
    public = der[12:]
    body = read("checkpoint.txt")
    signature = read("checkpoint.sig")
    if not ed25519_verify(public, body, signature):
        fail("the checkpoint's signature does not verify with public_key.pem")
    lines = body.decode().split("\n")
    if len(lines) != 5 or lines[4] != "" or not lines[3].startswith("timestamp "):
        fail("checkpoint.txt is not a checkpoint")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    bundle = json.loads(read("entries.json"))
    if bundle["tree_size"] != size:
        fail("entries.json is proven against a tree of %d entries, the checkpoint has %d" % (bundle["tree_size"], size))
    previous = None
    for e in bundle["entries"]:
        i = e["index"]
        h = leaf_hash(leaf_bytes(e))
        if h.hex() != e["leaf_hash"]:
            fail("entry %d: its fields do not hash to its leaf hash" % i)
        if previous is not None:
            if i != previous[0] + 1:
                fail("entry %d: the entries are not consecutive (after %d)" % (i, previous[0]))
            if e["prev_hash"] != previous[1]:
                fail("entry %d: its previous hash is not entry %d's hash" % (i, previous[0]))
        path = [bytes.fromhex(x) for x in e["inclusion_path"]]
        if not verify_inclusion(i, size, h, path, root):
            fail("entry %d: its inclusion proof does not lead to the checkpoint's root" % i)
        previous = (i, h.hex())
    n = len(bundle["entries"])
    first = bundle["entries"][0]["index"] if n else None
    last = bundle["entries"][-1]["index"] if n else None
    print("VERIFIED: %d entries (%s to %s) are in the log %s of %d entries, signed %s"
          % (n, first, last, origin, size, lines[3][len("timestamp "):] + " ms"))


main()
