#!/usr/bin/env python3
"""The .deb: build it with CPack from the build tree, then check what it holds.

- `cpack -G DEB` into a temporary directory makes exactly one .deb;
- `dpkg-deb -I`: name, version (the project's), architecture, maintainer, and
  Depends from dpkg-shlibdeps (the runtime libraries, never a -dev package)
  plus adduser;
- `dpkg-deb -c`: the two programs, both systemd units, the operator docs and
  the example config, and nothing that does not belong (headers, static
  libraries, tests, benchmarks);
- the maintainer scripts: postinst creates the cityledger user and
  /var/lib/cityledger and never enables or starts a service;
- `dpkg-deb -x`: the extracted `cityledgerd --version` and `cityledger
  --help` run, and the example config has exactly the keys and defaults that
  `cityledgerd init` writes.

Standard library only (tomllib: Python 3.11, Debian 12). Exits non-zero on
any failed check.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib


class TestFailure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    check(result.returncode == 0,
          f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def control_fields(info):
    """The control file's fields from `dpkg-deb -I` (continuation lines joined)."""
    fields, key = {}, None
    for line in info.splitlines():
        match = re.match(r"^ ([A-Za-z-]+): ?(.*)$", line)
        if match:
            key = match.group(1)
            fields[key] = match.group(2)
        elif key and line.startswith("  "):
            fields[key] += "\n" + line.strip()
    return fields


def build_package(build_dir, out_dir):
    started = time.monotonic()
    run(["cpack", "-G", "DEB", "--config", os.path.join(build_dir, "CPackConfig.cmake"), "-B", out_dir],
        cwd=build_dir)
    debs = glob.glob(os.path.join(out_dir, "*.deb"))
    check(len(debs) == 1, f"expected one .deb in {out_dir}, found {debs}")
    print(f"built {os.path.basename(debs[0])} ({os.path.getsize(debs[0]) // 1024} KiB) "
          f"in {time.monotonic() - started:.1f} s")
    return debs[0]


def check_control(deb, version):
    fields = control_fields(run(["dpkg-deb", "-I", deb]))
    check(fields.get("Package") == "cityledger", f"Package: {fields.get('Package')}")
    check(fields.get("Version") == version, f"Version: {fields.get('Version')} (project {version})")
    arch = run(["dpkg", "--print-architecture"]).strip()
    check(fields.get("Architecture") == arch, f"Architecture: {fields.get('Architecture')} (host {arch})")
    check("@" in fields.get("Maintainer", ""), f"Maintainer: {fields.get('Maintainer')}")
    check(fields.get("Description", "").startswith("permissioned ledger"), f"Description: {fields}")
    depends = [d.strip() for d in fields.get("Depends", "").split(",") if d.strip()]
    names = {re.split(r"[ (]", d)[0] for d in depends}
    # What the binaries link dynamically (dpkg-shlibdeps found them) and what
    # postinst needs. The exact sonames belong to Debian 12.
    for required in ("libc6", "libstdc++6", "libssl3", "libsystemd0", "adduser"):
        check(required in names, f"Depends lacks {required}: {depends}")
    for prefix in ("librocksdb", "libsecp256k1", "libprotobuf"):
        check(any(n.startswith(prefix) for n in names), f"Depends lacks {prefix}*: {depends}")
    check(not any(n.endswith("-dev") for n in names), f"a -dev package in Depends: {depends}")
    print(f"Depends: {', '.join(depends)}")


def check_contents(deb):
    listing = run(["dpkg-deb", "-c", deb])
    paths = set()
    modes = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        path = parts[5].split(" -> ")[0]
        path = path[1:] if path.startswith(".") else path
        paths.add(path.rstrip("/") or "/")
        modes[path] = parts[0]
    required = [
        "/usr/bin/cityledgerd",
        "/usr/bin/cityledger",
        "/usr/lib/systemd/system/cityledgerd.service",
        "/usr/lib/systemd/system/cityledger-agent.service",
        "/usr/share/doc/cityledger/operations.md",
        "/usr/share/doc/cityledger/README.md",
        "/usr/share/doc/cityledger/agent.md",
        "/usr/share/doc/cityledger/examples/config.toml",
    ]
    for path in required:
        check(path in paths, f"{path} is not in the package:\n{listing}")
    for program in ("/usr/bin/cityledgerd", "/usr/bin/cityledger"):
        check(modes[program] == "-rwxr-xr-x", f"{program} has mode {modes[program]}")
    programs = sorted(p for p in paths if p.startswith("/usr/bin/"))
    check(programs == ["/usr/bin/cityledger", "/usr/bin/cityledgerd"], f"unexpected programs: {programs}")
    unwanted = [p for p in paths if p.startswith("/usr/include") or p.endswith(".a") or p.endswith(".so")
                or "test" in os.path.basename(p) or "bench" in os.path.basename(p)
                or p.startswith("/var") or p.startswith("/etc")]
    check(not unwanted, f"files that do not belong in the package: {unwanted}")
    files = [p for p, mode in modes.items() if not mode.startswith("d")]
    print(f"{len(files)} files, all expected")


def check_scripts(deb, workdir):
    control_dir = os.path.join(workdir, "control")
    run(["dpkg-deb", "-e", deb, control_dir])
    for name in ("postinst", "prerm", "postrm"):
        path = os.path.join(control_dir, name)
        check(os.path.exists(path), f"no {name} in the package")
        check(os.stat(path).st_mode & 0o777 == 0o755, f"{name} has mode {oct(os.stat(path).st_mode & 0o777)}")
        run(["sh", "-n", path])
    postinst = open(os.path.join(control_dir, "postinst")).read()
    check(re.search(r"adduser --system --group .*cityledger", postinst.replace("\\\n", " ")),
          "postinst does not create the cityledger system user")
    check("/var/lib/cityledger" in postinst, "postinst does not create /var/lib/cityledger")
    for forbidden in ("systemctl start", "systemctl enable", "systemctl restart", "deb-systemd-invoke"):
        check(forbidden not in postinst, f"postinst must not '{forbidden}' (no start without a home)")
    postrm = open(os.path.join(control_dir, "postrm")).read()
    check("rm -" not in postrm and "deluser" not in postrm, "postrm must keep keys, state and the user")


def check_extracted(deb, workdir, version):
    root = os.path.join(workdir, "root")
    run(["dpkg-deb", "-x", deb, root])
    daemon = os.path.join(root, "usr/bin/cityledgerd")
    cli = os.path.join(root, "usr/bin/cityledger")
    out = run([daemon, "--version"]).strip()
    check(out == f"cityledgerd {version}", f"cityledgerd --version printed {out!r}")
    help_text = run([cli, "--help"])
    for command in ("agent", "verify", "anchor"):
        check(re.search(rf"^\s+{command}\b", help_text, re.M), f"cityledger --help lacks '{command}':\n{help_text}")
    # The example config is what `init` writes: the same keys, the same defaults.
    home = os.path.join(workdir, "home")
    run([daemon, "init", "--home", home, "--chain-id", "package-test"])
    with open(os.path.join(home, "config.toml"), "rb") as f:
        generated = tomllib.load(f)
    with open(os.path.join(root, "usr/share/doc/cityledger/examples/config.toml"), "rb") as f:
        example = tomllib.load(f)
    generated["node"]["chain_id"] = example["node"].get("chain_id")
    generated["node"]["name"] = example["node"].get("name")
    check(example == generated, f"examples/config.toml differs from what init writes:\n"
                                f"example:   {example}\ngenerated: {generated}")
    print(f"extracted: {out}; cityledger --help lists agent, verify, anchor; example config matches init")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--version", required=True, help="the project's version")
    args = parser.parse_args()
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
        if shutil.which(tool) is None:
            print(f"FAILED: {tool} not found (scripts/deps.sh installs dpkg-dev)", file=sys.stderr)
            return 1
    workdir = tempfile.mkdtemp(prefix="cl_package_")
    try:
        deb = build_package(args.build_dir, os.path.join(workdir, "out"))
        check_control(deb, args.version)
        check_contents(deb)
        check_scripts(deb, workdir)
        check_extracted(deb, workdir, args.version)
    except TestFailure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
