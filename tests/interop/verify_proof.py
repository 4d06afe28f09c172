#!/usr/bin/env python3
"""An independent verifier of cityledger proof bundles, written from
docs/proof-format.md alone: Python's standard library, no cityledger code.

    verify_proof.py GENESIS BUNDLE [FILE]

Exit 0 when the bundle verifies (and FILE, if given, is the anchored file),
1 when it does not, 2 on usage errors.
"""
import base64
import hashlib
import json
import sys

# ---- BIP340 verification (secp256k1), from the BIP's specification.
P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def point_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and a[1] != b[1]:
        return None
    if a == b:
        lam = (3 * a[0] * a[0] * pow(2 * a[1], P - 2, P)) % P
    else:
        lam = ((b[1] - a[1]) * pow(b[0] - a[0], P - 2, P)) % P
    x = (lam * lam - a[0] - b[0]) % P
    return (x, (lam * (a[0] - x) - a[1]) % P)


def point_mul(p, n):
    r = None
    for i in range(256):
        if (n >> i) & 1:
            r = point_add(r, p)
        p = point_add(p, p)
    return r


def tagged_hash(tag, msg):
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + msg).digest()


def lift_x(x):
    if x >= P:
        return None
    y_sq = (pow(x, 3, P) + 7) % P
    y = pow(y_sq, (P + 1) // 4, P)
    if pow(y, 2, P) != y_sq:
        return None
    return (x, y if y % 2 == 0 else P - y)


def bip340_verify(pubkey, msg, sig):
    if len(pubkey) != 32 or len(msg) != 32 or len(sig) != 64:
        return False
    pk = lift_x(int.from_bytes(pubkey, "big"))
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if pk is None or r >= P or s >= N:
        return False
    e = int.from_bytes(tagged_hash("BIP0340/challenge", sig[:32] + pubkey + msg), "big") % N
    R = point_add(point_mul(G, s), point_mul(pk, N - e))
    return R is not None and R[1] % 2 == 0 and R[0] == r


# ---- RFC 9162
def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, path):
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# ---- the leaf: canonical LogEntry bytes; the content hash sits at a fixed place
def content_hash_of_leaf(leaf):
    if len(leaf) < 2 or leaf[0] != 0x0A:
        return None
    i = 1
    while i < len(leaf) and leaf[i] & 0x80:
        i += 1
    i += 1
    if leaf[i:i + 2] != b"\x0a\x20" or len(leaf) < i + 34:
        return None
    return leaf[i + 2:i + 34]


def unhex(s, size=None):
    if not isinstance(s, str) or s != s.lower():
        raise ValueError("not lowercase hex")
    b = bytes.fromhex(s)
    if size is not None and len(b) != size:
        raise ValueError("wrong size")
    return b


def verify(genesis, bundle, file_bytes):
    problems = []
    if bundle.get("format") != "cityledger-proof/1":
        return ["unknown format"]
    if bundle.get("chain_id") != genesis["chain_id"]:
        return ["bundle is for another chain"]
    if bundle.get("validator_sets") != []:
        return ["validator-set changes are not handled by this verifier"]
    leaf = unhex(bundle["entry"]["leaf_data"])
    content = content_hash_of_leaf(leaf)
    if content is None or unhex(bundle["entry"]["content_hash"], 32) != content:
        problems.append("entry.content_hash does not match leaf_data")
    index = bundle["leaf_index"]
    size = bundle["inclusion"]["tree_size"]
    path = [unhex(p, 32) for p in bundle["inclusion"]["path"]]
    root = root_from_inclusion(index, size, leaf_hash(leaf), path)
    body = bundle["checkpoint"]["body"]
    lines = body.split("\n")
    if len(lines) != 6 or lines[5] != "":
        return problems + ["checkpoint body is not 5 newline-terminated lines"]
    origin, size_line, root_b64, height_line, block_line = lines[:5]
    if origin != genesis["chain_id"]:
        problems.append("checkpoint origin is another chain")
    if size_line != str(size):
        problems.append("checkpoint size differs from the proof's tree size")
    if root is None or base64.b64decode(root_b64, validate=True) != root:
        problems.append("inclusion path does not lead to the checkpoint root")
    if not height_line.startswith("height ") or not block_line.startswith("block "):
        problems.append("checkpoint extension lines are missing")
    validators = {v["pubkey"] for v in genesis["validators"]}
    digest = hashlib.sha256(body.encode()).digest()
    signers = set()
    for s in bundle["checkpoint"]["signatures"]:
        key = s["validator"]
        if key not in validators or key in signers:
            problems.append("signature by a non-validator or a duplicate")
            continue
        if not bip340_verify(unhex(key, 32), digest, unhex(s["signature"], 64)):
            problems.append("invalid signature by " + key)
            continue
        signers.add(key)
    n = len(validators)
    quorum = n - (n - 1) // 3
    if len(signers) < quorum:
        problems.append("%d of %d validators signed, %d needed" % (len(signers), n, quorum))
    record = bundle.get("record")
    if record is not None:
        # Record-level proof: the record's RFC 9162 inclusion in the record-set
        # root the entry anchors (its content hash).
        data = unhex(record["leaf_data"])
        rpath = [unhex(p, 32) for p in record["path"]]
        rroot = root_from_inclusion(record["index"], record["size"], leaf_hash(data), rpath)
        if rroot is None or rroot != content:
            problems.append("the record's path does not lead to the entry's record-set root")
        if file_bytes is not None:
            problems.append("a record bundle proves one line: check the line, not a FILE, with this verifier")
    elif file_bytes is not None and hashlib.sha256(file_bytes).digest() != content:
        problems.append("the file is not the anchored one")
    return problems


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        genesis = json.load(f)
    with open(argv[2]) as f:
        bundle = json.load(f)
    file_bytes = open(argv[3], "rb").read() if len(argv) == 4 else None
    try:
        problems = verify(genesis, bundle, file_bytes)
    except (KeyError, TypeError, ValueError) as e:
        problems = ["malformed bundle: %r" % e]
    if problems:
        print("NOT VERIFIED: " + "; ".join(problems))
        return 1
    print("VERIFIED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
