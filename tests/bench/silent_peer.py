#!/usr/bin/python3
"""How late memory_coordinator's ticks run with a migration peer that
accepts TCP and never answers, against the same daemon without peers.

    tests/bench/silent_peer.py [--ticks N] [--interval I] [--out FILE.json]

Needs the real test host up (make host-up) and holds its lock.  The
guests' budget is set below what they hold, so the migration trigger
fires and the peers are asked for; the peer is a local listener that
takes the connection and says nothing (tests/integration/lib/
silent_peer.py), as a hung libvirtd or a half-open route would.  Each
setting runs N ticks at interval I with -v; the gaps between tick lines,
less the interval, are the lateness.  Reported per setting: ticks, the
lateness's median, 99th percentile and maximum, the ticks the daemon
itself counted late, and the probes it started.  A benchmark, not a test:
the figures move with the host.
"""
import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "lib"))
from lateness import LATE_RE, LOCK, percentile, tick_times  # noqa: E402
from silent_peer import SilentPeer  # noqa: E402

MEM = os.environ.get("MEMORY_COORDINATOR", os.path.join(
    ROOT, "memory_coordinator", "memory_coordinator"))
BUDGET_MIB = 1100  # four 512 MiB guests: a deficit


def say(text):
    print(f"silent_peer: {text}", file=sys.stderr, flush=True)


def run(name, peer_uri, ticks, interval, logdir):
    conf = os.path.join(logdir, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"[daemon]\nuri=qemu:///system\ninterval={interval}\n"
                f"[memory]\nguest_budget_mib={BUDGET_MIB}\n")
        if peer_uri:
            f.write(f"[migration]\nmode=advise\npeers={peer_uri}\n"
                    "trigger_ticks=1\nallow_unsynced_clock=true\n"
                    "allow_unknown_tsc=true\n"
                    f"advise_log={os.path.join(logdir, name + '.jsonl')}\n")
    path = os.path.join(logdir, f"{name}.log")
    with open(path, "w") as log:
        p = subprocess.Popen([MEM, "--config", conf, "-v"], stdout=log,
                             stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ticks * interval * 3 + 30
    while time.monotonic() < deadline:
        with open(path) as f:
            if len(tick_times(f.read())) > ticks:
                break
        if p.poll() is not None:
            break
        time.sleep(1)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    with open(path) as f:
        text = f.read()
    starts = tick_times(text)[:ticks + 1]
    late = [max(0.0, b - a - interval) for a, b in zip(starts, starts[1:])]
    counted = [int(x) for x in LATE_RE.findall(text)]
    return {"setting": name, "exit": rc, "ticks": len(late),
            "late_median_ms": round(1000 * percentile(late, 0.5), 1)
            if late else None,
            "late_p99_ms": round(1000 * percentile(late, 0.99), 1)
            if late else None,
            "late_max_ms": round(1000 * max(late), 1) if late else None,
            "late_ticks_counted": max(counted) if counted else 0,
            "probes": text.count("probing migration peer"),
            "not_answering": text.count("has not answered a probe")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--out")
    args = ap.parse_args()
    logdir = tempfile.mkdtemp(prefix="aos-silent-peer-")
    rows = []
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        say(f"no peers: {args.ticks} ticks at {args.interval} s")
        rows.append(run("no-peers", None, args.ticks, args.interval, logdir))
        with SilentPeer() as sp:
            say(f"silent peer {sp.uri}: {args.ticks} ticks")
            rows.append(run("silent-peer", sp.uri, args.ticks, args.interval,
                            logdir))
    print(f"| setting | ticks | lateness median | p99 | max | counted late "
          f"(> {args.interval / 2:g} s) | probes started |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['ticks']} | {r['late_median_ms']} ms | "
              f"{r['late_p99_ms']} ms | {r['late_max_ms']} ms | "
              f"{r['late_ticks_counted']} | {r['probes']} |")
    say(f"logs in {logdir}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"interval_s": args.interval, "rows": rows}, f,
                      indent=1)
    if any(r["exit"] != 0 for r in rows):
        sys.exit("silent_peer: a daemon did not exit 0")


if __name__ == "__main__":
    main()
