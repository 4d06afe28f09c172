#!/usr/bin/env python3
"""An independent verifier of cityledger proof bundles, written from
docs/proof-format.md alone: Python's standard library, no cityledger code.
It follows validator-set changes (validator_sets) from genesis.

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


# ---- validator-set changes (docs/proof-format.md, "Validator-set changes")
def read_varint(b, i):
    value, shift = 0, 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("truncated or over-long varint")
        c = b[i]
        i += 1
        if shift == 63 and c > 1:
            raise ValueError("varint over 64 bits")
        value |= (c & 0x7F) << shift
        if not c & 0x80:
            if c == 0 and shift > 0:
                raise ValueError("non-minimal varint")
            return value, i
        shift += 7


def read_fields(b):
    """[(field, wire, value)] of canonical Protobuf bytes: ascending fields,
    each once, minimal varints, no varint with its default value."""
    out, i, last = [], 0, 0
    while i < len(b):
        tag, i = read_varint(b, i)
        field, wire = tag >> 3, tag & 7
        if field <= last:
            raise ValueError("fields out of canonical order")
        last = field
        if wire == 0:
            value, i = read_varint(b, i)
            if value == 0:
                raise ValueError("default value written")
        elif wire == 2:
            n, i = read_varint(b, i)
            if n > len(b) - i:
                raise ValueError("truncated field")
            value, i = b[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.append((field, wire, value))
    return out


def field_str(wire, value):
    if wire != 2 or not value:
        raise ValueError("a string field must be length-delimited and non-empty")
    return value.decode("utf-8")  # strict: no overlong forms, no surrogates


def field_32(wire, value):
    if wire != 2 or len(value) != 32:
        raise ValueError("a key, pin or hash must be 32 bytes")
    return value


def decode_set_change(b):
    """The set-change part of canonical GovernanceProposal bytes."""
    p = {"chain_id": "", "effective_height": 0, "set_hash": None, "action": None}
    for field, wire, value in read_fields(b):
        if p["action"] is not None:
            raise ValueError("field after the action")
        if field == 1:
            p["chain_id"] = field_str(wire, value)
        elif field == 2:
            p["set_hash"] = field_32(wire, value)
        elif field == 3:
            if wire != 0:
                raise ValueError("effective_height must be a varint")
            p["effective_height"] = value
        elif field == 4:
            field_str(wire, value)
        elif field in (10, 11, 12):
            if wire != 2:
                raise ValueError("the action must be length-delimited")
            sub = {f: (w, v) for f, w, v in read_fields(value)}
            if field == 10:
                if set(sub) != {1} or sub[1][0] != 2:
                    raise ValueError("add_validator needs exactly its validator")
                entry = {f: (w, v) for f, w, v in read_fields(sub[1][1])}
                if set(entry) != {1, 2, 3, 4}:
                    raise ValueError("an added validator needs name, pubkey, tls_pubkey and p2p")
                p["action"] = ("add", {"name": field_str(*entry[1]), "pubkey": field_32(*entry[2]).hex(),
                                       "tls_pubkey": field_32(*entry[3]).hex(), "p2p": field_str(*entry[4])})
            elif field == 11:
                if set(sub) != {1}:
                    raise ValueError("remove_validator needs exactly its pubkey")
                p["action"] = ("remove", field_32(*sub[1]).hex())
            else:
                if 1 not in sub or not set(sub) <= {1, 2, 3}:
                    raise ValueError("rotate_validator_keys needs its pubkey and nothing unknown")
                p["action"] = ("rotate", field_32(*sub[1]).hex(),
                               field_32(*sub[2]).hex() if 2 in sub else None,
                               field_32(*sub[3]).hex() if 3 in sub else None)
        elif field in (13, 14):
            raise ValueError("the proposal's action is not a validator-set change")
        else:
            raise ValueError("unknown field %d in the proposal" % field)
    if p["set_hash"] is None or p["action"] is None:
        raise ValueError("a set-change proposal needs validator_set_hash and an action")
    return p


def set_hash(validators):
    return hashlib.sha256(b"".join(unhex(v["pubkey"], 32) for v in validators)).digest()


def governance_digest(chain_id, proposal):
    chain = chain_id.encode()
    return hashlib.sha256(b"cityledger/v1/sig\x00" + bytes([len(b"governance")]) + b"governance" +
                          len(chain).to_bytes(2, "big") + chain + proposal).digest()


def apply_change(validators, action):
    out = [dict(v) for v in validators]
    keys = [v["pubkey"] for v in out]
    if action[0] == "add":
        if lift_x(int(action[1]["pubkey"], 16)) is None:
            raise ValueError("the added validator's key is not a valid x-only key")
        out.append(dict(action[1]))
    elif action[1] not in keys:
        raise ValueError("the validator to remove or rotate is not in the set")
    elif action[0] == "remove":
        del out[keys.index(action[1])]
    else:
        member = out[keys.index(action[1])]
        if action[2] is None and action[3] is None:
            raise ValueError("rotate_validator_keys changes nothing")
        if action[2] is not None:
            if lift_x(int(action[2], 16)) is None:
                raise ValueError("new_pubkey is not a valid x-only key")
            member["pubkey"] = action[2]
        if action[3] is not None:
            member["tls_pubkey"] = action[3]
    for name in ("pubkey", "tls_pubkey", "name"):
        if len({v[name] for v in out}) != len(out):
            raise ValueError("the resulting set has a %s twice" % name)
    if not out:
        raise ValueError("the resulting set would be empty")
    return out


def quorum_of(n):
    return n - (n - 1) // 3


def set_in_charge(genesis, sets, height):
    """Follows the set changes from genesis; returns (validators, problems)."""
    fields = ("name", "pubkey", "tls_pubkey", "p2p")
    current = [{k: v[k] for k in fields} for v in genesis["validators"]]
    previous = 1
    if not isinstance(sets, list):
        return None, ["validator_sets must be a list"]
    for i, change in enumerate(sets):
        where = "validator_sets[%d]" % i
        if not set(change) >= {"effective_height", "proposal", "approvals"} or \
                not set(change) <= {"effective_height", "proposal", "approvals", "validators"}:
            return None, [where + ": unknown or missing fields"]
        effective = change["effective_height"]
        if not isinstance(effective, int) or effective <= previous or effective > height:
            return None, [where + ": effective heights must increase from 1 and not pass the checkpoint's"]
        proposal = unhex(change["proposal"])
        try:
            p = decode_set_change(proposal)
        except (ValueError, UnicodeDecodeError) as e:
            return None, [where + ": proposal: %s" % e]
        if p["effective_height"] != effective or p["chain_id"] != genesis["chain_id"]:
            return None, [where + ": the proposal's effective height or chain differs"]
        if p["set_hash"] != set_hash(current):
            return None, [where + ": the proposal names another set than the one before it (stale or out of order)"]
        digest = governance_digest(genesis["chain_id"], proposal)
        members = {v["pubkey"] for v in current}
        approvers = set()
        for a in change["approvals"]:
            if set(a) != {"validator", "signature"} or a["validator"] not in members or a["validator"] in approvers:
                return None, [where + ": an approval by a non-member, a duplicate or malformed"]
            if not bip340_verify(unhex(a["validator"], 32), digest, unhex(a["signature"], 64)):
                return None, [where + ": an approval does not verify over the proposal"]
            approvers.add(a["validator"])
        if len(approvers) < quorum_of(len(current)):
            return None, [where + ": %d approvals, %d needed" % (len(approvers), quorum_of(len(current)))]
        try:
            current = apply_change(current, p["action"])
        except ValueError as e:
            return None, [where + ": %s" % e]
        if "validators" in change and change["validators"] != current:
            return None, [where + ": the listed validators are not the set the change produces"]
        previous = effective
    return current, []


def verify(genesis, bundle, file_bytes):
    problems = []
    if bundle.get("format") != "cityledger-proof/1":
        return ["unknown format"]
    if bundle.get("chain_id") != genesis["chain_id"]:
        return ["bundle is for another chain"]
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
    height = int(height_line[len("height "):]) if height_line.startswith("height ") else 0
    in_charge, set_problems = set_in_charge(genesis, bundle["validator_sets"], height)
    if set_problems:
        return problems + set_problems
    validators = {v["pubkey"] for v in in_charge}
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
