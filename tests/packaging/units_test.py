#!/usr/bin/env python3
"""The systemd units in packaging/: their promises, and systemd's own checks.

1. Directives docs/operations.md relies on are present (parsed here, so this
   part runs everywhere): Type=notify with a watchdog for the validator, the
   service user, the state directory, restart policy, and every hardening
   option of the list below in both units.
2. With systemd-analyze available: `verify` (copies whose ExecStart points at
   the built binaries, since /usr/bin holds none here) must pass silently and
   `security --offline=yes --threshold=20` must rate each unit 2.0 or better.
   Without it the test exits 77, which CTest reports as skipped, never passed.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HARDENING = {
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "User": "cityledger",
    "Group": "cityledger",
}

VALIDATOR = {
    "Type": "notify",
    "NotifyAccess": "main",
    "ExecStart": "/usr/bin/cityledgerd start --home /var/lib/cityledger",
    "StateDirectory": "cityledger",
    "Restart": "on-failure",
    "UMask": "0077",
}


def parse(path):
    """{section: {key: [values]}}; continuation lines joined."""
    sections, current, pending = {}, None, ""
    for raw in open(path):
        line = pending + raw.rstrip("\n")
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(" ".join(value.split()))
    return sections


def check_directives(path, expected):
    service = parse(path).get("Service", {})
    failures = []
    for key, value in expected.items():
        if value not in service.get(key, []):
            failures.append(f"{os.path.basename(path)}: expected {key}={value}, found {service.get(key)}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", required=True, help="packaging/ directory")
    parser.add_argument("--bin-dir", required=True, help="where the built cityledgerd and cityledger are")
    args = parser.parse_args()
    validator = os.path.join(args.units, "cityledgerd.service")
    agent = os.path.join(args.units, "cityledger-agent.service")

    failures = check_directives(validator, {**HARDENING, **VALIDATOR})
    failures += check_directives(agent, HARDENING)
    watchdog = parse(validator)["Service"].get("WatchdogSec", [])
    if not watchdog or watchdog[0] in ("0", "infinity"):
        failures.append(f"cityledgerd.service: WatchdogSec={watchdog} (the node pings it)")
    if "ConditionPathExists" not in parse(validator).get("Unit", {}):
        failures.append("cityledgerd.service: no ConditionPathExists (it must not start without a home)")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("directives: Type=notify, watchdog, user, state directory and hardening present in both units")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SKIPPED: systemd-analyze not found; `verify` and `security` not run", file=sys.stderr)
        return 77
    workdir = tempfile.mkdtemp(prefix="cl_units_")
    try:
        for unit in (validator, agent):
            text = open(unit).read().replace("/usr/bin/", args.bin_dir.rstrip("/") + "/")
            copy = os.path.join(workdir, os.path.basename(unit))
            open(copy, "w").write(text)
            result = subprocess.run([analyze, "verify", copy], capture_output=True, text=True, timeout=120,
                                    cwd=workdir)
            output = (result.stdout + result.stderr).strip()
            if result.returncode != 0 or output:
                failures.append(f"systemd-analyze verify {os.path.basename(unit)} ({result.returncode}): {output}")
            result = subprocess.run([analyze, "security", "--offline=yes", "--threshold=20", copy],
                                    capture_output=True, text=True, timeout=120, cwd=workdir)
            overall = [line for line in result.stdout.splitlines() if "Overall exposure" in line]
            if result.returncode != 0:
                failures.append(f"systemd-analyze security {os.path.basename(unit)}: above 2.0: {overall}"
                                f"\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
            else:
                print(f"verify: clean; security: {overall[0].strip() if overall else '?'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
