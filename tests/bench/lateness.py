#!/usr/bin/python3
"""How late vcpu_scheduler's ticks run on a host saturated by its guests,
at the scheduling priorities a unit could give it.

    tests/bench/lateness.py [--seconds S] [--rounds R] [--interval I]
                            [--out FILE.json]

Needs the real test host up (make host-up) and holds its lock.  Every test
guest spins one burner per vCPU, so each pCPU has more runnable vCPU
threads than it can serve.  Then, for each setting below, vcpu_scheduler
runs for S seconds in all at interval I with -v, split over R rounds that
each start at another setting (the test host's speed drifts over minutes),
and its tick lines give the start-to-start gaps:

  default        as started from a shell (nice 0, SCHED_OTHER)
  nice-10        nice -n -10 (a unit's Nice=-10)
  libvirtd-10    the daemon at nice 0, libvirtd at nice -10 for the run
  both-10        both at nice -10

Reported per setting, over all its rounds (a benchmark, not a test: the
figures move with the host): ticks made against ticks due, the gaps' median, 95th
percentile and maximum, the ticks the daemon itself counted as more
than half an interval late, and the CPU time the hypervisor reported as
stolen (/proc/stat) meanwhile.  A nice value belongs to a thread, so
libvirtd is reniced thread by thread.  Progress goes to stderr; the
table to stdout.
"""
import argparse
import fcntl
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))
import guestctl  # noqa: E402

VCPU = os.path.join(ROOT, "vcpu_scheduler", "vcpu_scheduler")
LOCK = "/tmp/aos-testhost.lock"
TICK_RE = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d{3}): tick (\d+):")
LATE_RE = re.compile(r"(\d+) late ticks so far")
SETTINGS = (
    ("default", 0, 0),
    ("nice-10", -10, 0),
    ("libvirtd-10", 0, -10),
    ("both-10", -10, -10),
)


def say(text):
    print(f"lateness: {text}", file=sys.stderr, flush=True)


def libvirtd_pids():
    out = subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def threads(pids):
    """Every thread of the processes: a nice value belongs to a thread, so
    renicing a process's pid alone leaves its workers where they were."""
    out = []
    for pid in pids:
        try:
            out += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except FileNotFoundError:
            pass
    return out


def renice(tids, value):
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, value)
        except ProcessLookupError:
            pass


def cpu_times():
    """(steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[7] if len(v) > 7 else 0, sum(v[:8])


def tick_times(text):
    """Seconds of day of each tick line, in order (a run spans no midnight
    it would matter for: a day wrap only adds one bogus gap)."""
    out = []
    for m in TICK_RE.finditer(text):
        h, mi, s, ms = (int(x) for x in m.groups()[:4])
        out.append(h * 3600 + mi * 60 + s + ms / 1000)
    return out


def percentile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = min(len(v) - 1, max(0, round(q * (len(v) - 1))))
    return v[k]


def run_setting(name, own_nice, libvirtd_nice, seconds, interval, log):
    """One run of the daemon at one setting: its gaps and counts."""
    tids = threads(libvirtd_pids())
    before = {t: os.getpriority(os.PRIO_PROCESS, t) for t in tids}
    argv = [VCPU, str(interval), "-v"]
    if own_nice:
        argv = ["nice", "-n", str(own_nice), *argv]
    renice(tids, libvirtd_nice)
    steal0, total0 = cpu_times()
    try:
        with open(log, "w") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
            time.sleep(seconds)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=30)
    finally:
        for t, v in before.items():
            renice([t], v)
    steal1, total1 = cpu_times()
    with open(log) as f:
        text = f.read()
    times = tick_times(text)
    late = [int(x) for x in LATE_RE.findall(text)]
    return {"exit": rc, "ticks": len(times), "due": int(seconds / interval),
            "gaps": [b - a for a, b in zip(times, times[1:]) if b >= a],
            "late": max(late) if late else 0,
            "steal": steal1 - steal0, "total": total1 - total0}


def summary(name, own_nice, libvirtd_nice, runs, interval):
    gaps = [g for r in runs for g in r["gaps"]]
    return {
        "setting": name,
        "daemon_nice": own_nice,
        "libvirtd_nice": libvirtd_nice,
        "runs": len(runs),
        "exits": [r["exit"] for r in runs],
        "interval_s": interval,
        "ticks": sum(r["ticks"] for r in runs),
        "ticks_due": sum(r["due"] for r in runs),
        "gap_median_s": statistics.median(gaps) if gaps else None,
        "gap_p95_s": percentile(gaps, 0.95),
        "gap_max_s": max(gaps) if gaps else None,
        "late_ticks": sum(r["late"] for r in runs),
        "steal_pct": round(100.0 * sum(r["steal"] for r in runs)
                           / max(1, sum(r["total"] for r in runs)), 1),
    }


def fmt(v):
    return "-" if v is None else f"{v:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40,
                    help="seconds per setting, split over the rounds")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--out", help="also write the results as JSON here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lateness: needs root (it renices libvirtd)")
    if args.rounds < 1 or args.seconds / args.rounds < 3 * args.interval:
        sys.exit("lateness: each round needs at least 3 intervals")
    if not libvirtd_pids():
        sys.exit("lateness: no libvirtd running; run make host-up first")
    lock = open(LOCK, "a")
    say(f"waiting for {LOCK}")
    fcntl.flock(lock, fcntl.LOCK_EX)
    logdir = tempfile.mkdtemp(prefix="aos-lateness-")
    runs = {name: [] for name, _, _ in SETTINGS}
    each = args.seconds / args.rounds
    with guestctl.GuestSet() as gs:
        for g in gs:
            g.burn(-1, copies=g.dom.info()[3])
        say(f"{len(gs)} guests spinning; {os.cpu_count()} pCPUs")
        try:
            time.sleep(3)
            for k in range(args.rounds):
                # Each round starts at another setting, so that a host
                # that slows down over the run slows every setting alike.
                for i in range(len(SETTINGS)):
                    name, own, lv = SETTINGS[(i + k) % len(SETTINGS)]
                    say(f"round {k + 1}/{args.rounds}, {name}: {each:.0f} s "
                        f"at interval {args.interval:g} s")
                    runs[name].append(run_setting(
                        name, own, lv, each, args.interval,
                        os.path.join(logdir, f"{name}-{k + 1}.log")))
        finally:
            gs.stop_all()
    results = [summary(name, own, lv, runs[name], args.interval)
               for name, own, lv in SETTINGS]
    print(f"| setting | ticks / due | gap median | gap p95 | gap max | "
          f"late (> {args.interval / 2:g} s) | steal |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['setting']} | {r['ticks']} / {r['ticks_due']} | "
              f"{fmt(r['gap_median_s'])} s | {fmt(r['gap_p95_s'])} s | "
              f"{fmt(r['gap_max_s'])} s | {r['late_ticks']} | "
              f"{r['steal_pct']} % |")
    print(f"daemon logs in {logdir}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(x == 0 for r in results for x in r["exits"]) else 1


if __name__ == "__main__":
    sys.exit(main())
