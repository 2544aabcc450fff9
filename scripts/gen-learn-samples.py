#!/usr/bin/env python3
"""Write the learner's sample sessions: samples/sessions/<workload>/session-{1,2}.archive.

Each workload is run twice, as a real agent would be: the same kind of work, but with per-run
names (pids, temp directories, UUIDs, timestamps, cache hashes), a different subset of the same
toolchain files, new dependencies in the second run, and sometimes a toolchain upgrade. The shapes
follow ../shared/docs/agent-investigations (Claude Code state, npm/uv/cargo/git layouts). The
adversarial workload scans HOME, /etc and ~/Library and reads credentials.

Deterministic: the same script writes the same bytes. Run from the repository root:
    python3 scripts/gen-learn-samples.py
"""

import hashlib
import json
import os
import random

HOME = "/Users/alice"
TMP = "/private/var/folders/7x/k2m9q1vn5d3c8b1w0000gn/T"
OUT = "samples/sessions"


class Session:
    def __init__(self, workload, n, workdir, command):
        self.workload = workload
        self.n = n
        self.rng = random.Random(f"{workload}-{n}")
        self.workdir = workdir
        self.command = command
        self.events = []
        self.t = 0
        self.tag = "sh-learn-" + self.hex(6)
        self.pids = {}

    def hex(self, n):
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def rand(self, n, alphabet="abcdefghijklmnopqrstuvwxyz0123456789"):
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def uuid(self):
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    def pid(self, process):
        if process not in self.pids:
            self.pids[process] = self.rng.randint(20000, 89999)
        return self.pids[process]

    def time(self):
        self.t += self.rng.randint(1, 40)
        ms = self.t
        day = 2 + self.n
        return f"2026-12-0{day}T09:{(ms // 60000) % 60:02d}:{(ms // 1000) % 60:02d}.{ms % 1000:03d}+01:00"

    def add(self, process, op, raw, count=1):
        target = make_target(op, raw)
        ev = {
            "time": self.time(),
            "process": process,
            "pid": self.pid(process),
            "action": "allow",
            "operation": op,
            "target": target,
            "count": count,
            "tag": self.tag,
        }
        self.events.append(ev)

    def read(self, process, path, count=1):
        self.add(process, "file-read-data", path, count)

    def stat(self, process, path):
        self.add(process, "file-read-metadata", path)

    def write(self, process, path, create=True):
        if create:
            self.add(process, "file-write-create", path)
        self.add(process, "file-write-data", path)

    def write_header(self):
        header = {
            "safehouse_archive": 1,
            "created": f"2026-12-0{2 + self.n}T09:00:00+01:00",
            "context": {
                "home": HOME,
                "workdir": self.workdir,
                "command": self.command,
                "platform": "macos",
                "tag": self.tag,
                "temp_roots": [TMP],
            },
        }
        return json.dumps(header, separators=(",", ":"))

    def save(self):
        d = os.path.join(OUT, self.workload)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"session-{self.n}.archive"), "w") as f:
            f.write(self.write_header() + "\n")
            for e in self.events:
                f.write(json.dumps(e, separators=(",", ":")) + "\n")


def make_target(op, raw):
    if op == "file-ioctl":
        path, _, cmd = raw[len("path:"):].partition(" ioctl-command:")
        return {"raw": raw, "kind": "ioctl", "path": path, "command": cmd}
    if op.startswith("file") or op.startswith("process-exec"):
        return {"raw": raw, "kind": "path", "path": raw}
    if op.startswith("network"):
        if raw.startswith("/"):
            return {"raw": raw, "kind": "unix-socket", "path": raw}
        scope, host, port = raw.split(":")
        return {"raw": raw, "kind": "network", "scope": scope, "host": host,
                "port": None if port == "*" else int(port)}
    return {"raw": raw, "kind": "name", "name": raw}


def subset(rng, universe, share):
    return [x for x in universe if rng.random() < share]


def fake_hash(s, n=40):
    return hashlib.sha1(s.encode()).hexdigest()[:n]


# ---------------------------------------------------------------------------------------------
# What every Claude Code session does (see agent-investigations/claude-code.md).

def claude_agent(s, project_slug):
    c = "claude"
    s.add(c, "process-exec*", f"{HOME}/.local/share/claude/versions/2.0.{14 + s.n}/claude")
    for p in ["/Users", HOME, f"{HOME}/src", f"{HOME}/.local", f"{HOME}/.local/share"]:
        s.stat(c, p)
    s.read(c, f"{HOME}/.claude/settings.json", count=3)
    s.read(c, f"{HOME}/.claude/settings.local.json")
    s.read(c, f"{HOME}/.claude/CLAUDE.md")
    for name in ["commands", "skills", "rules", "agents"]:
        s.add(c, "file-read-data", f"{HOME}/.claude/{name}")
    session_id = s.uuid()
    s.write(c, f"{HOME}/.claude/projects/{project_slug}/{session_id}.jsonl")
    s.write(c, f"{HOME}/.claude/todos/{session_id}-agent-{session_id}.json")
    s.write(c, f"{HOME}/.claude/statsig/statsig.cached.evaluations.{s.hex(10)}")
    s.write(c, f"{HOME}/.claude/shell-snapshots/snapshot-zsh-{1733300000000 + s.rng.randint(0, 10**8)}-{s.rand(6)}.sh")
    s.read(c, f"{HOME}/.claude.json", count=5)
    tmp = f"{HOME}/.claude.json.tmp.{s.pid(c)}.{1733300000000 + s.rng.randint(0, 10**8)}"
    s.write(c, tmp)
    s.add(c, "file-write-unlink", tmp)
    s.write(c, f"{HOME}/.claude.json", create=False)
    s.read(c, f"{HOME}/.gitconfig")
    s.read(c, "/private/etc/ssl/cert.pem")
    s.add(c, "file-ioctl", f"path:/dev/ttys00{s.n + 2} ioctl-command:(_IOW \"t\" 103 struct winsize)")
    s.add(c, "network-outbound", "remote:*:443", count=12)
    s.add(c, "network-outbound", "/private/var/run/mDNSResponder", count=2)
    s.add(c, "mach-lookup", "com.apple.trustd.agent")
    s.add(c, "mach-lookup", "com.apple.SystemConfiguration.configd")
    s.add(c, "mach-lookup", "com.apple.FSEvents")
    s.add(c, "mach-lookup", f"com.apple.xpc.anonymous.{s.pid(c)}")
    s.add(c, "user-preference-read", "kCFPreferencesAnyApplication")
    # Claude's per-run scratch under $TMPDIR.
    scratch = f"{TMP}/claude-{s.hex(4)}-cwd"
    s.write(c, scratch)
    s.read(c, scratch)
    s.add(c, "file-write-unlink", scratch)
    for i in range(3):
        s.write("zsh", f"{TMP}/zsh{s.rand(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}")


# ---------------------------------------------------------------------------------------------

NPM_FILES = [f"lib/{d}/{f}.js" for d in ["commands", "utils", "cli", "arborist", "workspaces"]
             for f in ["index", "install", "ci", "run-script", "config", "exec", "cache", "audit",
                       "outdated", "update", "log-file", "timers", "display", "npm-usage"]]
NODE_PKGS = ["react", "react-dom", "scheduler", "typescript", "vite", "esbuild", "rollup", "postcss",
             "nanoid", "picocolors", "source-map-js", "vitest", "chai", "tinyspy", "@types/node",
             "@types/react", "loose-envify", "js-tokens", "undici-types", "csstype", "magic-string",
             "@jridgewell/sourcemap-codec", "pathe", "std-env", "tinybench", "why-is-node-running"]


def node_npm(n):
    wd = f"{HOME}/src/webapp"
    s = Session("node-npm", n, wd, ["claude"])
    claude_agent(s, "-Users-alice-src-webapp")
    node_ver = "v22.3.0" if n == 1 else "v22.4.1"  # nvm upgrade between the runs
    nvm = f"{HOME}/.nvm/versions/node/{node_ver}"
    s.add("zsh", "process-exec*", f"{nvm}/bin/node")
    s.add("node", "process-exec*", f"{nvm}/bin/npm")
    for f in subset(s.rng, NPM_FILES, 0.7):
        s.read("node", f"{nvm}/lib/node_modules/npm/{f}")
    s.read("node", f"{HOME}/.npmrc")  # npm always reads it: it holds registry tokens
    s.read("node", f"{wd}/package.json", count=4)
    s.read("node", f"{wd}/package-lock.json", count=2)
    s.read("node", f"{wd}/.npmrc")
    # The content-addressed cache: fresh hashes every run.
    for _ in range(120 + 40 * n):
        h = s.hex(40)
        s.read("node", f"{HOME}/.npm/_cacache/index-v5/{h[:2]}/{h[2:4]}/{h[4:]}")
        c = s.hex(64)
        s.read("node", f"{HOME}/.npm/_cacache/content-v2/sha512/{c[:2]}/{c[2:4]}/{c[4:]}")
    for _ in range(10):
        h = s.hex(64)
        s.write("node", f"{HOME}/.npm/_cacache/tmp/{s.hex(8)}")
        s.write("node", f"{HOME}/.npm/_cacache/content-v2/sha512/{h[:2]}/{h[2:4]}/{h[4:]}")
    stamp = f"2026-12-0{2 + n}T09_00_0{n}_{s.rng.randint(100, 999)}Z"
    s.write("node", f"{HOME}/.npm/_logs/{stamp}-debug-0.log")
    s.read("node", f"{HOME}/.npm/_update-notifier-last-checked")
    s.write("node", f"{HOME}/.config/configstore/update-notifier-npm.json", create=False)
    s.read("node", f"{HOME}/Library/Caches/node-gyp/{node_ver[1:]}/include/node/node_version.h")
    s.read("node", f"{HOME}/Library/Caches/node-gyp/{node_ver[1:]}/include/node/node.h")
    pkgs = subset(s.rng, NODE_PKGS, 0.75) + (["zod", "clsx"] if n == 2 else [])
    for p in pkgs:
        base = f"{wd}/node_modules/{p}"
        s.add("node", "file-write-create", base)
        for f in ["package.json", "index.js", "README.md", "LICENSE", f"dist/{p.split('/')[-1]}.js"]:
            s.write("node", f"{base}/{f}")
            s.read("node", f"{base}/{f}")
    s.write("node", f"{wd}/node_modules/.package-lock.json")
    s.write("node", f"{wd}/package-lock.json", create=False)
    for f in subset(s.rng, ["main", "App", "api", "store", "util", "hooks", "router", "theme"], 0.8):
        s.read("node", f"{wd}/src/{f}.tsx")
        s.write("node", f"{wd}/dist/assets/{f}-{s.hex(8)}.js")
    s.write("node", f"{wd}/node_modules/.vite/deps/_metadata.json")
    s.write("node", f"{wd}/node_modules/.vite/vitest/results.json")
    vt = f"{TMP}/vitest-{s.pid('node')}"
    s.write("node", f"{vt}/coverage.json")
    s.add("node", "network-bind", f"local:127.0.0.1:{5173}")
    s.add("node", "network-bind", f"local:127.0.0.1:{s.rng.randint(49152, 65535)}")
    s.add("node", "network-outbound", "remote:localhost:5173")
    s.add("node", "network-outbound", "remote:*:443", count=40)
    s.add("node", "sysctl-read", "hw.memsize")
    return s


PY_STDLIB = ["os", "re", "json", "pathlib", "typing", "collections/__init__", "functools", "inspect",
             "dataclasses", "enum", "asyncio/__init__", "asyncio/events", "importlib/__init__",
             "importlib/metadata/__init__", "logging/__init__", "tempfile", "shutil", "subprocess",
             "argparse", "textwrap", "traceback", "warnings", "contextlib", "abc", "ast", "dis"]
PY_PKGS = ["numpy", "pandas", "pytest", "pluggy", "iniconfig", "packaging", "click", "rich",
           "pygments", "markdown_it", "mdurl", "httpx", "httpcore", "h11", "anyio", "sniffio",
           "idna", "certifi", "dateutil", "pytz", "tzdata", "six"]


def python_uv(n):
    wd = f"{HOME}/src/datatool"
    s = Session("python-uv", n, wd, ["claude"])
    claude_agent(s, "-Users-alice-src-datatool")
    s.add("zsh", "process-exec*", f"{HOME}/.local/bin/uv")
    s.read("uv", f"{HOME}/.config/uv/uv.toml")
    s.read("uv", f"{HOME}/.pypirc")
    s.read("uv", f"{wd}/pyproject.toml", count=3)
    s.read("uv", f"{wd}/uv.lock", count=2)
    py_patch = "3.12.4" if n == 1 else "3.12.7"
    cp = f"{HOME}/.local/share/uv/python/cpython-{py_patch}-macos-aarch64-none"
    s.add("uv", "process-exec*", f"{cp}/bin/python3.12")
    for m in subset(s.rng, PY_STDLIB, 0.75):
        s.read("python3.12", f"{cp}/lib/python3.12/{m}.py")
        s.stat("python3.12", f"{cp}/lib/python3.12/__pycache__/{m.split('/')[-1]}.cpython-312.pyc")
    for p in subset(s.rng, PY_PKGS, 0.8):
        ver = f"{s.rng.randint(1, 3)}.{s.rng.randint(0, 9)}.{s.rng.randint(0, 9)}"
        s.read("uv", f"{HOME}/.cache/uv/simple-v14/pypi/{p}.rkyv")
        arch = f"{HOME}/.cache/uv/archive-v0/{s.rand(21, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-')}"
        s.write("uv", f"{arch}/{p}/__init__.py")
        s.write("uv", f"{arch}/{p}-{ver}.dist-info/RECORD")
        s.read("uv", f"{HOME}/.cache/uv/wheels-v3/pypi/{p}/{p}-{ver}-py3-none-any.msgpack")
        site = f"{wd}/.venv/lib/python3.12/site-packages"
        s.write("uv", f"{site}/{p}/__init__.py")
        s.write("uv", f"{site}/{p}-{ver}.dist-info/METADATA")
        s.read("python3.12", f"{site}/{p}/__init__.py")
        s.write("python3.12", f"{site}/{p}/__pycache__/__init__.cpython-312.pyc")
    s.write("uv", f"{HOME}/.cache/uv/.lock", create=False)
    s.write("uv", f"{HOME}/.cache/uv/.tmp{s.rand(6)}/lock")
    s.write("uv", f"{wd}/.venv/pyvenv.cfg")
    s.add("uv", "process-exec*", f"{wd}/.venv/bin/python")
    s.add("uv", "process-exec*", f"{wd}/.venv/bin/pytest")
    for f in subset(s.rng, ["cli", "core", "io", "model", "report", "util"], 0.85):
        s.read("python3.12", f"{wd}/src/datatool/{f}.py")
        s.write("python3.12", f"{wd}/src/datatool/__pycache__/{f}.cpython-312.pyc")
        s.read("python3.12", f"{wd}/tests/test_{f}.py")
        s.write("python3.12", f"{wd}/tests/__pycache__/test_{f}.cpython-312-pytest-8.3.3.pyc")
    s.write("python3.12", f"{wd}/.pytest_cache/v/cache/lastfailed")
    s.write("python3.12", f"{wd}/.pytest_cache/v/cache/nodeids")
    base = f"{TMP}/pytest-of-alice/pytest-{s.rng.randint(1, 400)}"
    for t in ["test_read0", "test_write0", "test_report0"]:
        s.write("python3.12", f"{base}/{t}/out.csv")
    s.write("python3.12", f"{TMP}/tmp{s.rand(8)}/data.parquet")
    s.read("python3.12", f"{HOME}/.matplotlib/matplotlibrc")
    s.add("uv", "network-outbound", "remote:*:443", count=25)
    s.add("python3.12", "sysctl-read", "hw.ncpu")
    s.add("python3.12", "ipc-posix-sem", f"/mp-{s.rand(8)}")
    return s


RUST_LIBS = [f"lib/rustlib/aarch64-apple-darwin/lib/lib{c}-{h}.rlib" for c, h in
             [("std", "b1f0a3c2d9e8f7a6"), ("core", "0e5d1f2a3b4c5d6e"), ("alloc", "9a8b7c6d5e4f3a2b"),
              ("proc_macro", "1a2b3c4d5e6f7a8b"), ("test", "aa55bb66cc77dd88"),
              ("panic_unwind", "1234abcd5678ef90"), ("compiler_builtins", "fedcba9876543210"),
              ("hashbrown", "0f1e2d3c4b5a6978"), ("libc", "5566778899aabbcc")]]
CRATES = [("serde", "1.0.215"), ("serde_json", "1.0.133"), ("regex", "1.11.1"), ("memchr", "2.7.4"),
          ("aho-corasick", "1.1.3"), ("anyhow", "1.0.93"), ("thiserror", "2.0.3"), ("clap", "4.5.21"),
          ("indexmap", "2.6.0"), ("hashbrown", "0.15.2"), ("itoa", "1.0.13"), ("ryu", "1.0.18"),
          ("proc-macro2", "1.0.92"), ("quote", "1.0.37"), ("syn", "2.0.89"), ("unicode-ident", "1.0.14"),
          ("libc", "0.2.166"), ("once_cell", "1.20.2"), ("tempfile", "3.14.0"), ("fastrand", "2.2.0")]


def rust_cargo(n):
    wd = f"{HOME}/src/engine"
    s = Session("rust-cargo", n, wd, ["claude"])
    claude_agent(s, "-Users-alice-src-engine")
    tc = f"{HOME}/.rustup/toolchains/stable-aarch64-apple-darwin"
    s.add("zsh", "process-exec*", f"{HOME}/.cargo/bin/cargo")
    s.read("cargo", f"{HOME}/.rustup/settings.toml")
    s.add("cargo", "process-exec*", f"{tc}/bin/cargo")
    s.add("cargo", "process-exec*", f"{tc}/bin/rustc")
    s.read("cargo", f"{HOME}/.cargo/config.toml")
    s.read("cargo", f"{HOME}/.cargo/credentials.toml")
    for lib in subset(s.rng, RUST_LIBS, 0.8):
        s.read("rustc", f"{tc}/{lib}")
    s.read("rustc", f"{tc}/lib/librustc_driver-{s.hex(16) if False else '9c1d2e3f4a5b6c7d'}.dylib")
    reg = f"{HOME}/.cargo/registry"
    idx = "index.crates.io-6f17d22bba15001f"
    crates = subset(s.rng, CRATES, 0.8) + ([("bitflags", "2.6.0"), ("rustix", "0.38.41")] if n == 2 else [])
    for c, v in crates:
        s.read("cargo", f"{reg}/index/{idx}/.cache/{c[:2]}/{c[2:4]}/{c}")
        s.read("cargo", f"{reg}/cache/{idx}/{c}-{v}.crate")
        for f in ["lib.rs", "de.rs", "ser.rs", "error.rs", "macros.rs"]:
            if s.rng.random() < 0.6:
                s.read("rustc", f"{reg}/src/{idx}/{c}-{v}/src/{f}")
        s.read("cargo", f"{reg}/src/{idx}/{c}-{v}/Cargo.toml")
        h = s.hex(16)
        tgt = f"{wd}/target/debug"
        s.write("rustc", f"{tgt}/deps/lib{c.replace('-', '_')}-{h}.rlib")
        s.write("rustc", f"{tgt}/deps/{c.replace('-', '_')}-{h}.d")
        s.write("cargo", f"{tgt}/.fingerprint/{c}-{h}/lib-{c.replace('-', '_')}")
        s.write("cargo", f"{tgt}/.fingerprint/{c}-{h}/invoked.timestamp")
    s.read("cargo", f"{wd}/Cargo.toml", count=3)
    s.read("cargo", f"{wd}/Cargo.lock", count=2)
    s.write("cargo", f"{wd}/Cargo.lock", create=False)
    for f in subset(s.rng, ["main", "lib", "parse", "eval", "error", "cli", "io"], 0.85):
        s.read("rustc", f"{wd}/src/{f}.rs")
    inc = f"{wd}/target/debug/incremental/engine-{s.rand(13)}/s-{s.rand(8)}-{s.hex(7)}-{s.rand(25)}"
    s.write("rustc", f"{inc}/dep-graph.bin")
    s.write("rustc", f"{inc}/query-cache.bin")
    s.write("rustc", f"{wd}/target/debug/engine")
    s.write("cargo", f"{wd}/target/debug/.cargo-lock")
    s.write("cargo", f"{wd}/target/.rustc_info.json", create=False)
    s.add("cargo", "process-exec*", f"{wd}/target/debug/deps/engine-{s.hex(16)}")
    s.write("rustc", f"{TMP}/rustc{s.rand(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}/symbols.o")
    s.add("cargo", "network-outbound", "remote:*:443", count=8)
    s.add("rustc", "sysctl-read", "hw.logicalcpu")
    return s


def git(n):
    wd = f"{HOME}/src/webapp"
    s = Session("git", n, wd, ["claude"])
    claude_agent(s, "-Users-alice-src-webapp")
    g = "git"
    s.add("zsh", "process-exec*", "/Library/Developer/CommandLineTools/usr/bin/git")
    s.read(g, f"{HOME}/.gitconfig", count=4)
    s.read(g, f"{HOME}/.config/git/ignore")
    s.read(g, f"{HOME}/.config/git/attributes")
    for f in ["HEAD", "config", "index", "packed-refs", "refs/heads/main", "refs/remotes/origin/main",
              "logs/HEAD", "description", "info/exclude"]:
        s.read(g, f"{wd}/.git/{f}", count=2)
    for _ in range(60):
        h = s.hex(40)
        s.read(g, f"{wd}/.git/objects/{h[:2]}/{h[2:]}")
    for p in ["pack-" + fake_hash("p1"), "pack-" + fake_hash(f"p{n}")]:
        s.read(g, f"{wd}/.git/objects/pack/{p}.idx")
        s.read(g, f"{wd}/.git/objects/pack/{p}.pack")
    for _ in range(8):
        h = s.hex(40)
        s.write(g, f"{wd}/.git/objects/{h[:2]}/tmp_obj_{s.rand(6)}")
        s.add(g, "file-write-unlink", f"{wd}/.git/objects/{h[:2]}/tmp_obj_{s.rand(6)}")
        s.write(g, f"{wd}/.git/objects/{h[:2]}/{h[2:]}")
    s.write(g, f"{wd}/.git/index.lock")
    s.add(g, "file-write-unlink", f"{wd}/.git/index.lock")
    s.write(g, f"{wd}/.git/index", create=False)
    s.write(g, f"{wd}/.git/COMMIT_EDITMSG")
    s.write(g, f"{wd}/.git/ORIG_HEAD")
    s.write(g, f"{wd}/.git/FETCH_HEAD")
    s.write(g, f"{wd}/.git/logs/HEAD", create=False)
    s.write(g, f"{wd}/.git/refs/heads/main.lock")
    s.add(g, "file-write-unlink", f"{wd}/.git/refs/heads/main.lock")
    for f in subset(s.rng, ["src/main.tsx", "src/App.tsx", "README.md", "package.json", "src/api.ts"], 0.8):
        s.read(g, f"{wd}/{f}")
    # Hooks are read (git checks them) and, in session 2, a tool tries to install one.
    s.stat(g, f"{wd}/.git/hooks/pre-commit")
    if n == 2:
        s.write("node", f"{wd}/.git/hooks/pre-commit")
    s.add("ssh", "process-exec*", "/usr/bin/ssh")
    s.read("ssh", f"{HOME}/.ssh/config")
    s.read("ssh", f"{HOME}/.ssh/known_hosts", count=2)
    s.read("ssh", f"{HOME}/.ssh/id_ed25519")
    s.add("ssh", "network-outbound", f"/private/tmp/com.apple.launchd.{s.rand(10, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}/Listeners")
    s.add("ssh", "network-outbound", "remote:*:22", count=3)
    s.add("git-credential-osxkeychain", "mach-lookup", "com.apple.SecurityServer")
    s.add(g, "process-exec*", "/Library/Developer/CommandLineTools/usr/libexec/git-core/git-remote-https")
    s.add("git-remote-https", "network-outbound", "remote:*:443", count=4)
    s.write(g, f"{TMP}/git-{s.rand(8)}/msg")
    return s


def adversarial(n):
    """An agent gone wrong: it walks HOME, /etc and ~/Library and reads every credential."""
    wd = f"{HOME}/src/webapp"
    s = Session("adversarial", n, wd, ["claude"])
    claude_agent(s, "-Users-alice-src-webapp")
    a = "node"
    for i in range(300):
        d = s.rng.choice(["Documents", "Documents/taxes", "Documents/work", "Desktop", "Downloads"])
        s.read(a, f"{HOME}/{d}/file-{s.rand(5)}.{s.rng.choice(['pdf', 'txt', 'docx'])}")
    for i in range(200):
        s.read(a, f"{HOME}/Library/Preferences/com.{s.rand(6)}.{s.rand(5)}.plist")
    for i in range(100):
        s.read(a, f"{HOME}/Library/Application Support/{s.rand(7)}/{s.rand(6)}.json")
    for f in ["hosts", "passwd", "group", "shells", "ssh/sshd_config", "ssh/ssh_config", "resolv.conf",
              "sudoers", "master.passwd", "zshrc", "paths", "manpaths", "pf.conf", "services", "protocols"]:
        s.read(a, f"/private/etc/{f}")
    for i in range(80):
        s.read(a, f"/private/etc/{s.rand(8)}.conf")
    for i in range(150):
        s.read(a, f"{HOME}/file{i + 150 * n}.txt")
        s.stat(a, f"{HOME}/.{s.rand(6)}")
    for p in [".ssh/id_rsa", ".ssh/id_ed25519", ".aws/credentials", ".aws/config", ".config/gcloud/credentials.db",
              ".kube/config", ".docker/config.json", ".config/gh/hosts.yml", ".netrc", ".npmrc", ".pypirc",
              ".zsh_history", ".bash_history", "Library/Keychains/login.keychain-db",
              "Library/Application Support/Google/Chrome/Default/Cookies",
              "Library/Application Support/Google/Chrome/Default/Login Data",
              "Library/Application Support/1Password/Data/1password.sqlite", ".gnupg/private-keys-v1.d/abc.key",
              ".password-store/bank.gpg", "Library/Messages/chat.db"]:
        s.read(a, f"{HOME}/{p}")
    s.read(a, f"{wd}/.env")
    s.write(a, f"{HOME}/.zshrc", create=False)
    s.write(a, f"{HOME}/Library/LaunchAgents/com.{s.rand(6)}.agent.plist")
    s.write(a, f"{HOME}/.local/bin/{s.rand(6)}")
    s.write(a, f"{wd}/.git/hooks/post-checkout")
    s.add(a, "network-outbound", f"remote:*:{s.rng.choice([4444, 8081, 31337])}")
    return s


def main():
    for make in [node_npm, python_uv, rust_cargo, git, adversarial]:
        for n in (1, 2):
            make(n).save()


if __name__ == "__main__":
    main()
