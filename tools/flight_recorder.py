#!/usr/bin/env python3
"""Reads the flight recorder's files of every rank of a plait job and says who is stuck.

    python3 tools/flight_recorder.py DIR

DIR holds plait_flight_rank<R>.json, one per rank (runtime/flight_recorder.hpp writes them on an error
out of a step, a deadline, SIGTERM or SIGUSR1; format "plait-flight-1", docs/training.md). For each rank
it prints, per device, the last finished instruction and every unfinished one (running, or failed: an
exception left it); a rank without a file is "no record (dead?)". Then one verdict line:

    verdict: rank 2 is stuck after step 2's optimizer_step (micro-batch 0, device 2), which finished,
             and began nothing later. Ranks 0, 1 wait for it in all_reduce bucket 1 at step 3.

The ranks in an unfinished collective at step S wait for the ranks that have not started that
collective: those behind (their last record says where), or dead (no file). Standard library only.
"""

import json
import os
import re
import sys

FILE = re.compile(r"^plait_flight_rank(\d+)\.json$")
CROSS_RANK = {"all_reduce", "reduce_scatter", "all_gather"}  # with peer 1: the data-parallel group


def load(folder):
    ranks = {}
    for name in sorted(os.listdir(folder)):
        m = FILE.match(name)
        if not m:
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format") != "plait-flight-1":
            raise SystemExit(f"plait: {name} is not a flight recorder file of format plait-flight-1. "
                             "The tool reads only that format. Fix: point it at the folder plait wrote.")
        ranks[int(m.group(1))] = data
    return ranks


def seconds(ns):
    if abs(ns) < 1e6:
        return f"{ns / 1e3:.1f} us"
    return f"{ns / 1e6:.1f} ms" if abs(ns) < 1e9 else f"{ns / 1e9:.3f} s"


def where(r):
    return f"step {r['step']}'s {r['what']} (micro-batch {r['microbatch']}, device {r['device']})"


def describe(r, now):
    extra = []
    if r["bytes"]:
        extra.append(f"{r['bytes']} bytes")
    if r["op"] in ("send", "recv") and r["peer"] >= 0:
        extra.append(("to" if r["op"] == "send" else "from") + f" inner rank {r['peer']}")
    if r["state"] == "finished":
        extra.append(f"took {seconds(r['finish_ns'] - r['start_ns'])}")
    else:
        extra.append(f"{r['state']}, started {seconds(now - r['start_ns'])} before the dump")
    return f"step {r['step']}, {r['what']}, micro-batch {r['microbatch']} ({', '.join(extra)})"


def flatten(data):
    out = []
    for dev in data["devices"]:
        for r in dev["records"]:
            r = dict(r)
            r["device"] = dev["device"]
            out.append(r)
    return out


def report(folder):
    ranks = load(folder)
    if not ranks:
        raise SystemExit(f"plait: no plait_flight_rank<R>.json in {folder}. The flight recorder writes one "
                         "per rank when a step fails or a rank gets SIGTERM or SIGUSR1. Fix: pass the folder "
                         "of flight_options::dir or PLAIT_FLIGHT_DIR.")
    count = max(max(d["ranks"] for d in ranks.values()), max(ranks) + 1)
    policy = next(iter(ranks.values())).get("policy", "")
    print(f"plait flight recorder: {count} rank(s) of {policy} in {folder}")
    records = {k: flatten(d) for k, d in ranks.items()}
    for k in range(count):
        if k not in ranks:
            print(f"rank {k}: no record (dead?)")
            continue
        d = ranks[k]
        now = d["steady_now_ns"]
        print(f"rank {k} on {d['host']} (pid {d['pid']}), written on {d['reason']}:")
        if d.get("error"):
            print(f"  error: {d['error']}")
        for dev in d["devices"]:
            rs = [dict(r, device=dev["device"]) for r in dev["records"]]
            done = [r for r in rs if r["state"] == "finished"]
            open_ = [r for r in rs if r["state"] != "finished"]
            print(f"  device {dev['device']}: {dev['started']} started, {len(rs)} held")
            if done:
                print(f"    last finished: {describe(max(done, key=lambda r: r['finish_ns']), now)}")
            for r in open_:
                print(f"    unfinished:    {describe(r, now)}")
            if not rs:
                print("    nothing recorded")
    print(verdict(count, ranks, records))


def latest(rs):
    return max(rs, key=lambda r: (r["start_ns"], r["finish_ns"])) if rs else None


def position(k, ranks, records):
    """Where rank k is: its unfinished record, else after its last finished one."""
    if k not in ranks:
        return f"rank {k} has no record (dead?)"
    rs = records[k]
    open_ = [r for r in rs if r["state"] != "finished"]
    if open_:
        r = latest(open_)
        return f"rank {k} is stuck at {where(r)}, {r['state']}"
    r = latest(rs)
    if r is None:
        return f"rank {k} recorded nothing"
    return f"rank {k} is stuck after {where(r)}, which finished, and began nothing later"


def verdict(count, ranks, records):
    waits = {}  # (step, what) -> ranks in that collective, unfinished
    for k, rs in records.items():
        for r in rs:
            if r["state"] != "finished" and r["op"] in CROSS_RANK and r["peer"] == 1:
                waits.setdefault((r["step"], r["what"]), set()).add(k)
    if waits:
        step, what = min(waits, key=lambda key: (key[0], -len(waits[key]), key[1]))  # the earliest, most waited
        waiting = sorted(waits[(step, what)])
        began = {k for k, rs in records.items() if any((r["step"], r["what"]) == (step, what) for r in rs)}
        behind = [k for k in range(count) if k not in began]
        who = ", ".join(str(k) for k in waiting)
        noun = "Rank" if len(waiting) == 1 else "Ranks"
        verb = "waits" if len(waiting) == 1 else "wait"
        if behind:
            them = "it" if len(behind) == 1 else "them"
            stuck = ". ".join(position(k, ranks, records) for k in behind)
            return f"verdict: {stuck}. {noun} {who} {verb} for {them} in {what} at step {step}."
        return (f"verdict: {noun} {who} {verb} in {what} at step {step}, and no rank is behind: "
                "every rank began it, so the transport between them stalled or failed (read each rank's error).")
    open_ = [(k, r) for k, rs in records.items() for r in rs if r["state"] != "finished"]
    if open_:
        k, r = min(open_, key=lambda kr: kr[1]["start_ns"])
        return f"verdict: no rank waits in a collective across ranks. Rank {k} is stuck at {where(r)}, {r['state']}."
    missing = [k for k in range(count) if k not in ranks]
    if missing:
        return "verdict: every record finished. " + ". ".join(position(k, ranks, records) for k in missing) + "."
    return "verdict: every record of every rank finished: no rank is stuck."


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2 if len(argv) != 2 else 0
    report(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
