#!/usr/bin/env bash
# Regenerate samples/strace/*.trace: real `strace` output of small commands, recorded with the exact
# options the Linux live capture uses (see `strace_options()` in learner/src/strace.rs), in a scratch
# tree under /tmp/safehouse-strace (HOME=/tmp/safehouse-strace/home, workdir .../work).
# The unit tests in learner/src/strace.rs read these files and assert on the paths below.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/samples/strace"
root=/tmp/safehouse-strace
rm -rf "$root" && mkdir -p "$root/home/.config/demo" "$root/work/sub dir" && cd "$root/work"
printf 'name = "demo"\n' > "$root/home/.config/demo/config.toml"
opts=(-f -q -ttt -yy -x --seccomp-bpf -s 65536 -e signal=none
      -e trace=%file,%process,fchdir,connect,bind,listen,sendto,sendmsg,fchmod,fchown,fgetxattr,fsetxattr,flistxattr,fremovexattr)
export HOME="$root/home" LANG=C.UTF-8 PATH=/usr/bin:/bin

# 1. A shell pipeline: relative paths, cd into an awkward name, temp files created and removed.
strace "${opts[@]}" -o "$out/shell.trace" /bin/sh -c '
  cd "sub dir" && printf "x\n" > "a \"q\" <t>.txt" && mkdir -p ../made/deep && mv "a \"q\" <t>.txt" ../made/deep/moved.txt
  cd .. && ls made/deep | sort > listing.txt && rm -r made && cat missing.txt 2>/dev/null; ln -s listing.txt link.txt; cat link.txt >/dev/null
  tmp=$(mktemp -p "$PWD" t.XXXX) && echo y > "$tmp" && rm "$tmp"; (cd / && true); exit 0'

# 2. Python: config under ~/.config read, cache under ~/.cache written, a thread that changes
#    directory, fchdir, sockets (UNIX bind+listen+connect, TCP listen+connect, UDP sendto).
strace "${opts[@]}" -o "$out/python.trace" /usr/bin/python3 -S -c '
import os, socket, threading
home = os.environ["HOME"]
open(home + "/.config/demo/config.toml").read()
os.makedirs(home + "/.cache/demo", exist_ok=True)
open(home + "/.cache/demo/state.json", "w").write("{}")
s = socket.socket(socket.AF_UNIX); s.bind("demo.sock"); s.listen()
c = socket.socket(socket.AF_UNIX); c.connect(os.getcwd() + "/demo.sock"); os.unlink("demo.sock")
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(); u = socket.socket(); u.connect(t.getsockname())
w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); w.sendto(b"x", ("192.0.2.1", 53))
def worker():
    os.chdir("sub dir"); open("from-thread.txt", "w").close()
th = threading.Thread(target=worker); th.start(); th.join()
open("after-thread.txt", "w").close()
os.fchdir(os.open("/usr", os.O_RDONLY)); os.stat("share")
try: open(home + "/.ssh/id_ed25519").read()
except OSError: pass
'
ls -l "$out"
