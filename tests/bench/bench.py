#!/usr/bin/python3
"""make bench: scenario metrics, per-tick cost at scale, and pictures.

    tests/bench/bench.py [--quick] [--results DIR] [--out DIR]
                         [--tick-bench PATH] [SCENARIO.json...]

Steps, each printed with the time since the start:
  1. the test host up (tests/host/up.sh), then every CPU and memory course
     scenario (tests/scenarios/cpu-*.json, mem-<n>.json; both memory
     policies) through tests/scenarios/run.py into OUT/scenarios;
  2. cost of one tick (tests/bench/cost.py): on the real guests, and on
     generated test:/// nodes of 100, 1,000 and 5,000 domains, in-process
     and through libvirtd, with each daemon's RSS;
  3. a PNG per scenario result (tests/bench/plot.py) into OUT/plots;
  4. OUT/results.md and OUT/results.json (tests/bench/report.py).
Steps 1 and 2 use the real test host, so each runs under
`flock -o /tmp/aos-testhost.lock`.

--quick (make bench BENCH_QUICK=1) touches no guest and takes no lock: it
reuses the scenario results in --results DIR (default OUT/scenarios when
it holds results, else build/scenarios), measures only the in-process
scale, and takes the real-guest and libvirtd numbers from the previous
full run's OUT/cost.json when there is one.

A full run takes about 28 minutes of work on the 2-CPU test machine, most
of it the memory scenarios (4 scenarios x 2 policies, 130-160 s each).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LOCK = "/tmp/aos-testhost.lock"
GOAL_S = 30 * 60


class Progress:
    def __init__(self):
        self.t0 = time.monotonic()
        self.waited = 0.0  # seconds spent waiting for the test host lock

    def stamp(self):
        s = int(time.monotonic() - self.t0)
        return f"[{s // 60:02d}:{s % 60:02d}]"

    def say(self, text):
        print(f"{self.stamp()} {text}", flush=True)

    def elapsed(self):
        """Seconds of work: waiting for the lock does not count."""
        return time.monotonic() - self.t0 - self.waited


def locked(argv):
    return ["flock", "-o", LOCK, *argv]


def lock_busy():
    """True when someone else holds the test host lock right now."""
    return subprocess.run(["flock", "-o", "-n", LOCK, "true"]).returncode != 0


def wait_for_lock(progress):
    """Waits until the test host lock is free, so that the time spent
    waiting is known; the step then takes it with flock -o."""
    if not lock_busy():
        return
    progress.say(f"waiting for the test host lock ({LOCK}), held by "
                 "another test")
    t = time.monotonic()
    while lock_busy():
        time.sleep(2)
    progress.waited += time.monotonic() - t
    progress.say(f"lock free after {time.monotonic() - t:.0f} s")


def stream(argv, progress, log_path=None, env=None):
    """Runs argv, echoing its output with time stamps; returns its exit."""
    log = open(log_path, "w") if log_path else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env=env)
    for line in proc.stdout:
        line = line.rstrip("\n")
        if log:
            log.write(line + "\n")
            log.flush()
        print(f"{progress.stamp()}   {line}", flush=True)
    rc = proc.wait()
    if log:
        log.close()
    return rc


def default_scenarios():
    sc = os.path.join(ROOT, "tests", "scenarios")
    cpu = sorted(glob.glob(os.path.join(sc, "cpu-*.json")),
                 key=lambda p: int(os.path.basename(p)[4:-5]))
    # The course's memory scenarios are mem-<n>, then the page-cache ones;
    # other extras (mem-fast) run when named on the command line.
    mem = sorted((p for p in glob.glob(os.path.join(sc, "mem-*.json"))
                  if os.path.basename(p)[4:-5].isdigit()),
                 key=lambda p: int(os.path.basename(p)[4:-5]))
    cache = sorted(glob.glob(os.path.join(sc, "mem-cache-*.json")) +
                   glob.glob(os.path.join(sc, "mem-refault*.json")))
    return cpu + mem + cache


def has_results(d):
    return any(not p.endswith(".summary.json")
               for p in glob.glob(os.path.join(d, "*.json")))


def merge_previous_cost(quick_path, full_path):
    """Quick runs measure in-process only; the rest comes from the last
    full run.  Returns the merged cost and a note on where it came from."""
    with open(quick_path) as f:
        quick = json.load(f)
    try:
        with open(full_path) as f:
            full = json.load(f)
    except (OSError, ValueError):
        return quick, ("no earlier full run: real-guest and via-libvirtd "
                       "cost are missing")
    keep = [t for t in full.get("tick_bench", [])
            if t.get("mode") != "in-process"]
    quick["tick_bench"] = keep + quick["tick_bench"]
    quick["daemons"] = full.get("daemons", [])
    return quick, (f"real-guest and via-libvirtd cost from the full run of "
                   f"{full.get('generated', '?')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO.json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--results", help="with --quick: scenario results to "
                    "reuse")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--tick-bench", default=os.path.join(ROOT, "tools",
                                                         "tick_bench"))
    args = ap.parse_args()

    p = Progress()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    notes = []
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")

    # 1. scenarios
    if args.quick:
        results = args.results or (os.path.join(out, "scenarios")
                                   if has_results(os.path.join(out,
                                                               "scenarios"))
                                   else os.path.join(ROOT, "build",
                                                     "scenarios"))
        results = os.path.abspath(results)
        p.say(f"quick: no guests; reusing scenario results in {results}")
        notes.append(f"quick run: scenario results reused from {results}")
    else:
        results = os.path.join(out, "scenarios")
        os.makedirs(results, exist_ok=True)
        files = [os.path.abspath(f) for f in args.scenarios] or \
            default_scenarios()
        wait_for_lock(p)
        p.say("test host: tests/host/up.sh")
        if stream(locked([os.path.join(ROOT, "tests", "host", "up.sh")]),
                  p, env=env) != 0:
            p.say("the test host did not come up; stopping")
            return 1
        wait_for_lock(p)
        p.say(f"scenarios: {len(files)} files, both memory policies -> "
              f"{results}")
        rc = stream(locked([os.path.join(ROOT, "tests", "scenarios",
                                         "run.py"), "--policy", "both",
                            "--out", results, *files]),
                    p, os.path.join(out, "scenarios.tap"), env=env)
        failed = 0
        with open(os.path.join(out, "scenarios.tap")) as f:
            failed = sum(1 for line in f if line.startswith("not ok"))
        notes.append(f"scenario runner exit {rc}, {failed} TAP checks not "
                     f"ok (see scenarios.tap)")
        p.say(f"scenarios done (exit {rc}, {failed} checks not ok)")

    # 2. cost
    cost_tool = os.path.join(HERE, "cost.py")
    cost_path = os.path.join(out, "cost.json")
    if args.quick:
        quick_path = os.path.join(out, "cost-quick.json")
        p.say("cost: test:/// in-process at 100, 1,000, 5,000 domains")
        stream([cost_tool, "--out", quick_path, "--tick-bench",
                args.tick_bench], p, env=env)
        cost, note = merge_previous_cost(quick_path, cost_path)
        notes.append(note)
        cost_path = os.path.join(out, "cost-merged.json")
        with open(cost_path, "w") as f:
            json.dump(cost, f, indent=1)
    else:
        wait_for_lock(p)
        p.say("cost: real guests, then 100, 1,000, 5,000 test domains "
              "(in-process and via libvirtd)")
        stream(locked([cost_tool, "--real", "--via-libvirtd", "--out",
                       cost_path, "--tick-bench", args.tick_bench]), p,
               env=env)

    # 3. pictures
    plots = os.path.join(out, "plots")
    os.makedirs(plots, exist_ok=True)
    files = [f for f in sorted(glob.glob(os.path.join(results, "*.json")))
             if not f.endswith(".summary.json")]
    p.say(f"plots: {len(files)} results -> {plots}")
    stream([os.path.join(HERE, "plot.py"), "--out-dir", plots, *files], p,
           env=env)

    # 4. report
    elapsed = p.elapsed()
    if p.waited >= 1:
        notes.append(f"{p.waited / 60:.1f} min spent waiting for the test "
                     "host lock are not counted in the run's time")
    if not args.quick and elapsed > GOAL_S:
        notes.append(f"the run took {elapsed / 60:.1f} min, over the "
                     "30-minute goal")
    stream([os.path.join(HERE, "report.py"), "--scenarios", results,
            "--cost", cost_path, "--plots", plots, "--out", out,
            "--elapsed", f"{elapsed:.0f}",
            *[a for n in notes for a in ("--note", n)]], p, env=env)
    p.say(f"done in {elapsed / 60:.1f} min of work"
          + (f" (plus {p.waited / 60:.1f} min waiting for the test host)"
             if p.waited >= 1 else "") + f": {out}/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
