#!/usr/bin/env python3
"""Writes a synthetic `log stream --style ndjson` session for timing `safehouse learn --replay`.

Usage: scripts/gen-replay-session.py EVENTS OUT.ndjson

Tagged allow reports (the reporting profile's) of file reads and writes under six roots with
random file names, so nearly every event is a distinct path: the learner's worst case. Seeded, so
the same EVENTS gives the same bytes.
"""
import json
import random
import sys

TAG = "sh-learn-7f3a91"
ROOTS = [
    "/Users/alice/src/project",
    "/Users/alice/.cache/tool",
    "/Users/alice/Library/Caches/com.example",
    "/private/var/folders/7x/k2m9q1vn5d3c8b1w0000gn/T",
    "/opt/homebrew/lib",
    "/private/tmp/build",
]
OPS = ["file-read-data", "file-read-metadata", "file-write-create", "file-write-data"]


def main():
    events, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    with open(out, "w") as f:
        f.write('Filtering the log data using "sender == \\"Sandbox\\""\n')
        for i in range(events):
            root = ROOTS[rng.randrange(len(ROOTS))]
            depth = rng.randrange(1, 4)
            parts = ["d%d" % rng.randrange(50) for _ in range(depth - 1)]
            parts.append("".join(rng.choice(letters) for _ in range(10)) + ".js")
            path = root + "/" + "/".join(parts)
            op = OPS[rng.randrange(len(OPS))]
            s, us = i // 10000, (i % 10000) * 100
            record = {
                "timezoneName": "", "messageType": "Default", "eventType": "logEvent", "source": None,
                "formatString": "%s", "userID": 0, "activityIdentifier": 0, "subsystem": "", "category": "",
                "threadID": 391356 + i % 1000,
                "processImagePath": "/kernel",
                "senderImagePath": "/System/Library/Extensions/Sandbox.kext/Contents/MacOS/Sandbox",
                "timestamp": "2026-09-13 %02d:%02d:%02d.%06d-0700" % (10 + s // 3600, (s // 60) % 60, s % 60, us),
                "machTimestamp": 17943921132726 + i * 1000,
                "eventMessage": "Sandbox: node(%d) allow %s %s\n%s" % (4000 + i % 8, op, path, TAG),
                "processID": 0, "senderProgramCounter": 148280, "parentActivityIdentifier": 0,
            }
            f.write(json.dumps(record, separators=(",", ":")).replace("/", "\\/") + "\n")
        f.write('{"count":%d,"finished":1}\n' % events)


if __name__ == "__main__":
    main()
