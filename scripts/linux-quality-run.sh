#!/usr/bin/env bash
# Linux live capture quality run (README "Linux live capture"): learn on a real workload, accept
# every proposal, then measure how much of a second, different run of the same workload the learned
# overlay covers, and what tracing costs in wall time.
#
#   scripts/linux-quality-run.sh [SAFEHOUSE_BINARY]
#
# Workload: a small Rust crate with three dependencies (anyhow, itoa, memchr) built offline from the
# local cargo registry. Run 1: `cargo build --offline` from clean. Run 2: `cargo clean` then
# `cargo test --offline` (the same workload, different work: test harness, other artefacts).
# The real HOME is kept (the toolchain lives there); XDG dirs and the overlay go to a scratch dir.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$repo/target/release/safehouse}"
[ -x "$bin" ] || { echo "build it first: cargo build --release (or pass the binary)"; exit 2; }
scratch="$(mktemp -d /tmp/safehouse-quality.XXXXXX)"
export XDG_STATE_HOME="$scratch/state" XDG_CONFIG_HOME="$scratch/config" NO_COLOR=1
crate="$scratch/demo"
mkdir -p "$crate/src"
cat > "$crate/Cargo.toml" <<'EOF'
[package]
name = "demo"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
itoa = "1"
memchr = "2"
EOF
cat > "$crate/src/main.rs" <<'EOF'
fn main() -> anyhow::Result<()> {
    let text = std::fs::read_to_string("Cargo.toml")?;
    let mut buf = itoa::Buffer::new();
    println!("{} newlines", buf.format(memchr::memchr_iter(b'\n', text.as_bytes()).count()));
    Ok(())
}
#[test]
fn counts() {
    assert_eq!(memchr::memchr_iter(b'\n', b"a\nb\n").count(), 2);
}
EOF
cd "$crate"
cargo generate-lockfile --offline -q
overlay="$scratch/overlay.sb"

echo "== run 1: learn from cargo build --offline"
"$bin" learn --json --output "$overlay" -- cargo build --offline -q > "$scratch/run1.json" 2> "$scratch/run1.err"
archive1=$(sed -n 's/^safehouse: session archive: //p' "$scratch/run1.err" | head -1)

# Accept every proposal, as a user who approves the whole review would: the rules as the learner
# renders them, in its order.
python3 - "$scratch/run1.json" "$overlay" <<'EOF'
import json, sys
learned = json.load(open(sys.argv[1]))
props = learned["proposals"]
with open(sys.argv[2], "w") as out:
    out.write(";; accepted: every proposal of run 1\n")
    for p in props:
        out.write(p["grant"]["sbpl"] + "\n")
s = learned["summary"]
print(f"run 1: {s['events']} events, {s['distinct']} distinct accesses, {s['already_allowed']} allowed by the base profile,"
      f" {s['proposed']} covered by {len(props)} proposals ({sum(p['safe'] for p in props)} marked safe),"
      f" {s['secrets']} secret, {len(learned['unhandled'])} unhandled")
EOF
"$bin" check -D "HOME_DIR=$HOME" -D "WORK_DIR=$crate" "$repo/learner/profiles/base-linux.sb" "$overlay"
echo "overlay: $(grep -c '^(allow' "$overlay") rules"

echo "== run 2: cargo clean; cargo test --offline under base + overlay"
cargo clean -q
"$bin" learn --json --output "$overlay" -- cargo test --offline -q > "$scratch/run2.json" 2> "$scratch/run2.err"
archive2=$(sed -n 's/^safehouse: session archive: //p' "$scratch/run2.err" | head -1)

# Coverage: of the distinct accesses of run 2 that the base profile alone denies, how many the
# learned overlay allows (run 2's archive holds the base + overlay decision of every access).
python3 - "$archive2" > "$scratch/run2.batch" <<'EOF'
import json, sys
seen = set()
for line in list(open(sys.argv[1]))[1:]:
    e = json.loads(line)
    key = (e["operation"], e["target"]["raw"])
    if key not in seen:
        seen.add(key)
        print(f"{key[0]}\t{key[1]}")
EOF
"$bin" explain -p "$repo/learner/profiles/base-linux.sb" -D "HOME_DIR=$HOME" -D "WORK_DIR=$crate" --batch "$scratch/run2.batch" > "$scratch/run2.base.jsonl"
python3 - "$archive2" "$scratch/run2.base.jsonl" <<'EOF'
import json, sys
with_overlay = {}
for line in list(open(sys.argv[1]))[1:]:
    e = json.loads(line)
    key = (e["operation"], e["target"]["raw"])
    with_overlay[key] = with_overlay.get(key, "allow") if e["action"] == "allow" else "deny"
base_denied = set()
for line in open(sys.argv[2]):
    d = json.loads(line)
    if d["decision"] != "allow":
        base_denied.add((d["operation"], d["target"]["raw"]))
covered = [k for k in base_denied if with_overlay.get(k) == "allow"]
missed = sorted(k for k in base_denied if with_overlay.get(k) != "allow")
print(f"run 2: {len(with_overlay)} distinct accesses; base alone denies {len(base_denied)};"
      f" the run-1 overlay allows {len(covered)} of them: coverage {100.0 * len(covered) / max(1, len(base_denied)):.1f}%")
for op, raw in missed[:15]:
    print(f"  not covered: {op} {raw}")
EOF

echo "== overhead: wall time, median of 3 (plain / strace alone / safehouse learn --json)"
strace_only=(strace -f -q -ttt -yy -x --seccomp-bpf -s 65536 -e signal=none
  -e trace=%file,%process,fchdir,connect,bind,listen,sendto,sendmsg,fchmod,fchown,fgetxattr,fsetxattr,flistxattr,fremovexattr
  -o "$scratch/overhead.trace")
median() {
  # median of 3 wall times of "$@", each after running $prepare
  local times=()
  for _ in 1 2 3; do
    eval "$prepare"
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}
report() {
  local name="$1"; shift
  local plain traced captured
  plain=$(median "$@")
  traced=$(median "${strace_only[@]}" "$@")
  captured=$(median "$bin" learn --json --output "$overlay" -- "$@")
  echo "$name: plain ${plain}s, strace alone ${traced}s, safehouse learn --json ${captured}s"
}
prepare="cargo clean -q"
report "cargo build --offline (from clean)" cargo build --offline -q
prepare=":"
report "300 x (sh forks cat) + find /usr/share" sh -c 'for i in $(seq 300); do cat /etc/hostname >/dev/null; done; find /usr/share -type f | wc -l'
echo "archives: $archive1 $archive2; scratch: $scratch"
