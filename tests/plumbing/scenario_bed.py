#!/usr/bin/python3
"""The CPU scenarios' watch on the test host's pCPU speed (TAP): the probe
tool's output, how ticks are judged, and when an attempt is set aside."""
import io
import os
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "scenarios"))
sys.path.insert(0, os.path.join(HERE, "lib"))
import run  # noqa: E402  (first: it puts the monitors on the path)
import mem_scenario  # noqa: E402
import tapcases  # noqa: E402

CASES = tapcases.Cases()
case = CASES.add


def ticks_of(ratios):
    return [{"tick": i + 1, "speed_ratio": r, "slow_pcpu": None if r is None
             else 0} for i, r in enumerate(ratios)]


# (ratios per tick, expected stretch as (first, last) or None)
STRETCHES = [
    ([1.0, 1.1, 0.9, 1.2], None),
    ([1.0, 2.9, 1.0, 1.1], None),                 # a lone outlier
    ([1.0, 2.5, 2.6, 1.0, 1.0], None),            # two ticks only
    ([2.5, 1.0, 1.0, 1.0, 1.0, 2.6, 1.0], None),  # two, a window apart
    ([1.0, 2.5, 2.6, 2.7, 1.0], (2, 4)),
    ([1.0, 2.5, 1.0, 2.6, 1.0, 2.7, 1.0], (2, 6)),  # comes and goes
    ([1.0, 2.5, 1.0, 1.0, 2.6, 1.0, 2.7], None),  # 2 of every 5 only
    ([2.5, 2.6, 2.7, 1.0, 1.0, 1.0, 1.0, 2.1, 2.2, 2.3, 2.4], (8, 11)),
    ([1.0, 2.5, None, 2.6, 2.7], (2, 5)),         # no sample is not slow
    ([1.3, 1.3, 1.3], None),                      # at the limit is equal
    ([1.35, 1.35, 1.35], (1, 3)),
    ([], None),
]

for ratios, want in STRETCHES:
    def check(ratios=ratios, want=want):
        got = run.unequal_stretch(ticks_of(ratios))
        got = got and (got[0], got[1])
        return got == want, f"{ratios} -> {got}, want {want}"
    case(f"unequal stretch of {ratios}")(check)


# Pin changes after balance: (ratios per tick, balanced at, pins by tick,
# moves by tick, expected (needless, answering the host)).  The phase
# starts at tick 0 and ends at the last tick.
CHANGES = [
    # a move while the pCPUs ran at equal speed is needless
    ([1.0] * 12, 2, {9: 1}, {9: 1}, ([(9, 1)], [])),
    # the same move decided on ticks where one pCPU ran slow answers it
    ([1.0] * 5 + [1.6] * 3 + [1.0] * 4, 2, {9: 1}, {9: 1}, ([], [(9, 1)])),
    # slow ticks older than the deciding window excuse nothing
    ([1.6] * 2 + [1.0] * 10, 2, {11: 1}, {11: 1}, ([(11, 1)], [])),
    # claiming unpinned vCPUs on the first decision is not a repin...
    ([1.0] * 12, 1, {2: 4}, {}, ([], [])),
    # ... but a claim after it is
    ([1.0] * 12, 2, {6: 1}, {}, ([(6, 1)], [])),
    # changes before the phase balanced are the balancing itself
    ([1.0] * 12, 5, {3: 2, 5: 1}, {3: 2, 5: 1}, ([], [])),
    # a phase that never balanced has no "after"
    ([1.0] * 12, None, {7: 1}, {7: 1}, ([], [])),
    # no probe sample is no witness
    ([None] * 12, 2, {9: 1}, {9: 1}, ([(9, 1)], [])),
]

for ratios, bal, pins, moves, want in CHANGES:
    def check(ratios=ratios, bal=bal, pins=pins, moves=moves, want=want):
        got = run.judge_changes(ticks_of(ratios), 0, len(ratios), bal, pins,
                                moves)
        return got == want, f"{got}, want {want}"
    case(f"changes after balance at {bal}: pins {pins}, moves {moves}, "
         f"speeds {ratios}")(check)


def sd_ticks(ratios, sds):
    return [dict(t, sd=sd) for t, sd in zip(ticks_of(ratios), sds)]


# The first balanced tick of a phase starting at 0: (ratios per tick,
# measured sd per tick, placement sd per tick, expected (tick, how)).
BALANCED = [
    # measured balance counts whatever the speed
    ([1.0, 1.0, 1.0], [9.0, 4.0, 3.0], {}, (2, "measured")),
    ([1.0, 1.7, 1.7], [9.0, 9.0, 3.0], {}, (3, "measured")),
    # a slow pCPU's tick with a balanced placement counts as placed...
    ([1.0, 1.7, 1.7], [9.0, 9.0, 9.0], {1: 0.0, 2: 0.0, 3: 0.0},
     (2, "placed")),
    # ... but not at equal speed: then the measurement has to show it
    ([1.0, 1.0, 1.0], [9.0, 9.0, 9.0], {1: 0.0, 2: 0.0, 3: 0.0},
     (None, None)),
    ([1.0, 1.3, 1.0], [9.0, 9.0, 9.0], {2: 0.0}, (None, None)),
    # nor with an unbalanced or loose placement
    ([1.7, 1.7, 1.7], [9.0, 9.0, 9.0], {1: 19.6, 2: None, 3: 5.1},
     (None, None)),
    ([1.7, 1.7, 1.7], [9.0, 9.0, 9.0], {1: 19.6, 2: 5.0}, (2, "placed")),
    # no probe sample is no witness
    ([None, None], [9.0, 9.0], {1: 0.0, 2: 0.0}, (None, None)),
]

for ratios, sds, placed, want in BALANCED:
    def check(ratios=ratios, sds=sds, placed=placed, want=want):
        got = run.balanced_tick(sd_ticks(ratios, sds), 0, len(ratios), placed)
        return got == want, f"{got}, want {want}"
    case(f"balanced tick of sds {sds} placed {placed} at speeds "
         f"{ratios}")(check)


# Pin changes of a run that should make none: (ratios per tick, changes by
# tick, expected (decided at equal speed, answering the host)).
NO_CHANGES = [
    ([1.0] * 10, {}, ([], [])),
    ([1.0] * 10, {7: 2}, ([(7, 2)], [])),
    ([1.0, 1.0, 1.7, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], {7: 2},
     ([], [(7, 2)])),
    ([1.0, 1.7] + [1.0] * 8, {7: 2, 9: 2}, ([(9, 2)], [(7, 2)])),
]

for ratios, changes, want in NO_CHANGES:
    def check(ratios=ratios, changes=changes, want=want):
        got = run.split_by_speed(ticks_of(ratios), changes)
        return got == want, f"{got}, want {want}"
    case(f"changes {changes} split by speeds {ratios}")(check)


def fault_samples(per_tick):
    """Samples whose guest v1's major-fault counter grows by per_tick[k]."""
    out, total = [], 0
    for k, d in enumerate(per_tick, start=1):
        total += d
        out.append({"k": k, "guests": {"v1": {"majflt": total},
                                       "v2": {"majflt": 0}}})
    return out


FR = {"guests": "first", "last_ticks": 3, "per_s": 100}
# (major faults per tick, whether a refault run may end)
# (a rate needs two samples: the first tick gives none)
SETTLED = [
    ([0, 2000, 0, 0], False),         # 2 quiet ticks of 3
    ([0, 2000, 2000, 0, 0, 0], True),
    ([0, 2000, 0, 0, 250], True),     # the mean of the last 3 is 83...
    ([0, 2000, 0, 350, 0], False),    # ... and here 117
    ([0, 0, 0], False),               # too short to judge
]

for per_tick, want in SETTLED:
    def check(per_tick=per_tick, want=want):
        got = mem_scenario.faults_settled(fault_samples(per_tick),
                                          ["v1", "v2"], FR, run.subset)
        return got == want, f"{got}, want {want}"
    case(f"refault run may end after faults {per_tick}: {want}")(check)


@case("tick speed: median of the rounds in the tick, slowest pCPU")
def _():
    samples = [(10.1, [800, 300]), (10.4, [900, 300]), (10.7, [300, 310]),
               (11.2, [300, 900])]
    ratio, slow = run.tick_speed(samples, 10.0, 11.0)
    want = (round(800 / 300, 2), 0)
    return (ratio, slow) == want, f"{(ratio, slow)} want {want}"


@case("tick speed: no round in the tick says nothing")
def _():
    return run.tick_speed([(5.0, [1, 2])], 10.0, 11.0) == (None, None), ""


def fake_attempts(outcomes):
    """cpu_attempt stand-in: each outcome is (checks passed?, bed unequal?)."""
    calls = []

    def attempt(sc, gs, conn, args, tap):
        passed, unequal = outcomes[len(calls)]
        calls.append(1)
        tap.ok(True, "ran")
        tap.ok(passed, "balanced")
        return {"ticks": [], "unequal_bed": (3, 9, 2.5, 0) if unequal
                else None}
    return attempt, calls


class Collect(run.Tap):
    def __init__(self):
        super().__init__()
        self.out = io.StringIO()

    def ok(self, cond, desc):
        self.n += 1
        self.failed += 0 if cond else 1
        self.out.write(f"{'ok' if cond else 'not ok'} - {desc}\n")

    def note(self, text):
        self.out.write(f"# {text}\n")


# (outcomes of the attempts, attempts expected, failed checks expected,
#  a "set aside" note expected)
ATTEMPTS = [
    ([(True, True)], 1, 0, False),      # passing on an unequal bed counts
    ([(False, False)], 1, 1, False),    # failing on an equal bed fails
    ([(False, True), (True, False)], 2, 0, True),
    ([(False, True), (False, False)], 2, 1, True),
    # never more than CPU_ATTEMPTS
    ([(False, True)] * run.CPU_ATTEMPTS, run.CPU_ATTEMPTS, 1, True),
]

for outcomes, n_att, n_fail, aside in ATTEMPTS:
    def check(outcomes=outcomes, n_att=n_att, n_fail=n_fail, aside=aside):
        attempt, calls = fake_attempts(outcomes)
        waits = []
        saved = run.cpu_attempt, run.wait_for_equal_bed
        run.cpu_attempt = attempt
        run.wait_for_equal_bed = lambda out, name, tap: waits.append(name)
        try:
            tap = Collect()
            res = run.run_cpu_attempts({"name": "x"}, None, None,
                                          types.SimpleNamespace(out=None), tap)
        finally:
            run.cpu_attempt, run.wait_for_equal_bed = saved
        text = tap.out.getvalue()
        ok = (len(calls) == n_att and tap.failed == n_fail and
              len(waits) == n_att - 1 and
              tap.n == 2 and ("set aside" in text) == aside and
              res["attempt"] == n_att and len(res["set_aside"]) == n_att - 1)
        return ok, text
    case(f"attempts {outcomes}")(check)


# Unequal for {unequal} seconds, then equal; stamped on CLOCK_MONOTONIC
# as the real probe is.
FAKE_PROBE = """#!/usr/bin/python3
import time
end = time.monotonic() + {unequal}
while True:
    now = time.monotonic()
    print(f"{{now:.3f}} " + ("800 300" if now < end else "300 310"),
          flush=True)
    time.sleep(0.2)
"""


def wait_with_fake_probe(unequal_s, limit_s):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        probe = os.path.join(d, "probe")
        with open(probe, "w") as f:
            f.write(FAKE_PROBE.format(unequal=unequal_s))
        os.chmod(probe, 0o755)
        saved = run.PROBE, run.BED_WAIT_S
        run.PROBE, run.BED_WAIT_S = probe, limit_s
        try:
            tap = Collect()
            start = time.monotonic()
            run.wait_for_equal_bed(d, "x", tap)
            return time.monotonic() - start, tap.out.getvalue()
        finally:
            run.PROBE, run.BED_WAIT_S = saved


@case("waiting for the bed: returns once it reads equal for BED_TICKS s")
def _():
    took, text = wait_with_fake_probe(2, 30)
    return 2 + run.BED_TICKS - 1 <= took <= 2 + run.BED_TICKS + 3 and \
        "equal again" in text, f"{took:.1f} s: {text}"


@case("waiting for the bed: gives up after BED_WAIT_S and says so")
def _():
    took, text = wait_with_fake_probe(60, 3)
    return 3 <= took <= 6 and "still unequal" in text, f"{took:.1f} s: {text}"


@case("pcpu_probe prints a time and one positive cost per online CPU")
def _():
    p = subprocess.Popen([run.PROBE, "--interval-ms", "20", "--iterations",
                          "20000"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
    finally:
        p.terminate()
        out, _ = p.communicate()
    lines = [line.split() for line in out.splitlines()]
    ncpu = os.cpu_count()
    ok = len(lines) >= 3 and all(
        len(f) == 1 + ncpu and float(f[0]) > 0 and
        all(float(c) > 0 for c in f[1:]) for f in lines)
    return ok, out[:300]


@case("pcpu_probe refuses a bad option with exit 2 and a message")
def _():
    r = subprocess.run([run.PROBE, "--interval-ms", "0"], capture_output=True,
                       text=True, timeout=10)
    return r.returncode == 2 and "pcpu_probe:" in r.stderr, r.stderr


# The placement check of the CPU scenarios: the pins at the end of a phase
# against the loads the scenario started, each at its calibrated demand.
DEMAND = {"heavy": 92.7, "light": 30.4, "equal": 41.5}
ON0 = ((True, False),)
ON1 = ((False, True),)
ANY = ((True, True),)
# (loads per guest, pins per guest, expected sd or None, loose guests)
PLACEMENTS = [
    ({"a": "heavy", "b": "light", "c": "heavy", "d": "light"},
     {"a": ON0, "b": ON0, "c": ON1, "d": ON1}, 0.0, []),
    # both heavy on one pCPU: 100 (capped) against 60.8
    ({"a": "heavy", "b": "heavy", "c": "light", "d": "light"},
     {"a": ON0, "b": ON0, "c": ON1, "d": ON1}, 19.6, []),
    ({"a": "equal", "b": "equal", "c": "equal", "d": "equal"},
     {"a": ON0, "b": ON0, "c": ON0, "d": ON1}, 29.2, []),  # 100 (capped), 41.5
    # an unloaded guest may stay unpinned; a loaded one may not
    ({"a": None, "b": None, "c": "light", "d": "light"},
     {"a": ANY, "b": ANY, "c": ON0, "d": ON1}, 0.0, []),
    ({"a": "light", "b": None, "c": "light", "d": "light"},
     {"a": ANY, "b": ANY, "c": ON0, "d": ON1}, None, ["a"]),
    # two vCPUs each, one burner per vCPU: split, each pCPU has 71.9
    ({"a": "equal", "b": "light", "c": None, "d": None},
     {"a": ON0 + ON1, "b": ON1 + ON0, "c": ANY + ANY, "d": ANY + ANY},
     0.0, []),
    # both vCPUs of the equal guest together: 83 against 60.8
    ({"a": "equal", "b": "light", "c": None, "d": None},
     {"a": ON0 + ON0, "b": ON1 + ON1, "c": ANY + ANY, "d": ANY + ANY},
     11.1, []),
    # more vCPUs than pCPUs: three light against two equal
    ({"a": "light", "b": "equal", "c": "equal", "d": None},
     {"a": ON0 + ON0 + ON0, "b": ON1, "c": ON1, "d": ANY}, 4.1, []),
    # one vCPU of a loaded guest left free is loose
    ({"a": "light", "b": None, "c": None, "d": None},
     {"a": ON0 + ANY, "b": ANY, "c": ANY, "d": ANY}, None, ["a"]),
]

for loads, pins, want, loose in PLACEMENTS:
    def check(loads=loads, pins=pins, want=want, loose=loose):
        sd, got_loose = run.placement_sd(pins, loads, DEMAND, 2)
        sd = None if sd is None else round(sd, 1)
        return (sd, got_loose) == (want, loose), \
            f"{(sd, got_loose)}, want {(want, loose)}"
    case(f"placement sd of {loads} pinned {pins}")(check)


@case("vCPUs per guest: one count, a list in guest order, or 1")
def _():
    names = ["v1", "v2", "v3", "v4"]
    got = (run.wanted_vcpus({}, names), run.wanted_vcpus({"vcpus": 2}, names),
           run.wanted_vcpus({"vcpus": [3, 2]}, names))
    want = ({"v1": 1, "v2": 1, "v3": 1, "v4": 1},
            {"v1": 2, "v2": 2, "v3": 2, "v4": 2},
            {"v1": 3, "v2": 2, "v3": 1, "v4": 1})
    return got == want, f"{got}, want {want}"


@case("declared loads: the last change at or before the tick")
def _():
    sc = {"loads": [{"at": 0, "guests": "all", "load": "light"},
                    {"at": 14, "guests": "first-half", "load": "heavy"}]}
    names = ["v1", "v2", "v3", "v4"]
    got = (run.declared_loads(sc, names, 0), run.declared_loads(sc, names, 14))
    want = ({"v1": "light", "v2": "light", "v3": "light", "v4": "light"},
            {"v1": "heavy", "v2": "heavy", "v3": "light", "v4": "light"})
    return got == want, f"{got}, want {want}"


CONSUMER_LOGS = [
    ("consumer: start rate=60 MB/s limit=1500 MB hold=5 s\n"
     "consumer: reached 1500 MB at 25.1 s (limit)\n",
     (("limit", 1500), (0, 0.0), (0, 0, 0.0))),
    ("consumer: fell behind by 1.2 s at 300 MB\n"
     "consumer: fell behind by 2.8 s at 410 MB\n"
     "consumer: reached 466 MB at 12.0 s (low memory)\n",
     (("low memory", 466), (2, 2.8), (0, 0, 0.0))),
    ("consumer: waited 1.4 s for memory at 112 MB\n"
     "consumer: waited 0.3 s for memory at 400 MB\n"
     "consumer: reached 1500 MB at 27.0 s (limit)\n",
     (("limit", 1500), (0, 0.0), (2, 1.7, 1.4))),
    ("consumer: waited 1.2 s for memory at 112 MB\n"
     "consumer: waited 10.0 s for memory at 322 MB, none came\n"
     "consumer: reached 322 MB at 31.0 s (low memory)\n",
     (("low memory", 322), (0, 0.0), (2, 11.2, 10.0))),
    ("", ((None, 0), (0, 0.0), (0, 0, 0.0))),
]

for text, want in CONSUMER_LOGS:
    def check(text=text, want=want):
        got = (mem_scenario.consumer_outcome(text),
               mem_scenario.consumer_stalls(text),
               mem_scenario.consumer_waits(text))
        return got == want, f"{got}, want {want}"
    case(f"consumer log: outcome, stalls and waits {want}")(check)


if __name__ == "__main__":
    sys.exit(CASES.main())
