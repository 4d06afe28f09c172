#!/usr/bin/env python3
"""The explorer (GET /explorer) end to end in headless Chromium.

    explorer_test.py --bin PATH/cityledgerd --cli PATH/cityledger --base-port P
                     --vectors bip340-test-vectors.csv --make-bundle PATH/make_bundle
                     --screenshot OUT.png [--workdir DIR] [--keep]

Starts a 4-validator network with the cluster harness (ports P .. P+99),
anchors a file with the CLI, opens the explorer in Debian's `chromium` driven
by `chromedriver` over the W3C WebDriver protocol (Python's urllib only), and
checks: the security headers and content types; the page shows the current
height; "verify a file" says VERIFIED for the anchored file and NOT VERIFIED
(with the reason) for a wrong file and for a tampered proof bundle; the search
finds the transaction by its hash; the page's BIP340 code gives the expected
result for every BIP340 test vector; tampered bundles fail in the page's
verifier; after node1 is removed by governance on the running network, the
validators panel lists the new set, blocks name their proposers from it, the
newest checkpoint is checked against it, the node's bundle (now across the
removal) verifies with the change shown as a step, and `cityledger watch`
follows the change (and alarms on a state file with another set history); a bundle across real,
signed validator-set changes (a removal, an
addition and a key rotation, from tests/interop's make_bundle) verifies with
its own genesis chosen as the trust root and shows each change as a step, and
tampered copies of it (an approval signature, the stated resulting set, a
proposal byte, the removed set or a rotated-out key signing) are refused.
Saves a screenshot and prints its path.

Fails (never skips) when chromium or chromedriver is missing: scripts/deps.sh
installs them.
"""

import argparse
import base64
import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster_harness import Cluster, TestFailure, check, prepare_workdir, report_failure  # noqa: E402

CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMEDRIVER_CANDIDATES = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
# Deadlines are generous for the sanitizer build; a Release run takes ~20 s.
START_DEADLINE = 120
PAGE_DEADLINE = 60


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def find_executable(candidates, name):
    for path in candidates + [shutil.which(name) or ""]:
        if path and os.access(path, os.X_OK):
            return path
    raise TestFailure(f"{name} is not installed: this test needs Debian's chromium and chromium-driver "
                      f"(run ./scripts/deps.sh, or apt-get install chromium chromium-driver)")


def free_port(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class WebDriver:
    """The few W3C WebDriver commands this test needs, over chromedriver's HTTP."""

    def __init__(self, chromedriver, chromium, port, workdir):
        check(free_port(port), f"port {port} for chromedriver is in use")
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(workdir, "chromedriver.log")
        self.proc = subprocess.Popen([chromedriver, f"--port={port}", f"--log-path={self.log_path}"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.session = None
        deadline = time.monotonic() + 30
        while True:
            try:
                if self._request("GET", "/status")["value"].get("ready"):
                    break
            except OSError:
                pass
            check(self.proc.poll() is None, f"chromedriver exited with code {self.proc.returncode}")
            check(time.monotonic() < deadline, "chromedriver did not become ready within 30 s")
            time.sleep(0.1)
        profile = os.path.join(workdir, "chromium-profile")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--window-size=1280,2400",
                         f"--user-data-dir={profile}"],
            },
        }}}
        self.session = self._request("POST", "/session", caps)["value"]["sessionId"]

    def _request(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise TestFailure(f"WebDriver {method} {path}: HTTP {e.code}: {detail[:1000]}")

    def command(self, method, path, body=None):
        return self._request(method, f"/session/{self.session}{path}", body)["value"]

    def get(self, url):
        self.command("POST", "/url", {"url": url})

    def execute(self, script, *args):
        """Runs `script` as a function body in the page; a returned Promise is awaited."""
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))  # {"element-6066-…": id}, the W3C element reference

    def send_keys(self, css, text):
        self.command("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.command("POST", f"/element/{self.find(css)}/click", {})

    def browser_log(self):
        """The page's console messages (chromedriver's log extension)."""
        return self.command("POST", "/se/log", {"type": "browser"})

    def screenshot(self, path):
        png = base64.b64decode(self.command("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)

    def close(self):
        if self.session:
            try:
                self._request("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, TestFailure):
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def wait_for(what, predicate, timeout=PAGE_DEADLINE, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout} s waiting for: {what} (last: {last!r})")
        time.sleep(interval)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


VERDICT_JS = """
const v = document.getElementById('verify-verdict');
return {verdict: v.dataset.verdict, text: v.textContent,
        chain: [...document.querySelectorAll('#verify-chain li')].map(li => li.textContent)};"""
RESET_VERDICT_JS = "document.getElementById('verify-verdict').dataset.verdict = 'reset';"


def verify_in_page(driver, input_css, path):
    """Chooses `path` in a file input and returns the verdict the page reaches."""
    driver.execute(RESET_VERDICT_JS)
    driver.send_keys(input_css, path)
    return wait_for(f"a verdict after choosing {os.path.basename(path)}",
                    lambda: (lambda r: r if r["verdict"] in ("verified", "failed") else False)(
                        driver.execute(VERDICT_JS)))


def run_watch(cli, genesis, state, rpc, expect):
    """`cityledger watch --once`; returns its output."""
    r = subprocess.run([cli, "watch", "--genesis", genesis, "--state", state, "--once", "--node", rpc],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == expect, f"watch exited {r.returncode}, expected {expect}: {r.stdout} {r.stderr}")
    return r.stdout


def remove_validator(cli, nodes, net, cluster):
    """Removes node1 with `cityledger gov propose/sign/submit` (docs/governance.md):
    approved by node0, node2 and node3, effective a few blocks ahead."""
    def run_cli(*argv):
        r = subprocess.run([cli, *argv], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"cityledger {' '.join(argv[:4])} failed ({r.returncode}): {r.stderr}")
        return r.stdout
    keys = [os.path.join(node.home, "validator.key") for node in nodes]
    pubkey = run_cli("pubkey", "--key", keys[1]).strip()
    effective = cluster.height(nodes[0]) + 10
    proposal = os.path.join(net, "remove-node1.json")
    run_cli("--rpc", nodes[0].rpc_url, "--json", "gov", "propose", "remove-validator", "--pubkey", pubkey,
            "--effective-height", str(effective), "--memo", "node1 leaves", "--out", proposal)
    for key in (keys[0], keys[2], keys[3]):
        run_cli("gov", "sign", "--proposal", proposal, "--key", key)
    committed = json.loads(run_cli("--rpc", nodes[0].rpc_url, "--json", "gov", "submit", "--proposal", proposal,
                                   "--key", os.path.join(net, "keys", "admin.key"), "--wait"))
    check(committed["height"] < effective, f"the removal committed at {committed['height']}, after {effective}")
    return {"effective": effective, "pubkey": pubkey}


def run(cluster, args, workdir):
    chromium = find_executable(CHROMIUM_CANDIDATES, "chromium")
    chromedriver = find_executable(CHROMEDRIVER_CANDIDATES, "chromedriver")

    nodes = cluster.add_testnet("net", 4, args.base_port)
    net = os.path.join(workdir, "net")
    for node in nodes:
        cluster.start(node)
    cluster.wait_heights(nodes, 2, START_DEADLINE)
    rpc0 = nodes[0].rpc_url
    log(f"network up: {cluster.heights(nodes)}")

    # The security headers and content types, straight from the node.
    status, headers, body = http_get(rpc0 + "/explorer")
    check(status == 200 and headers.get("Content-Type", "").startswith("text/html"),
          f"GET /explorer: {status} {headers.get('Content-Type')}")
    csp = headers.get("Content-Security-Policy", "")
    check("default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
          and "unsafe" not in csp, f"weak or missing Content-Security-Policy: {csp!r}")
    check(headers.get("X-Content-Type-Options") == "nosniff", f"no nosniff: {headers}")
    for asset, kind in [("verify.js", "text/javascript"), ("explorer.js", "text/javascript"),
                        ("explorer.css", "text/css"), ("", "text/html")]:
        status, headers, _ = http_get(f"{rpc0}/explorer/{asset}")
        check(status == 200 and headers.get("Content-Type", "").startswith(kind),
              f"/explorer/{asset}: {status} {headers.get('Content-Type')}")
    status, _, _ = http_get(rpc0 + "/explorer/nothing.js")
    check(status == 404, f"/explorer/nothing.js answered {status}")

    # Anchor a file and keep a wrong one.
    data = os.path.join(workdir, "data")
    os.makedirs(data)
    other = os.path.join(data, "traffic-2026-11-29.csv")
    with open(other, "w") as f:
        f.write("time,sensor,vehicles\n2026-11-29T10:00:00Z,loop-3,41\n")
    good = os.path.join(data, "air-quality-2026-11-29.csv")
    wrong = os.path.join(data, "air-quality-2026-11-29-edited.csv")
    rows = "".join(f"2026-11-29T10:{m:02d}:00Z,station-{m % 7},no2,{20 + m % 13}\n" for m in range(60))
    with open(good, "w") as f:
        f.write("time,station,pollutant,ugm3\n" + rows)
    with open(wrong, "w") as f:
        f.write("time,station,pollutant,ugm3\n" + rows.replace("no2,21", "no2,12"))
    proofs = os.path.join(workdir, "proofs")
    result = subprocess.run([args.cli, "--rpc", rpc0, "--json", "anchor", "--key",
                             os.path.join(net, "keys", "submitter.key"), "--dataset", "air-quality",
                             "--meta", "source=explorer_test", "--wait", "--proof-dir", proofs, other, good],
                            capture_output=True, text=True, timeout=120)
    check(result.returncode == 0, f"anchor failed ({result.returncode}): {result.stderr}")
    anchored = json.loads(result.stdout)
    entry = anchored["entries"][1]
    check(entry["file"] == good, f"unexpected anchor output: {anchored}")
    tx_hash = entry["tx_hash"]
    log(f"anchored {os.path.basename(good)}: tx {tx_hash[:16]}…, block {entry['height']}, leaf {entry['leaf_index']}")

    driver = WebDriver(chromedriver, chromium, args.base_port + 90, workdir)
    try:
        driver.get(rpc0 + "/explorer")
        # The page shows the current height (it polls; the chain keeps growing).
        target = cluster.height(nodes[0])
        shown = wait_for(f"the page to show height >= {target}", lambda: (lambda h: h if h and int(h) >= target else False)(
            driver.execute("return document.getElementById('height').dataset.height;")))
        log(f"page shows height {shown} (node said {target})")
        wait_for("4 validators listed", lambda: driver.execute(
            "return document.querySelectorAll('#validators tbody tr').length;") == 4)
        wait_for("blocks listed", lambda: driver.execute(
            "return document.querySelectorAll('#blocks tbody tr').length;") > 0)
        wait_for("the chart counting the anchor", lambda: int(driver.execute(
            "return document.getElementById('chart').dataset.total || '0';")) >= 1)

        # Verify the anchored file: hashed and checked in the browser.
        r = verify_in_page(driver, "#verify-file", good)
        check(r["verdict"] == "verified" and r["text"].startswith("VERIFIED"), f"the anchored file: {r}")
        chain_text = "\n".join(r["chain"])
        for step in ["leaf", "inclusion", "checkpoint", "signatures", "file"]:
            check(f"✓ {step}" in chain_text, f"step {step} not shown as passed: {r['chain']}")
        check(chain_text.count("✓ node") >= 3, f"fewer than 3 validator signatures shown valid: {r['chain']}")
        log(f"anchored file: {r['text']}")

        # A wrong file: not anchored, so not verified, with the reason.
        r = verify_in_page(driver, "#verify-file", wrong)
        check(r["verdict"] == "failed" and "not anchored" in r["text"], f"the wrong file: {r}")
        log(f"wrong file: {r['text']}")

        # A tampered bundle (one hash of the inclusion path changed) with the right file.
        with open(os.path.join(proofs, os.path.basename(good) + ".proof.json")) as f:
            bundle = json.load(f)
        tampered = json.loads(json.dumps(bundle))
        first = tampered["inclusion"]["path"][0] if tampered["inclusion"]["path"] else None
        if first:
            tampered["inclusion"]["path"][0] = ("0" if first[0] != "0" else "1") + first[1:]
        else:  # a one-leaf log has no path: change the checkpoint's body instead
            tampered["checkpoint"]["body"] = tampered["checkpoint"]["body"].replace("height", "height 1", 1)
        tampered_path = os.path.join(workdir, "tampered.proof.json")
        with open(tampered_path, "w") as f:
            json.dump(tampered, f)
        verify_in_page(driver, "#verify-bundle", tampered_path)
        r = verify_in_page(driver, "#verify-file", good)
        check(r["verdict"] == "failed" and ("checkpoint" in r["text"]), f"the tampered bundle: {r}")
        log(f"tampered bundle: {r['text']}")

        # More tampering through the page's verifier: each must fail for its reason.
        outcomes = driver.execute("""
            const [bundle, fileHash] = arguments;
            const genesis = window.explorer.state.genesis;
            const copy = () => JSON.parse(JSON.stringify(bundle));
            const cases = {};
            const run = async (name, b, h) => { const o = await cityledger.verifyBundle(b, genesis, h);
                                                cases[name] = {verified: o.verified, reason: o.reason}; };
            return (async () => {
              await run('intact', copy(), fileHash);
              let b = copy(); const s = b.checkpoint.signatures[0].signature;
              b.checkpoint.signatures[0].signature = (s[0] === 'a' ? 'b' : 'a') + s.slice(1);
              b.checkpoint.signatures = b.checkpoint.signatures.slice(0, 3);
              await run('signature', b, fileHash);
              b = copy(); b.checkpoint.signatures = b.checkpoint.signatures.slice(0, 2);
              await run('too_few', b, fileHash);
              b = copy(); b.entry.dataset_id = 'other';
              await run('entry_field', b, fileHash);
              b = copy(); b.leaf_index += 1;
              await run('leaf_index', b, fileHash);
              b = copy(); b.chain_id = 'other-chain';
              await run('chain', b, fileHash);
              await run('wrong_file', copy(), '00'.repeat(32));
              b = copy(); b.record = {leaf_data: '', index: 0, size: 1, path: []};
              await run('record', b, fileHash);
              return cases;
            })();""", bundle, entry["content_hash"])
        expected = {"intact": True, "signature": False, "too_few": False, "entry_field": False,
                    "leaf_index": False, "chain": False, "wrong_file": False, "record": False}
        for name, verified in expected.items():
            check(outcomes[name]["verified"] is verified, f"tampering case {name}: {outcomes[name]}")
        check("invalid BIP340" in outcomes["signature"]["reason"], f"signature case: {outcomes['signature']}")
        check("2 of 4" in outcomes["too_few"]["reason"], f"too_few case: {outcomes['too_few']}")
        log("tampered bundles refused: " + "; ".join(f"{k}: {v['reason']}" for k, v in outcomes.items() if k != "intact"))

        # Across validator-set changes: make_bundle's network (its own genesis,
        # chosen as the trust root) removed v0 at height 3, added v4 at 4 and
        # rotated v4's key at 5, each approved by a quorum of the set before.
        sets_dir = os.path.join(workdir, "set-changes")
        made = subprocess.run([args.make_bundle, sets_dir], capture_output=True, text=True, timeout=60)
        check(made.returncode == 0, f"make_bundle failed ({made.returncode}): {made.stderr}")
        sets_genesis = os.path.join(sets_dir, "genesis.json")
        sets_data = os.path.join(sets_dir, "data.csv")
        # No file chosen while the trust root and the bundle change: the only
        # verification is the one choosing the file starts.
        driver.execute("document.getElementById('verify-bundle').value = '';"
                       "document.getElementById('verify-file').value = '';")
        driver.send_keys("#verify-genesis", sets_genesis)
        wait_for("the chosen genesis as trust root", lambda: "interop-test" in driver.execute(
            "return document.getElementById('trust-root').textContent;"))
        driver.send_keys("#verify-bundle", os.path.join(sets_dir, "set-change-chain.json"))
        r = verify_in_page(driver, "#verify-file", sets_data)
        check(r["verdict"] == "verified" and "3 approved set changes" in r["text"], f"the set-change bundle: {r}")
        chain_text = "\n".join(r["chain"])
        for step in ["set change 1", "set change 2", "set change 3", "validator sets", "signatures", "file"]:
            check(f"✓ {step}" in chain_text, f"step {step} not shown as passed: {r['chain']}")
        for shown in ["removes v0", "adds v4", "rotates the keys of v4", "4 validators in charge at block 5",
                      "3 of 4 valid (quorum 3)"]:
            check(shown in chain_text, f"{shown!r} not shown: {r['chain']}")
        log(f"set-change bundle: {r['text']}")
        # A tampered copy through the page: refused, with the failed step shown.
        with open(os.path.join(sets_dir, "set-change-chain.json")) as f:
            chain_bundle = json.load(f)
        forged = json.loads(json.dumps(chain_bundle))
        forged["validator_sets"][1]["validators"][3]["p2p"] = "203.0.113.9:26600"
        forged_path = os.path.join(workdir, "set-change-forged.proof.json")
        with open(forged_path, "w") as f:
            json.dump(forged, f)
        r = verify_in_page(driver, "#verify-bundle", forged_path)  # data.csv stays chosen
        check(r["verdict"] == "failed" and "not the set the change produces" in r["text"]
              and any(li.startswith("✗ validator sets") for li in r["chain"]), f"the forged set-change bundle: {r}")
        log(f"forged resulting set: {r['text']}")
        with open(sets_genesis) as f:
            sets_genesis_doc = json.load(f)
        fixtures = {}
        for name in ["set-change", "set-change-removed", "set-change-unapproved", "set-change-stale",
                     "set-change-chain-old-key"]:
            with open(os.path.join(sets_dir, name + ".json")) as f:
                fixtures[name] = json.load(f)
        with open(sets_data, "rb") as f:
            sets_hash = hashlib.sha256(f.read()).hexdigest()
        outcomes = driver.execute("""
            const [bundle, genesis, fileHash, fixtures] = arguments;
            const copy = () => JSON.parse(JSON.stringify(bundle));
            const cases = {};
            const run = async (name, b) => { const o = await cityledger.verifyBundle(b, genesis, fileHash);
                                             cases[name] = {verified: o.verified, reason: o.reason}; };
            const flip = (hex, i) => hex.slice(0, i) + (hex[i] === 'a' ? 'b' : 'a') + hex.slice(i + 1);
            return (async () => {
              await run('intact', copy());
              for (const [name, b] of Object.entries(fixtures)) await run(name, b);
              let b = copy(); b.validator_sets[2].approvals[1].signature = flip(b.validator_sets[2].approvals[1].signature, 70);
              await run('approval_signature', b);
              b = copy(); b.validator_sets[0].approvals.pop();
              await run('approval_missing', b);
              b = copy(); b.validator_sets[0].approvals.push(b.validator_sets[0].approvals[0]);
              await run('approval_twice', b);
              b = copy(); b.validator_sets[2].validators[3].pubkey = b.validator_sets[1].validators[3].pubkey;
              await run('stated_set', b);
              b = copy(); b.validator_sets[1].validators.pop();
              await run('stated_set_short', b);
              b = copy(); b.validator_sets[1].effective_height = 5;
              await run('effective_height', b);
              b = copy(); b.validator_sets = [b.validator_sets[0], b.validator_sets[2], b.validator_sets[1]];
              await run('order', b);
              b = copy(); b.validator_sets = b.validator_sets.slice(0, 2);
              await run('dropped_rotation', b);
              b = copy(); b.validator_sets[0].extra = 1;
              await run('unknown_field', b);
              // The removal's proposal ends with its action (field 11: 36 bytes):
              // a second action after it, or another kind of action instead.
              const removal = cityledger.hexToBytes(bundle.validator_sets[0].proposal);
              const key = cityledger.hexToBytes(bundle.validator_sets[2].validators[3].pubkey);
              const withBytes = (bytes) => { const c = copy(); c.validator_sets[0].proposal = cityledger.bytesToHex(bytes); return c; };
              const cat = (...parts) => Uint8Array.from(parts.flatMap((x) => [...x]));
              await run('two_actions', withBytes(cat(removal, [0x62, 0x22, 0x0a, 0x20], key)));
              await run('roles_action', withBytes(cat(removal.slice(0, removal.length - 36), [0x6a, 0x02, 0x08, 0x01])));
              // Strings keep a leading U+FEFF, as the C++ reader does (TextDecoder drops it by default).
              const leaf = cat([0x0a, 0x28, 0x0a, 0x20], new Array(32).fill(7), [0x1a, 0x04, 0xef, 0xbb, 0xbf, 0x78]);
              cases.bom_kept = cityledger.decodeLogEntry(leaf).dataset_id === '\ufeffx';
              // Every byte of the addition's proposal, one bit flipped: never accepted.
              const p = cityledger.hexToBytes(bundle.validator_sets[1].proposal);
              cases.proposal_bytes_accepted = [];
              for (let i = 0; i < p.length; i++) {
                const q = p.slice(); q[i] ^= 1;
                b = copy(); b.validator_sets[1].proposal = cityledger.bytesToHex(q);
                if ((await cityledger.verifyBundle(b, genesis, fileHash)).verified) cases.proposal_bytes_accepted.push(i);
              }
              cases.proposal_bytes = p.length;
              return cases;
            })();""", chain_bundle, sets_genesis_doc, sets_hash, fixtures)
        expected = {"intact": True, "set-change": True, "set-change-removed": False,
                    "set-change-unapproved": False, "set-change-stale": False, "set-change-chain-old-key": False,
                    "approval_signature": False, "approval_missing": False, "approval_twice": False,
                    "stated_set": False, "stated_set_short": False, "effective_height": False, "order": False,
                    "dropped_rotation": False, "unknown_field": False, "two_actions": False, "roles_action": False}
        for name, verified in expected.items():
            check(outcomes[name]["verified"] is verified, f"set-change case {name}: {outcomes[name]}")
        reasons = {
            "set-change-removed": "not a validator in charge at block 4",
            "set-change-unapproved": "2 valid approvals, 3 of the 4",
            "set-change-stale": "stale or out of order",
            "set-change-chain-old-key": "not a validator in charge at block 5",
            "approval_signature": "does not verify over this proposal",
            "approval_missing": "2 valid approvals",
            "approval_twice": "two approvals by",
            "stated_set": "not the set the change produces",
            "stated_set_short": "not the set the change produces",
            "effective_height": "the proposal says effective_height 4",
            "order": "stale or out of order",
            "dropped_rotation": "not a validator in charge at block 5",
            "unknown_field": "unknown field",
            "two_actions": "field 12 after the action",
            "roles_action": "(field 13) is not a validator-set change",
        }
        for name, reason in reasons.items():
            check(reason in outcomes[name]["reason"], f"set-change case {name}: {outcomes[name]}")
        check(outcomes["bom_kept"] is True, "the page's UTF-8 reader drops a leading U+FEFF")
        check(outcomes["proposal_bytes"] > 100 and not outcomes["proposal_bytes_accepted"],
              f"proposal bytes flipped and accepted: {outcomes['proposal_bytes_accepted']}")
        log("set-change bundles refused: " + "; ".join(
            f"{k}: {v['reason']}" for k, v in outcomes.items() if isinstance(v, dict) and not v["verified"]))
        # Back to the node's own genesis as the trust root.
        driver.execute("document.getElementById('verify-bundle').value = '';"
                       "document.getElementById('verify-file').value = '';"
                       "document.getElementById('verify-genesis').value = '';"
                       "document.getElementById('verify-genesis').dispatchEvent(new Event('change'));")
        wait_for("the node's genesis as trust root again", lambda: "served by this node" in driver.execute(
            "return document.getElementById('trust-root').textContent;"))
        # The newest checkpoint, checked in the page against the set its
        # height's set changes (get_validator_sets) give from the trusted genesis.
        newest_checked = """
            const row = document.querySelector('#checkpoints tbody tr');
            return row ? row.lastElementChild.textContent : '';"""
        wait_for("the newest checkpoint checked as verified in the page",
                 lambda: driver.execute(newest_checked) == "verified", interval=0.5)

        # Search by transaction hash.
        driver.execute("document.getElementById('search').value = '';")
        driver.send_keys("#search", tx_hash)
        driver.click("#search-button")
        r = wait_for("the search to find the transaction", lambda: (lambda r: r if r["kind"] == "tx" else False)(
            driver.execute("const o = document.getElementById('search-result');"
                           "return {kind: o.dataset.kind, text: o.textContent};")))
        check(tx_hash in r["text"] and entry["content_hash"][:8] in r["text"], f"search result: {r['text'][:500]}")
        log("search found the transaction by hash")

        # The BIP340 test vectors through the page's own code.
        with open(args.vectors, newline="") as f:
            vectors = [row for row in csv.DictReader(f)]
        check(len(vectors) >= 15, f"only {len(vectors)} BIP340 vectors in {args.vectors}")
        results = driver.execute("""
            const rows = arguments[0];
            return (async () => {
              const out = [];
              for (const r of rows) {
                const h = (s) => cityledger.hexToBytes(s.toLowerCase());
                out.push(await cityledger.schnorrVerify(h(r[0]), h(r[1]), h(r[2])));
              }
              return out;
            })();""", [[v["public key"], v["message"], v["signature"]] for v in vectors])
        wrong_rows = [(v["index"], v["verification result"], got) for v, got in zip(vectors, results)
                      if got != (v["verification result"] == "TRUE")]
        check(len(results) == len(vectors) and not wrong_rows, f"BIP340 vectors failed in the page: {wrong_rows}")
        log(f"all {len(vectors)} BIP340 vectors pass in the page")

        # A real removal on the running network: node1 (in the middle, so later
        # indexes shift) removed by governance, approved offline by the other three.
        # `cityledger watch` sees the same removal: it keeps a checkpoint from
        # before it, then follows the set change to the new set's checkpoints.
        genesis_path = os.path.join(net, "genesis.json")
        watch_state = os.path.join(workdir, "watch.json")
        watch = lambda state, expect: run_watch(args.cli, genesis_path, state, rpc0, expect)  # noqa: E731
        watch(watch_state, 0)
        removed = remove_validator(args.cli, nodes, net, cluster)
        remaining = [n for n in nodes if n is not nodes[1]]  # node1 stops once dropped
        cluster.wait_heights(remaining, removed["effective"] + 3, START_DEADLINE)
        watch(watch_state, 0)
        with open(watch_state) as f:
            kept = json.load(f)
        check(len(kept["validator_sets"]) == 1 and kept["validator_sets"][0]["effective_height"] == removed["effective"]
              and int(kept["checkpoint"]["body"].split("\n")[3].split()[1]) >= removed["effective"],
              f"watch kept {kept}")
        forked = json.loads(json.dumps(kept))
        approvals = forked["validator_sets"][0]["approvals"]
        approvals[0], approvals[1] = approvals[1], approvals[0]
        forked_state = os.path.join(workdir, "watch-forked.json")
        with open(forked_state, "w") as f:
            json.dump(forked, f)
        out = watch(forked_state, 1)
        check("ALARM" in out and "validator-set history forks" in out, f"watch on another set history: {out}")
        log("watch followed the removal; another set history raises an alarm")
        # The validators panel lists the set in charge now: three, without node1.
        # (name, connected): the peers matched to the set's entries (Node::peer_validator).
        wait_for("the validators panel to list the three remaining validators, connected", lambda: driver.execute(
            "return [...document.querySelectorAll('#validators tbody tr')].map(r => "
            "[r.children[1].textContent, r.children[3].textContent]);")
            == [["node0 (this node)", "self"], ["node2", "yes"], ["node3", "yes"]], interval=0.5)
        # Blocks from the removal on are proposed by the remaining three, named
        # by the set in charge of their height (proposer_index is an index in it).
        blocks_js = """return [...document.querySelectorAll('#blocks tbody tr')].map(r =>
            [Number(r.dataset.height), r.children[4].textContent]);"""
        shown = wait_for("blocks after the removal listed", lambda: (lambda rows: rows if rows and min(
            h for h, _ in rows) >= removed["effective"] else False)(driver.execute(blocks_js)), interval=0.5)
        for h, proposer in shown:
            expected = cluster.rpc(nodes[0], "get_block", {"height": h})["proposer"]["name"]
            check(proposer == expected and proposer != "node1", f"block {h} shown proposed by {proposer}, not {expected}")
        # The newest checkpoint, signed by the new set, checked in the page from genesis.
        newest_js = """const row = document.querySelector('#checkpoints tbody tr');
            return row ? [Number(row.children[0].textContent), row.lastElementChild.textContent] : null;"""
        wait_for("a checkpoint after the removal checked as verified in the page", lambda: (lambda row: row and row[
            0] >= removed["effective"] and row[1] == "verified")(driver.execute(newest_js)), interval=0.5)
        log(f"node1 removed from height {removed['effective']}: the page lists the new set and checks its checkpoints")

        # Back to the node's bundle: now across the removal (its checkpoint is
        # newer), verified, and that is what the screenshot shows.
        driver.execute("document.getElementById('verify-bundle').value = '';"
                       "document.getElementById('verify-file').value = '';")
        r = verify_in_page(driver, "#verify-file", good)
        check(r["verdict"] == "verified", f"the anchored file, with the node's bundle again: {r}")
        chain_text = "\n".join(r["chain"])
        check("✓ set change 1" in chain_text and "removes node1" in chain_text
              and "3 validators in charge" in chain_text and "node1" not in chain_text.split("✓ signatures")[1],
              f"the node's bundle across the removal: {r['chain']}")
        log(f"the node's bundle across the removal: {r['text']}")
        driver.execute("window.scrollTo(0, 0);")
        driver.screenshot(args.screenshot)
        print(f"screenshot: {args.screenshot}", flush=True)
        errors = driver.execute("return window.__errors || [];")
        check(not errors, f"errors in the page: {errors}")
        # Console errors, including a Content-Security-Policy refusal during parsing.
        console = [m.get("message", "") for m in driver.browser_log() if m.get("level") == "SEVERE"]
        check(not console, f"console errors in the page: {console}")
    finally:
        driver.close()
    cluster.stop_all_checked()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--make-bundle", required=True, help="tests/interop's make_bundle: signed set-change bundles")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--workdir")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.cli = os.path.abspath(args.cli)
    workdir = prepare_workdir(args.workdir, "explorer_test_")
    started = time.monotonic()
    with Cluster(os.path.abspath(args.bin), workdir) as cluster:
        try:
            run(cluster, args, workdir)
        except Exception as e:
            report_failure(f"explorer", e, cluster, workdir)
            return 1
    log(f"PASSED explorer in {time.monotonic() - started:.1f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
