// cityledger proof verification in the browser (docs/explorer.md).
//
// Everything a verdict rests on is computed here, from the bundle bytes and
// the validator set of the genesis the user trusts: SHA-256 (WebCrypto), the
// RFC 9162 inclusion path, the C2SP checkpoint body and BIP340 Schnorr
// signatures over secp256k1 (BigInt arithmetic below; verification only, so
// constant time does not matter: nothing secret is handled). It follows
// docs/proof-format.md step by step, like audit/src/proof_bundle.cpp and
// tests/interop/verify_proof.py.
"use strict";

const cityledger = (() => {
  // ------------------------------------------------------------ bytes

  function hexToBytes(hex, size) {
    if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not lowercase hex");
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    if (size !== undefined && out.length !== size) throw new Error(`expected ${size} bytes, got ${out.length}`);
    return out;
  }
  function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  function bytesToBigInt(bytes) {
    return bytes.length === 0 ? 0n : BigInt("0x" + bytesToHex(bytes));
  }
  function bigIntToBytes(n) {
    return hexToBytes(n.toString(16).padStart(64, "0"), 32);
  }
  // Standard base64 with padding, strictly (no whitespace, canonical).
  function base64ToBytes(text) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error("not base64");
    const binary = atob(text);
    const out = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    if (btoa(binary) !== text) throw new Error("not canonical base64");
    return out;
  }

  // ------------------------------------------------------------ SHA-256

  async function sha256(bytes) {
    if (!globalThis.crypto || !crypto.subtle) {
      throw new Error("WebCrypto is unavailable: open the explorer over https or on 127.0.0.1/localhost");
    }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  const tagHashes = new Map();
  async function taggedHash(tag, message) {
    if (!tagHashes.has(tag)) tagHashes.set(tag, await sha256(new TextEncoder().encode(tag)));
    const t = tagHashes.get(tag);
    return sha256(concat(t, t, message));
  }

  // ------------------------------------------------------------ secp256k1

  const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const G = [
    0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
    0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
    1n,
  ];
  const INFINITY = [0n, 1n, 0n];

  const mod = (a, m = P) => {
    const r = a % m;
    return r >= 0n ? r : r + m;
  };
  function powMod(base, exponent, m) {
    let result = 1n;
    base = mod(base, m);
    while (exponent > 0n) {
      if (exponent & 1n) result = (result * base) % m;
      base = (base * base) % m;
      exponent >>= 1n;
    }
    return result;
  }
  // a^(P-2) = a^-1 (Fermat); a != 0. Used once per verification.
  const invert = (a) => powMod(a, P - 2n, P);
  // Jacobian coordinates (X, Y, Z) for x = X/Z², y = Y/Z³; Z = 0 is infinity.
  function double([X, Y, Z]) {
    if (Z === 0n || Y === 0n) return INFINITY;
    const YY = (Y * Y) % P;
    const S = (4n * X * YY) % P;
    const M = (3n * X * X) % P;
    const X3 = mod(M * M - 2n * S);
    const Y3 = mod(M * (S - X3) - 8n * YY * YY);
    const Z3 = (2n * Y * Z) % P;
    return [X3, Y3, Z3];
  }
  function add(a, b) {
    if (a[2] === 0n) return b;
    if (b[2] === 0n) return a;
    const [X1, Y1, Z1] = a;
    const [X2, Y2, Z2] = b;
    const Z1Z1 = (Z1 * Z1) % P;
    const Z2Z2 = (Z2 * Z2) % P;
    const U1 = (X1 * Z2Z2) % P;
    const U2 = (X2 * Z1Z1) % P;
    const S1 = (((Y1 * Z2) % P) * Z2Z2) % P;
    const S2 = (((Y2 * Z1) % P) * Z1Z1) % P;
    if (U1 === U2) return S1 === S2 ? double(a) : INFINITY;
    const H = mod(U2 - U1);
    const R = mod(S2 - S1);
    const HH = (H * H) % P;
    const HHH = (H * HH) % P;
    const V = (U1 * HH) % P;
    const X3 = mod(R * R - HHH - 2n * V);
    const Y3 = mod(R * (V - X3) - S1 * HHH);
    const Z3 = (((Z1 * Z2) % P) * H) % P;
    return [X3, Y3, Z3];
  }
  function toAffine([X, Y, Z]) {
    const zi = invert(Z);
    const zi2 = (zi * zi) % P;
    return [(X * zi2) % P, (((Y * zi2) % P) * zi) % P];
  }
  // a·A + b·B (Shamir's trick: one pass of doublings).
  function mulAdd(a, A, b, B) {
    const AB = add(A, B);
    let R = INFINITY;
    for (let i = 255n; i >= 0n; i--) {
      R = double(R);
      const bitA = (a >> i) & 1n;
      const bitB = (b >> i) & 1n;
      if (bitA && bitB) R = add(R, AB);
      else if (bitA) R = add(R, A);
      else if (bitB) R = add(R, B);
    }
    return R;
  }
  function liftX(x) {
    if (x >= P) return null;
    const c = mod(x * x * x + 7n);
    const y = powMod(c, (P + 1n) / 4n, P);
    if ((y * y) % P !== c) return null;
    return [x, y & 1n ? P - y : y, 1n];
  }

  // BIP340 verification: true or false, never throws for bad input sizes.
  async function schnorrVerify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const point = liftX(bytesToBigInt(publicKey));
    if (point === null) return false;
    const r = bytesToBigInt(signature.subarray(0, 32));
    const s = bytesToBigInt(signature.subarray(32, 64));
    if (r >= P || s >= N) return false;
    const e = mod(
      bytesToBigInt(await taggedHash("BIP0340/challenge", concat(signature.subarray(0, 32), publicKey, message))),
      N,
    );
    const R = mulAdd(s, G, mod(N - e, N), point);
    if (R[2] === 0n) return false;
    const [x, y] = toAffine(R);
    return (y & 1n) === 0n && x === r;
  }

  // ------------------------------------------------------------ RFC 9162

  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // §2.1.3.2: the root the inclusion path leads to, or null when the path has
  // the wrong length for (index, size).
  async function rootFromInclusionProof(index, size, leaf, path) {
    let fn = BigInt(index);
    let sn = BigInt(size) - 1n;
    if (fn > sn) return null;
    let r = leaf;
    for (const p of path) {
      if (sn === 0n) return null;
      if (fn & 1n || fn === sn) {
        r = await nodeHash(p, r);
        while (!(fn & 1n) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return sn === 0n ? r : null;
  }

  // ------------------------------------------------------------ LogEntry

  // Canonical Protobuf, as docs/proof-format.md describes: ascending fields,
  // minimal varints, no defaults written, no unknown fields.
  function readVarint(bytes, at) {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (at.i >= bytes.length) throw new Error("truncated varint");
      const b = bytes[at.i++];
      if (i === 9 && b > 1) throw new Error("varint above 2^64-1");
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) {
        if (i > 0 && b === 0) throw new Error("non-minimal varint");
        return value;
      }
    }
    throw new Error("varint too long");
  }
  function readFields(bytes, allowed) {
    const at = { i: 0 };
    const fields = [];
    let last = 0;
    while (at.i < bytes.length) {
      const key = readVarint(bytes, at);
      const number = Number(key >> 3n);
      const wire = Number(key & 7n);
      if (!(number in allowed)) throw new Error(`unknown field ${number}`);
      if (allowed[number] !== wire) throw new Error(`field ${number} has wire type ${wire}`);
      const repeated = number === last && allowed.repeated === number;
      if (number < last || (number === last && !repeated)) throw new Error(`field ${number} out of order`);
      last = number;
      if (wire === 0) {
        const value = readVarint(bytes, at);
        if (value === 0n) throw new Error(`field ${number} written with its default value`);
        fields.push([number, value]);
      } else {
        const length = Number(readVarint(bytes, at));
        if (at.i + length > bytes.length) throw new Error("truncated field");
        const value = bytes.subarray(at.i, at.i + length);
        at.i += length;
        if (length === 0) throw new Error(`field ${number} written empty`);
        fields.push([number, value]);
      }
    }
    return fields;
  }
  // Strict UTF-8, as Protobuf's string fields and audit/src/wire.hpp read it: a
  // leading U+FEFF is kept (ignoreBOM), not silently dropped.
  const utf8 = (bytes) => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  const kindNames = { 1: "file", 2: "dataset-root", 3: "record-set", 4: "contract-event", 5: "contract-registration" };
  function decodeLogEntry(bytes) {
    const out = {
      content_hash: "",
      kind: "unknown",
      dataset_id: "",
      metadata: {},
      submitter: "",
      tx_hash: "",
      index_in_tx: 0,
      height: 0,
      time_unix_ms: 0,
    };
    let haveEntry = false;
    for (const [number, value] of readFields(bytes, { 1: 2, 2: 2, 3: 2, 4: 0, 5: 0, 6: 0 })) {
      if (number === 1) {
        haveEntry = true;
        let lastKey = null;
        for (const [n, v] of readFields(value, { 1: 2, 2: 0, 3: 2, 4: 2, repeated: 4 })) {
          if (n === 1) {
            if (v.length !== 32) throw new Error("content_hash is not 32 bytes");
            out.content_hash = bytesToHex(v);
          } else if (n === 2) {
            out.kind = kindNames[Number(v)] || "unknown";
          } else if (n === 3) {
            out.dataset_id = utf8(v);
          } else {
            let key = "";
            let val = "";
            for (const [mn, mv] of readFields(v, { 1: 2, 2: 2 })) {
              if (mn === 1) key = utf8(mv);
              else val = utf8(mv);
            }
            if (lastKey !== null && !(key > lastKey)) throw new Error("metadata keys not strictly ascending");
            lastKey = key;
            out.metadata[key] = val;
          }
        }
        if (!out.content_hash) throw new Error("no content_hash");
      } else if (number === 2 || number === 3) {
        if (value.length !== 32) throw new Error("submitter/tx_hash is not 32 bytes");
        out[number === 2 ? "submitter" : "tx_hash"] = bytesToHex(value);
      } else {
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("number too large for this verifier");
        out[{ 4: "index_in_tx", 5: "height", 6: "time_unix_ms" }[number]] = Number(value);
      }
    }
    if (!haveEntry) throw new Error("no entry");
    return out;
  }

  // ------------------------------------------------------------ validator-set changes

  // The set-change part of canonical GovernanceProposal bytes
  // (docs/proof-format.md, "The set-change proposal bytes";
  // audit::decode_set_change_proposal): chain_id = 1, validator_set_hash = 2
  // (32 bytes, required), effective_height = 3, memo = 4, then exactly one of
  // add_validator = 10, remove_validator = 11, rotate_validator_keys = 12, last.
  function decodeSetChangeProposal(bytes) {
    const out = { chain_id: "", validator_set_hash: null, effective_height: 0, memo: "", kind: null };
    const key32 = (v, name) => {
      if (v.length !== 32) throw new Error(`${name} must be 32 bytes`);
      return bytesToHex(v);
    };
    const fields = readFields(bytes, { 1: 2, 2: 2, 3: 0, 4: 2, 10: 2, 11: 2, 12: 2, 13: 2, 14: 2 });
    for (const [number, value] of fields) {
      if (out.kind !== null) throw new Error(`field ${number} after the action`);
      if (number === 1) out.chain_id = utf8(value);
      else if (number === 4) out.memo = utf8(value);
      else if (number === 2) out.validator_set_hash = key32(value, "validator_set_hash");
      else if (number === 3) {
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("effective_height too large for this verifier");
        out.effective_height = Number(value);
      } else if (number === 10) {
        out.kind = "add_validator";
        const sub = readFields(value, { 1: 2 });
        if (sub.length !== 1) throw new Error("add_validator has no validator");
        const entry = {};
        for (const [n, v] of readFields(sub[0][1], { 1: 2, 2: 2, 3: 2, 4: 2 })) {
          if (n === 1) entry.name = utf8(v);
          else if (n === 2) entry.pubkey = key32(v, "validator pubkey");
          else if (n === 3) entry.tls_pubkey = key32(v, "validator tls_pubkey");
          else entry.p2p = utf8(v);
        }
        if (Object.keys(entry).length !== 4) throw new Error("an added validator needs name, pubkey, tls_pubkey and p2p");
        out.added = { name: entry.name, pubkey: entry.pubkey, tls_pubkey: entry.tls_pubkey, p2p: entry.p2p };
      } else if (number === 11 || number === 12) {
        const rotate = number === 12;
        out.kind = rotate ? "rotate_validator_keys" : "remove_validator";
        for (const [n, v] of readFields(value, rotate ? { 1: 2, 2: 2, 3: 2 } : { 1: 2 })) {
          if (n === 1) out.pubkey = key32(v, "pubkey");
          else if (n === 2) out.new_pubkey = key32(v, "new_pubkey");
          else out.new_tls_pubkey = key32(v, "new_tls_pubkey");
        }
        if (out.pubkey === undefined) throw new Error(`${out.kind} has no pubkey`);
      } else {
        throw new Error(`the proposal's action (field ${number}) is not a validator-set change`);
      }
    }
    if (out.validator_set_hash === null) throw new Error("proposal has no validator_set_hash");
    if (out.kind === null) throw new Error("proposal has no validator-set change");
    return out;
  }

  // SHA-256 over the 32-byte consensus keys in index order
  // (audit::validator_set_hash, BlockHeader.validator_set_hash).
  const validatorSetHash = async (validators) => sha256(concat(...validators.map((v) => hexToBytes(v.pubkey, 32))));

  // crypto::signing_digest(purpose, chain_id, message): SHA-256 of
  // "cityledger/v1/sig" 0x00 || u8(len(purpose)) purpose || u16be(len(chain_id)) chain_id || message.
  async function signingDigest(purpose, chainId, message) {
    const p = new TextEncoder().encode(purpose);
    const c = new TextEncoder().encode(chainId);
    if (!p.length || p.length > 0xff || !c.length || c.length > 0xffff) throw new Error("bad purpose or chain id");
    return sha256(concat(new TextEncoder().encode("cityledger/v1/sig"), Uint8Array.of(0, p.length), p,
      Uint8Array.of(c.length >> 8, c.length & 0xff), c, message));
  }

  const isValidXOnlyKey = (hex) => liftX(bytesToBigInt(hexToBytes(hex, 32))) !== null;

  // audit::apply_set_change: add appends, remove erases (later indexes move
  // down), rotate replaces the key and/or pin in place. Throws the reason.
  function applySetChange(validators, change) {
    const out = validators.map((v) => ({ ...v }));
    if (change.kind === "add_validator") {
      if (!isValidXOnlyKey(change.added.pubkey)) throw new Error("the added validator's pubkey is not a valid x-only public key");
      out.push({ ...change.added });
    } else {
      const i = out.findIndex((v) => v.pubkey === change.pubkey);
      if (change.kind === "remove_validator") {
        if (i < 0) throw new Error("the validator to remove is not in the current set");
        out.splice(i, 1);
      } else {
        if (i < 0) throw new Error("the validator whose keys rotate is not in the current set");
        if (change.new_pubkey === undefined && change.new_tls_pubkey === undefined) {
          throw new Error("rotate_validator_keys changes nothing");
        }
        if (change.new_pubkey !== undefined) {
          if (!isValidXOnlyKey(change.new_pubkey)) throw new Error("new_pubkey is not a valid x-only public key");
          out[i].pubkey = change.new_pubkey;
        }
        if (change.new_tls_pubkey !== undefined) out[i].tls_pubkey = change.new_tls_pubkey;
      }
    }
    if (!out.length) throw new Error("the resulting validator set would be empty");
    for (const [field, what] of [["pubkey", "the consensus key"], ["tls_pubkey", "the TLS pin"], ["name", "the name"]]) {
      const seen = new Set();
      for (const v of out) {
        if (seen.has(v[field])) throw new Error(`the resulting set has ${what} ${JSON.stringify(v[field])} twice`);
        seen.add(v[field]);
      }
    }
    return out;
  }

  const isLowerHex = (s, chars) => typeof s === "string" && s.length === chars && /^[0-9a-f]*$/.test(s);
  const isU64 = (n) => Number.isSafeInteger(n) && n >= 0;
  const shortKey = (hex) => (typeof hex === "string" ? hex.slice(0, 16) : String(hex));

  // Follows `sets` (a bundle's validator_sets) from genesis's validators, as
  // audit/src/proof_bundle.cpp's follow_set_changes does: effective heights
  // increase strictly after 1 and reach at most `height`; each proposal is a
  // canonical set change for this chain and this height, names the hash of
  // the set before it, carries valid approvals by a quorum of distinct members
  // of that set, and produces the listed validators (when listed). Returns
  // {validators, changes: [{effective_height, kind, subject, memo, approvers,
  // quorum, before, after}]}; throws a SetChangeError with the reason.
  class SetChangeError extends Error {}
  async function followSetChanges(sets, genesis, height) {
    if (!Array.isArray(sets) || sets.length > 1024) {
      throw new SetChangeError("validator_sets must be an array of at most 1024 set changes");
    }
    let current = genesis.validators.map((v) => ({ name: v.name, pubkey: v.pubkey, tls_pubkey: v.tls_pubkey, p2p: v.p2p }));
    let previous = 1; // genesis's set is in charge from height 1
    const changes = [];
    for (let i = 0; i < sets.length; i++) {
      const change = sets[i];
      let where = `validator_sets[${i}]`;
      const fail = (message) => {
        throw new SetChangeError(`${where}: ${message}`);
      };
      if (typeof change !== "object" || change === null || Array.isArray(change)) fail("must be an object");
      for (const k of ["effective_height", "proposal", "approvals"]) if (!(k in change)) fail(`lacks "${k}"`);
      for (const k of Object.keys(change)) {
        if (!["effective_height", "proposal", "approvals", "validators"].includes(k)) fail(`has an unknown field "${k}"`);
      }
      const effective = change.effective_height;
      if (!isU64(effective) || typeof change.proposal !== "string" || !change.proposal.length ||
          !/^([0-9a-f]{2})*$/.test(change.proposal)) {
        fail("needs effective_height (a number) and proposal (lowercase hex)");
      }
      where += ` (effective at height ${effective})`;
      if (!(effective > previous)) {
        fail(`effective heights must increase strictly from genesis (height 1), after ${previous}`);
      }
      if (!(effective <= height)) fail(`takes effect after the checkpoint's height ${height}`);
      const proposal = hexToBytes(change.proposal);
      let decoded;
      try {
        decoded = decodeSetChangeProposal(proposal);
      } catch (e) {
        fail(`proposal: ${e.message}`);
      }
      if (decoded.effective_height !== effective) fail(`the proposal says effective_height ${decoded.effective_height}`);
      if (decoded.chain_id !== genesis.chain_id) fail(`the proposal is for chain '${decoded.chain_id}'`);
      const before = bytesToHex(await validatorSetHash(current));
      if (decoded.validator_set_hash !== before) {
        fail(`the proposal names set ${decoded.validator_set_hash}, but the set before it is ${before} (stale or out of order)`);
      }
      // Approvals: valid BIP340 by distinct members of the set before, a quorum of it.
      const approvals = change.approvals;
      if (!Array.isArray(approvals) || approvals.length > 1024) fail("approvals must be an array (at most 1024)");
      const digest = await signingDigest("governance", genesis.chain_id, proposal);
      const approvers = new Set();
      const names = [];
      for (const a of approvals) {
        const keys = typeof a === "object" && a !== null && !Array.isArray(a) ? Object.keys(a).sort() : [];
        if (keys.length !== 2 || keys[0] !== "signature" || keys[1] !== "validator" ||
            !isLowerHex(a.validator, 64) || !isLowerHex(a.signature, 128)) {
          fail("an approval must be {validator: 64 hex, signature: 128 hex}");
        }
        const member = current.find((v) => v.pubkey === a.validator);
        if (!member) fail(`approval by ${shortKey(a.validator)}, which is not a member of the set before the change`);
        if (approvers.has(a.validator)) fail(`two approvals by ${member.name}`);
        if (!await schnorrVerify(hexToBytes(a.validator, 32), digest, hexToBytes(a.signature, 64))) {
          fail(`the approval of ${member.name} does not verify over this proposal`);
        }
        approvers.add(a.validator);
        names.push(member.name);
      }
      const quorum = quorumOf(current.length);
      if (approvers.size < quorum) {
        fail(`${approvers.size} valid approvals, ${quorum} of the ${current.length} validators before the change are needed`);
      }
      let next;
      try {
        next = applySetChange(current, decoded);
      } catch (e) {
        fail(e.message);
      }
      if ("validators" in change) {
        const listed = change.validators;
        const fields = ["name", "p2p", "pubkey", "tls_pubkey"];
        const same = Array.isArray(listed) && listed.length === next.length && listed.every((v, k) =>
          typeof v === "object" && v !== null && !Array.isArray(v) &&
          Object.keys(v).sort().join() === fields.join() && fields.every((f) => v[f] === next[k][f]));
        if (!same) fail("the listed validators are not the set the change produces");
      }
      const subject = decoded.kind === "add_validator" ? decoded.added
        : current.find((v) => v.pubkey === decoded.pubkey);
      changes.push({
        effective_height: effective,
        kind: decoded.kind,
        subject: { name: subject.name, pubkey: subject.pubkey, new_pubkey: decoded.new_pubkey, new_tls_pubkey: decoded.new_tls_pubkey },
        memo: decoded.memo,
        approvers: names,
        quorum,
        before: current.length,
        after: next.length,
      });
      current = next;
      previous = effective;
    }
    return { validators: current, changes };
  }

  // ------------------------------------------------------------ checkpoint

  function parseCheckpointBody(body) {
    const lines = body.split("\n");
    if (lines.length !== 6 || lines[5] !== "") throw new Error("the body is not 5 newline-terminated lines");
    const [origin, size, root, height, block] = lines;
    if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error("tree size line is not a decimal number");
    const rootBytes = base64ToBytes(root);
    if (rootBytes.length !== 32) throw new Error("root is not 32 bytes");
    const h = /^height (0|[1-9][0-9]*)$/.exec(height);
    const b = /^block ([0-9a-f]{64})$/.exec(block);
    if (!h || !b) throw new Error("the height or block line is malformed");
    return { origin, tree_size: BigInt(size), root: rootBytes, height: Number(h[1]), block_hash: b[1] };
  }

  // Deep equality of JSON values, object keys in any order.
  function sameValue(a, b) {
    if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return a === b;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameValue(a[k], b[k]));
  }

  const quorumOf = (n) => n - Math.floor((n - 1) / 3);

  // ------------------------------------------------------------ bundles

  // Verifies a cityledger-proof/1 bundle against `genesis` ({chain_id,
  // validators: [{name, pubkey, tls_pubkey, p2p}]}); fileHash (hex) is the SHA-256 of the file
  // the user holds, when given. Returns {verified, reason, steps: [{step, ok,
  // detail}], chain: {...values for display}}. The first failed step is the
  // reason; steps after a fatal failure are not run.
  async function verifyBundle(bundle, genesis, fileHash) {
    const steps = [];
    const chain = {};
    const result = (verified) => ({
      verified,
      reason: verified ? "" : steps.find((s) => !s.ok).detail,
      steps,
      chain,
    });
    const step = (name, ok, detail) => {
      steps.push({ step: name, ok, detail });
      return ok;
    };
    try {
      const topKeys = ["format", "chain_id", "entry", "leaf_index", "inclusion", "checkpoint", "validator_sets"];
      const extra = Object.keys(bundle).filter((k) => !topKeys.includes(k) && k !== "record");
      const missing = topKeys.filter((k) => !(k in bundle));
      if (!step("format", bundle.format === "cityledger-proof/1" && !extra.length && !missing.length,
        bundle.format !== "cityledger-proof/1" ? `unknown format ${JSON.stringify(bundle.format)}`
          : missing.length ? `missing fields: ${missing.join(", ")}`
            : extra.length ? `unknown fields: ${extra.join(", ")}` : "cityledger-proof/1")) return result(false);
      if (!step("chain", bundle.chain_id === genesis.chain_id,
        bundle.chain_id === genesis.chain_id ? `chain ${genesis.chain_id}`
          : `the bundle is for chain ${JSON.stringify(bundle.chain_id)}, the genesis is ${genesis.chain_id}`)) {
        return result(false);
      }
      if ("record" in bundle) {
        step("record", false, "record-level proofs are not checked in the browser: use cityledger verify --record-line");
        return result(false);
      }
      // 2–3. The leaf and what it says.
      const leaf = hexToBytes(bundle.entry.leaf_data);
      const decoded = decodeLogEntry(leaf);
      const leafH = await leafHash(leaf);
      chain.leaf_hash = bytesToHex(leafH);
      chain.entry = decoded;
      const mismatched = Object.keys(decoded).filter((k) => !sameValue(decoded[k], bundle.entry[k]));
      const entryExtra = Object.keys(bundle.entry).filter((k) => !(k in decoded) && k !== "leaf_data");
      if (!step("leaf", mismatched.length === 0 && entryExtra.length === 0,
        mismatched.length ? `entry fields differ from leaf_data: ${mismatched.join(", ")}`
          : entryExtra.length ? `unknown entry fields: ${entryExtra.join(", ")}`
            : `leaf ${bundle.leaf_index}, hash ${chain.leaf_hash}`)) return result(false);

      // 4. Inclusion.
      const size = bundle.inclusion.tree_size;
      const path = bundle.inclusion.path.map((h) => hexToBytes(h, 32));
      const root = await rootFromInclusionProof(bundle.leaf_index, size, leafH, path);
      chain.root = root ? bytesToHex(root) : null;
      chain.tree_size = size;
      if (!step("inclusion", root !== null,
        root ? `${path.length} hashes lead to root ${chain.root} of ${size} leaves`
          : `the inclusion path has the wrong length for leaf ${bundle.leaf_index} of ${size}`)) {
        return result(false);
      }

      // 5. The checkpoint body.
      const body = bundle.checkpoint.body;
      let cp;
      try {
        cp = parseCheckpointBody(body);
      } catch (e) {
        step("checkpoint", false, `checkpoint body: ${e.message}`);
        return result(false);
      }
      chain.checkpoint = { height: cp.height, block_hash: cp.block_hash, tree_size: Number(cp.tree_size) };
      const cpProblem = cp.origin !== genesis.chain_id ? `checkpoint origin ${JSON.stringify(cp.origin)} is not the chain`
        : cp.tree_size !== BigInt(size) ? `checkpoint size ${cp.tree_size} differs from the proof's ${size}`
          : !equalBytes(cp.root, root) ? "the inclusion path does not lead to the checkpoint's root" : "";
      if (!step("checkpoint", !cpProblem, cpProblem || `block ${cp.height}, root matches`)) return result(false);

      // 6. The set in charge at the checkpoint's height: genesis's validators,
      // then each verified set change from its effective height on.
      let inCharge;
      try {
        inCharge = await followSetChanges(bundle.validator_sets, genesis, cp.height);
      } catch (e) {
        if (!(e instanceof SetChangeError)) throw e;
        step("validator sets", false, e.message);
        return result(false);
      }
      chain.set_changes = inCharge.changes;
      inCharge.changes.forEach((c, i) => {
        const what = { add_validator: "adds", remove_validator: "removes", rotate_validator_keys: "rotates the keys of" }[c.kind];
        const rotated = [c.subject.new_pubkey && `key → ${shortKey(c.subject.new_pubkey)}`,
          c.subject.new_tls_pubkey && `TLS pin → ${shortKey(c.subject.new_tls_pubkey)}`].filter(Boolean).join(", ");
        step(`set change ${i + 1}`, true,
          `from block ${c.effective_height}: ${what} ${c.subject.name} (${shortKey(c.subject.pubkey)}` +
          `${rotated ? `; ${rotated}` : ""}), ` +
          `approved by ${c.approvers.length} of ${c.before} (quorum ${c.quorum}: ${c.approvers.join(", ")}); ` +
          `${c.after} validators after it`);
      });
      const validators = inCharge.validators;
      step("validator sets", true, inCharge.changes.length === 0 ? "genesis's validators are in charge"
        : `${validators.length} validators in charge at block ${cp.height}: genesis's ${genesis.validators.length}, ` +
          `then ${inCharge.changes.length} approved set change${inCharge.changes.length > 1 ? "s" : ""}`);

      // 7. Endorsement: BIP340 over SHA-256(body), distinct validators of that set, a quorum.
      const digest = await sha256(new TextEncoder().encode(body));
      const members = new Map(validators.map((v) => [v.pubkey, v.name]));
      const notMember = inCharge.changes.length === 0 ? "not a validator of the genesis"
        : `not a validator in charge at block ${cp.height}`;
      const signers = new Set();
      chain.signatures = [];
      let sigProblem = "";
      for (const s of bundle.checkpoint.signatures) {
        const name = members.get(s.validator);
        let ok = false;
        let why = "";
        if (name === undefined) why = notMember;
        else if (signers.has(s.validator)) why = "a second signature by the same validator";
        else {
          ok = await schnorrVerify(hexToBytes(s.validator, 32), digest, hexToBytes(s.signature, 64));
          if (!ok) why = "invalid BIP340 signature";
        }
        chain.signatures.push({ validator: s.validator, name: name || "?", ok, why });
        if (ok) signers.add(s.validator);
        else if (!sigProblem) sigProblem = `signature by ${name || s.validator.slice(0, 16)}: ${why}`;
      }
      const quorum = quorumOf(validators.length);
      if (!sigProblem && signers.size < quorum) {
        sigProblem = `${signers.size} of ${validators.length} validators signed, ${quorum} needed`;
      }
      if (!step("signatures", !sigProblem,
        sigProblem || `${signers.size} of ${validators.length} valid (quorum ${quorum})`)) {
        return result(false);
      }

      // 8. The file.
      if (fileHash !== undefined) {
        if (!step("file", fileHash === decoded.content_hash,
          fileHash === decoded.content_hash ? `SHA-256 of the file is the anchored content hash`
            : `the file's SHA-256 ${fileHash} is not the anchored ${decoded.content_hash}`)) return result(false);
      }
      return result(true);
    } catch (e) {
      step("bundle", false, `malformed bundle: ${e.message}`);
      return result(false);
    }
  }

  return {
    hexToBytes,
    bytesToHex,
    sha256,
    schnorrVerify,
    leafHash,
    rootFromInclusionProof,
    decodeLogEntry,
    parseCheckpointBody,
    verifyBundle,
    quorumOf,
    decodeSetChangeProposal,
    validatorSetHash,
    signingDigest,
    applySetChange,
    followSetChanges,
  };
})();
