// The explorer page (docs/explorer.md): polls the node's JSON-RPC (same
// origin) and renders; verification itself is in verify.js. Every value from
// the node is put into the page as text (textContent), never as HTML.
"use strict";

// Errors and Content-Security-Policy violations are kept for the browser test
// (tests/browser/explorer_test.py), which fails when any occurred.
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(`unhandled: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) =>
  window.__errors.push(`CSP blocked ${e.blockedURI || "inline"} (${e.violatedDirective})`));

(() => {
  const POLL_MS = 2000;
  const SLOW_POLL_MS = 10000;
  const BLOCKS_SHOWN = 10;
  const CHECKPOINTS_SHOWN = 5;

  const $ = (id) => document.getElementById(id);
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") node.className = v;
      else if (k === "onclick") node.addEventListener("click", v);
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }
  const short = (hex) => (hex && hex.length > 20 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex || "");
  const utc = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "") : "");

  // ------------------------------------------------------------ JSON-RPC

  let nextId = 1;
  class RpcError extends Error {
    constructor(error) {
      super(error.message);
      this.code = error.code;
      this.data = error.data;
    }
  }
  async function post(body) {
    const response = await fetch("/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
  async function rpc(method, params) {
    const reply = await post({ jsonrpc: "2.0", id: nextId++, method, params: params || {} });
    if (reply.error) throw new RpcError(reply.error);
    return reply.result;
  }
  // One HTTP request for many calls; each answer is {result} or {error}, in call order.
  async function batch(calls) {
    if (calls.length === 0) return [];
    const first = nextId;
    nextId += calls.length;
    const replies = await post(calls.map(([method, params], i) => ({
      jsonrpc: "2.0", id: first + i, method, params: params || {},
    })));
    const byId = new Map(replies.map((r) => [r.id, r]));
    return calls.map((_, i) => byId.get(first + i) || { error: { message: "no answer" } });
  }

  // ------------------------------------------------------------ state

  const state = {
    status: null,
    genesis: null, // the node's, from get_genesis
    trusted: null, // the genesis verification uses: the node's or one the user chose
    trustedLabel: "",
    blocks: new Map(), // height -> block
    checkpoints: new Map(), // height -> checkpoint
    checkedCheckpoint: new Map(), // height -> "verified"/"failed: ..."
    checkpointQuorum: new Map(), // height -> the quorum of the set in charge (checked checkpoints)
    newestCheckpoint: null,
  };

  // ------------------------------------------------------------ summary, blocks, checkpoints

  function renderStatus(s) {
    $("chain-id").textContent = s.chain_id;
    $("node-name").textContent = s.node;
    $("height").textContent = s.height;
    $("height").dataset.height = String(s.height);
    $("tree-size").textContent = s.tree_size;
    $("round").textContent = s.round;
    $("peers").textContent = s.peers;
    $("mempool").textContent = s.mempool_txs;
    const c = $("connection");
    c.textContent = `${s.syncing ? "syncing" : "live"} · updated ${new Date().toLocaleTimeString()}`;
    c.className = "connection";
  }

  // A block's proposer: get_block names it from the set in charge of the
  // block's height (proposer_index is an index in that set, not in genesis's).
  function proposerName(b) {
    return b.proposer ? b.proposer.name : `#${b.proposer_index}`;
  }

  function renderBlocks() {
    const body = $("blocks").querySelector("tbody");
    const heights = [...state.blocks.keys()].sort((a, b) => b - a).slice(0, BLOCKS_SHOWN);
    body.replaceChildren(...heights.map((h) => {
      const b = state.blocks.get(h);
      return el("tr", { "data-height": String(h) },
        el("td", {}, el("a", { onclick: () => search(String(h)) }, h)),
        el("td", {}, utc(b.time_unix_ms)),
        el("td", {}, b.tx_count),
        el("td", {}, b.log_size),
        el("td", {}, proposerName(b)),
        el("td", { class: "hash", title: b.hash }, short(b.hash)));
    }));
  }

  function renderCheckpoints() {
    const body = $("checkpoints").querySelector("tbody");
    const heights = [...state.checkpoints.keys()].sort((a, b) => b - a).slice(0, CHECKPOINTS_SHOWN);
    body.replaceChildren(...heights.map((h) => {
      const c = state.checkpoints.get(h);
      // Unchecked rows: the quorum of the set in charge now (status).
      const quorum = state.checkpointQuorum.get(h) ||
        (state.status ? cityledger.quorumOf(state.status.validators.length) : "?");
      const checked = state.checkedCheckpoint.get(h) || "";
      return el("tr", {},
        el("td", {}, h),
        el("td", {}, c.tree_size),
        el("td", { class: "hash", title: c.root }, short(c.root)),
        el("td", {}, `${c.signatures.length} (quorum ${quorum})`),
        el("td", { class: checked === "verified" ? "ok" : checked ? "bad" : "" },
          checked || (h === heights[0] ? "…" : "—")));
    }));
  }

  // The newest checkpoint's signatures are checked here, like a proof's:
  // against the set in charge at its height, which the node's set changes
  // (get_validator_sets) give once followed from the trusted genesis.
  async function checkCheckpoint(h, c) {
    const trusted = state.trusted;
    if (!trusted || state.checkedCheckpoint.has(h)) return;
    // A verdict reached against a trust root the user has since replaced is dropped.
    const record = (verdict, quorum) => {
      if (state.trusted !== trusted) return;
      if (quorum !== undefined) state.checkpointQuorum.set(h, quorum);
      state.checkedCheckpoint.set(h, verdict);
    };
    let validators;
    try {
      const sets = await rpc("get_validator_sets", { height: h });
      validators = (await cityledger.followSetChanges(sets.validator_sets, trusted, h)).validators;
    } catch (e) {
      record(`failed: ${e.message}`);
      return;
    }
    const digest = await cityledger.sha256(new TextEncoder().encode(c.body));
    const members = new Set(validators.map((v) => v.pubkey));
    let valid = 0;
    for (const s of c.signatures) {
      if (members.has(s.validator) && await cityledger.schnorrVerify(
        cityledger.hexToBytes(s.validator), digest, cityledger.hexToBytes(s.signature))) valid++;
    }
    const quorum = cityledger.quorumOf(validators.length);
    record(valid >= quorum ? "verified" : `failed: ${valid} valid, ${quorum} needed`, quorum);
  }

  async function refresh() {
    const [status, latest] = await batch([["status"], ["get_checkpoint"]]);
    if (status.error) throw new Error(status.error.message);
    state.status = status.result;
    renderStatus(state.status);
    const top = state.status.height;
    const wanted = [];
    for (let h = top; h > Math.max(0, top - BLOCKS_SHOWN); h--) if (!state.blocks.has(h)) wanted.push(h);
    const cpWanted = [];
    if (latest.result) {
      const newest = latest.result.height;
      for (let h = newest; h > Math.max(0, newest - CHECKPOINTS_SHOWN); h--) {
        if (!state.checkpoints.has(h)) cpWanted.push(h);
      }
    }
    const answers = await batch([
      ...wanted.map((h) => ["get_block", { height: h }]),
      ...cpWanted.map((h) => ["get_checkpoint", { height: h }]),
    ]);
    wanted.forEach((h, i) => answers[i].result && state.blocks.set(h, answers[i].result));
    cpWanted.forEach((h, i) => {
      const a = answers[wanted.length + i];
      if (a.result) state.checkpoints.set(h, a.result);
    });
    for (const h of [...state.blocks.keys()]) if (h <= top - 3 * BLOCKS_SHOWN) state.blocks.delete(h);
    const cpHeights = [...state.checkpoints.keys()].sort((a, b) => b - a);
    for (const h of cpHeights.slice(3 * CHECKPOINTS_SHOWN)) state.checkpoints.delete(h);
    if (cpHeights.length) {
      state.newestCheckpoint = state.checkpoints.get(cpHeights[0]);
      await checkCheckpoint(cpHeights[0], state.newestCheckpoint);
    }
    renderBlocks();
    renderCheckpoints();
    if (state.activity) renderValidators(state.activity);
  }

  // ------------------------------------------------------------ validators, chart, evidence

  function renderValidators(activity) {
    state.activity = activity;
    $("window").textContent = activity.checkpoints;
    const newest = state.newestCheckpoint;
    const signedNewest = new Set(newest ? newest.signatures.map((s) => s.validator) : []);
    $("validators").querySelector("tbody").replaceChildren(...activity.validators.map((v) => el("tr", {},
      el("td", {}, v.index),
      el("td", {}, v.name + (v.self ? " (this node)" : "")),
      el("td", { class: "hash", title: v.pubkey }, short(v.pubkey)),
      el("td", { class: v.connected ? "ok" : "bad" }, v.self ? "self" : v.connected ? "yes" : "no"),
      el("td", {}, v.last_precommit_height
        ? `block ${v.last_precommit_height} · ${utc(v.last_precommit_time_unix_ms)}` : "none recently"),
      el("td", {}, v.last_checkpoint_height ? `block ${v.last_checkpoint_height}` : "none recently"),
      activity.checkpoints === 0
        ? el("td", {}, "no final checkpoints here")
        : el("td", { class: v.liveness >= 0.9 ? "ok" : v.liveness < 0.5 ? "bad" : "" },
          `${Math.round(v.liveness * 100)}% (${v.checkpoints_signed}/${activity.checkpoints})`),
      el("td", {}, newest ? (signedNewest.has(v.pubkey) ? `yes (block ${newest.height})` : "no") : "…"))));
  }

  function renderChart(rate) {
    const canvas = $("chart");
    const ctx = canvas.getContext("2d");
    const W = canvas.width;
    const H = canvas.height;
    const pad = { left: 40, right: 10, top: 10, bottom: 24 };
    ctx.clearRect(0, 0, W, H);
    const minutes = rate.minutes;
    const max = Math.max(1, ...minutes.map((m) => m.anchors));
    const plotW = W - pad.left - pad.right;
    const plotH = H - pad.top - pad.bottom;
    const barW = plotW / minutes.length;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5b6475";
    ctx.strokeStyle = "#d9dee7";
    for (const f of [0, 0.5, 1]) {
      const y = pad.top + plotH * (1 - f);
      ctx.beginPath();
      ctx.moveTo(pad.left, y);
      ctx.lineTo(W - pad.right, y);
      ctx.stroke();
      ctx.fillText(String(Math.round(max * f)), 4, y + 4);
    }
    ctx.fillStyle = "#1a5fb4";
    minutes.forEach((m, i) => {
      const h = (m.anchors / max) * plotH;
      ctx.fillRect(pad.left + i * barW + 1, pad.top + plotH - h, Math.max(1, barW - 2), h);
    });
    ctx.fillStyle = "#5b6475";
    for (const i of [0, 15, 30, 45, 59]) {
      const label = new Date(minutes[i].minute_start_unix_ms).toISOString().slice(11, 16);
      ctx.textAlign = i === 59 ? "right" : "center";
      ctx.fillText(label, i === 59 ? W - pad.right : pad.left + (i + 0.5) * barW, H - 6);
    }
    ctx.textAlign = "left";
    const total = minutes.reduce((n, m) => n + m.anchors, 0);
    const blocks = minutes.reduce((n, m) => n + m.blocks, 0);
    $("chart-total").textContent = `${total} anchors in ${blocks} blocks over the last hour (UTC minutes, by block time)`;
    canvas.dataset.total = String(total);
  }

  function renderEvidence(result) {
    const box = $("evidence");
    if (result.count === 0) {
      box.replaceChildren(el("p", { class: "ok" }, "No equivocation seen by this node."));
      return;
    }
    box.replaceChildren(
      el("p", { class: "bad" }, `${result.count} piece(s) of evidence`),
      el("table", {}, el("thead", {}, el("tr", {}, ...["validator", "height", "round", "vote", "first block", "second block"]
        .map((t) => el("th", {}, t)))),
      el("tbody", {}, ...result.evidence.map((e) => el("tr", {},
        el("td", {}, e.name || `#${e.validator_index}`), el("td", {}, e.height), el("td", {}, e.round),
        el("td", {}, e.type), el("td", { class: "hash" }, short(e.first.block_id) || "nil"),
        el("td", { class: "hash" }, short(e.second.block_id) || "nil"))))));
  }

  async function refreshSlow() {
    const [activity, rate, evidence] = await batch([["get_validator_activity"], ["get_anchor_rate"], ["get_evidence"]]);
    if (activity.result) renderValidators(activity.result);
    if (rate.result) renderChart(rate.result);
    if (evidence.result) renderEvidence(evidence.result);
  }

  // ------------------------------------------------------------ search

  function kv(rows) {
    return el("table", {}, el("tbody", {}, ...rows.map(([k, v]) => el("tr", {},
      el("th", {}, k), el("td", { class: typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? "hash" : "" },
        v instanceof Node ? v : String(v))))));
  }
  function link(text, query) {
    return el("a", { onclick: () => search(query) }, text);
  }

  async function search(query) {
    query = query.trim();
    $("search").value = query;
    const out = $("search-result");
    const show = (kind, ...nodes) => {
      out.dataset.kind = kind;
      out.replaceChildren(...nodes);
    };
    try {
      if (/^[0-9]+$/.test(query)) {
        const b = await rpc("get_block", { height: Number(query) });
        return show("block", el("h3", {}, `Block ${b.height}`), kv([
          ["hash", b.hash], ["time (UTC)", utc(b.time_unix_ms)], ["proposer", proposerName(b)],
          ["previous block", b.previous_block_hash], ["log size", b.log_size], ["log root", b.log_root],
          ["transactions", b.txs.length ? el("span", {}, ...b.txs.flatMap((t) => [link(short(t), t), " "])) : "none"],
        ]));
      }
      const hash = query.toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hash)) {
        return show("none", el("p", { class: "bad" }, "Give a block height or 64 hexadecimal characters."));
      }
      try {
        const tx = await rpc("get_tx", { hash });
        const body = tx.body || {};
        const rows = [["hash", tx.hash], ["block", link(String(tx.height), String(tx.height))],
          ["position in block", tx.position], ["action", body.action || "?"], ["signer", body.signer || ""],
          ["nonce", body.nonce ?? ""]];
        if (tx.entries !== undefined) rows.push(["log leaves", `${tx.first_leaf_index} … ${tx.first_leaf_index + tx.entries - 1}`]);
        const entries = (body.entries || []).map((e) => el("li", {}, link(short(e.content_hash), e.content_hash),
          ` ${e.kind} ${e.dataset_id} ${e.metadata && e.metadata.name ? e.metadata.name : ""}`));
        return show("tx", el("h3", {}, "Transaction"), kv(rows), entries.length ? el("ol", {}, ...entries) : "");
      } catch (e) {
        if (!(e instanceof RpcError) || e.code !== -32001) throw e;
      }
      try {
        const r = await rpc("get_entry", { content_hash: hash });
        return show("entry", el("h3", {}, `Content hash anchored ${r.entries.length} time(s)`),
          ...r.entries.map((e) => kv([["leaf", e.leaf_index], ["block", link(String(e.height), String(e.height))],
            ["time (UTC)", utc(e.time_unix_ms)], ["kind", e.kind], ["dataset", e.dataset_id],
            ["metadata", JSON.stringify(e.metadata)], ["transaction", link(short(e.tx_hash), e.tx_hash)],
            ["submitter", e.submitter]])),
          el("button", { onclick: () => verifyHash(hash) }, "verify its proof here"));
      } catch (e) {
        if (!(e instanceof RpcError) || e.code !== -32001) throw e;
      }
      return show("none", el("p", { class: "bad" }, `Nothing found: ${hash} is no transaction and no anchored content hash.`));
    } catch (e) {
      return show("error", el("p", { class: "bad" }, `Search failed: ${e.message}`));
    }
  }

  // ------------------------------------------------------------ verification

  function setVerdict(verdict, text) {
    const v = $("verify-verdict");
    v.dataset.verdict = verdict;
    v.textContent = text;
  }

  function renderChain(outcome, fileHash) {
    const c = outcome.chain;
    const item = (ok, label, value) => el("li", { class: ok ? "ok" : "bad" },
      `${ok ? "✓" : "✗"} ${label} `, el("span", { class: "value" }, value || ""));
    const items = [];
    if (fileHash) items.push(el("li", {}, "file SHA-256 ", el("span", { class: "value" }, fileHash)));
    for (const s of outcome.steps) {
      let value = s.detail;
      if (s.step === "leaf" && c.entry) value = `${s.detail} · ${c.entry.kind} "${c.entry.dataset_id}" block ${c.entry.height} (${utc(c.entry.time_unix_ms)})`;
      items.push(item(s.ok, s.step, value));
      if (s.step === "signatures" && c.signatures) {
        for (const sig of c.signatures) {
          items.push(el("li", { class: sig.ok ? "ok" : "bad" }, `  ${sig.ok ? "✓" : "✗"} ${sig.name} `,
            el("span", { class: "value" }, short(sig.validator) + (sig.why ? ` — ${sig.why}` : ""))));
        }
      }
    }
    $("verify-chain").replaceChildren(...items);
  }

  async function readJsonFile(file) {
    return JSON.parse(await file.text());
  }

  // Verifies `bundle` (or fetches the bundle of contentHash) and shows the verdict.
  async function runVerification(contentHash, fileHash, bundleFile) {
    $("verify-chain").replaceChildren();
    let bundle;
    try {
      if (bundleFile) {
        bundle = await readJsonFile(bundleFile);
      } else {
        setVerdict("working", "fetching the proof bundle…");
        bundle = await rpc("get_inclusion_proof", { content_hash: contentHash });
      }
    } catch (e) {
      const reason = e instanceof RpcError && e.code === -32001
        ? `this file's SHA-256 ${contentHash} is not anchored on this chain`
        : `no proof bundle: ${e.message}`;
      setVerdict("failed", `NOT VERIFIED: ${reason}`);
      return { verified: false, reason };
    }
    setVerdict("working", "verifying in the browser…");
    const outcome = await cityledger.verifyBundle(bundle, state.trusted, fileHash);
    renderChain(outcome, fileHash);
    setVerdict(outcome.verified ? "verified" : "failed", outcome.verified
      ? `VERIFIED: leaf ${bundle.leaf_index} of the log, block ${outcome.chain.entry.height}, endorsed by a quorum of the ${state.trustedLabel} validators` +
        (outcome.chain.set_changes.length
          ? ` as changed by ${outcome.chain.set_changes.length} approved set change${outcome.chain.set_changes.length > 1 ? "s" : ""}`
          : "")
      : `NOT VERIFIED: ${outcome.reason}`);
    return outcome;
  }

  async function verifyChosenFile() {
    const file = $("verify-file").files[0];
    if (!file) return;
    if (!state.trusted) return setVerdict("failed", "NOT VERIFIED: no genesis to trust yet");
    setVerdict("working", `hashing ${file.name} (${file.size} bytes)…`);
    let fileHash;
    try {
      fileHash = cityledger.bytesToHex(await cityledger.sha256(await file.arrayBuffer()));
    } catch (e) {
      return setVerdict("failed", `NOT VERIFIED: cannot hash the file: ${e.message}`);
    }
    await runVerification(fileHash, fileHash, $("verify-bundle").files[0]);
  }

  async function verifyHash(contentHash) {
    $("verify-section").scrollIntoView();
    await runVerification(contentHash, undefined, undefined);
  }

  async function chooseGenesis() {
    const file = $("verify-genesis").files[0];
    if (!file) {
      state.trusted = state.genesis;
      state.trustedLabel = "node's genesis";
    } else {
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const g = JSON.parse(new TextDecoder().decode(bytes));
        if (typeof g.chain_id !== "string" || !Array.isArray(g.validators) || !g.validators.length) {
          throw new Error("no chain_id or validators");
        }
        const hash = cityledger.bytesToHex(await cityledger.sha256(bytes));
        state.trusted = { chain_id: g.chain_id, validators: g.validators, hash };
        state.trustedLabel = `${file.name}'s`;
      } catch (e) {
        $("trust-root").textContent = `That genesis.json cannot be used: ${e.message}`;
        return;
      }
    }
    const t = state.trusted;
    const same = state.genesis && t.hash === state.genesis.hash;
    $("trust-root").textContent = `Trust root: ${file ? file.name : "the genesis served by this node"} ` +
      `(chain ${t.chain_id}, ${t.validators.length} validators, SHA-256 ${short(t.hash)})` +
      (file ? (same ? " — identical to the node's." : " — DIFFERENT from the node's genesis.") :
        " — to trust no node, choose your own copy of genesis.json.");
    state.checkedCheckpoint.clear();
    state.checkpointQuorum.clear();
    await verifyChosenFile();
  }

  // ------------------------------------------------------------ start

  async function loop(fn, interval) {
    for (;;) {
      try {
        await fn();
      } catch (e) {
        const c = $("connection");
        c.textContent = `cannot reach the node: ${e.message}`;
        c.className = "connection down";
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  }

  async function start() {
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      search($("search").value);
    });
    $("verify-file").addEventListener("change", verifyChosenFile);
    $("verify-bundle").addEventListener("change", verifyChosenFile);
    $("verify-genesis").addEventListener("change", chooseGenesis);
    for (;;) {
      try {
        state.genesis = await rpc("get_genesis");
        break;
      } catch (e) {
        $("connection").textContent = `cannot reach the node: ${e.message}`;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    await chooseGenesis();
    loop(refresh, POLL_MS);
    loop(refreshSlow, SLOW_POLL_MS);
  }

  // For tests and the curious: the page's own functions.
  window.explorer = { rpc, search, verifyHash, runVerification, state };
  start();
})();
