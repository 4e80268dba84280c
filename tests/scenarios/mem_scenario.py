"""Memory scenarios for tests/scenarios/run.py.

One run: every guest back at 512 MiB, idle, with its page cache dropped and
swap off; the scenario's "setup" workloads run to their end (say, a guest
reads its data file once, to be full of cache); memory_coordinator starts
at a 1 s interval with the scenario's policy and budget; the workloads
start in the guests as the scenario says; and one sample per second is
taken of every guest's balloon stats, the host's free memory and the
guests' consoles.

A scenario's workloads (each with "at", the tick it starts on, and
"guests", a subset name of run.subset):
  "consumers": [{rate, limit, hold}]       the course's anonymous consumer,
                                           stopping at --min-free
  "workloads": [{"kind": ..., ...}]        any of
     consume  rate, limit, hold, stop ("min-free" | "min-room"), and for a
              mixed consumer file + file_mb (tests/guest/consumer.c)
     stream   rate, offset, length, passes  (fileio read: cache, not need)
     write    size, rate, passes, fsync     (fileio write: dirty pages)
     refault  length, offset, rate, passes, random  (fileio mmap: a working
              set, whose misses are major faults)
  "setup": [...]   workloads as above without "at", each with a finite
                   "passes" (or a consumer "limit"), run to their end before
                   the daemon starts
  "swap": subset   guests whose swap (a file on /data) is on for the run
  "needy": [subsets]  guests with real need (default: the ones running
                   consume or refault); starvation is judged on them
  "expect": {"fault_rate_below": {guests, last_ticks, per_s,
                   max_seconds}}  the guests' major faults average under
                   per_s over the run's last last_ticks ticks; the run
                   goes on past "seconds", up to max_seconds, until they do

Per guest the runner reports: OOM kills; starved samples, max(unused,
usable) < 100 MiB (unused alone says nothing once page cache holds the
guest's memory: the kernel gives cache up on demand, and usable, the
guest's MemAvailable, counts it), and the old unused < 100 MiB count;
growth and memory returned to the host (MiB, and the tick it was done);
major faults and swap-ins from the balloon stats (the guest's own
pgmajfault and pswpin counters); the daemon's balloon calls; and each
workload's outcome from its log.
"""
import json
import os
import re
import time

import libvirt

import memory_monitor

MIB = 1024
RESERVE_MIB = 200
UNUSED_MIN_MIB = 100
# Consumers stop growing when the guest's free memory falls to this much
# above its kernel's min_free_kbytes, as the course's consumer stops when
# an allocation fails: without it a guest whose budget ran out could only
# end in its OOM killer.  Measured here: the guests' min watermark is about
# 45 MiB, and a 40 MiB absolute threshold let all four guests of mem-2 OOM.
# The same margin serves --min-room, which counts reclaimable file cache as
# free: in a guest holding 330 MiB of cache a consumer at 25 MB/s met its
# OOM killer at about 360 MB, and stopped at 331 MB with --min-room 32.
CONSUMER_MIN_FREE_MIB = 32
# A consumer in a guest the scenario expects to reach its limit waits at
# that line for memory, up to this long in one stretch, before it stops
# (consumer.c --wait-s).  A consumer starting at 60 MB/s on an idle guest
# kept at the course's floor (100 MiB unused plus the 50 MiB onset
# allowance) crosses the line about 1.2 s after it starts, while the
# coordinator's answer comes one stats report, one tick and one balloon
# response later (up to about 3.5 s at 1 s ticks): whether the line or
# the growth comes first was the phase of the start in the poll, not a
# decision, and failed two gates (stopped at 94 and at 112 MiB) with no
# OOM and no starved sample.  What the daemon decides shows in how long the guest waits: it
# is reported, and a daemon that never grows it still fails (the wait
# ends the growth).  Guests not expected to reach their limit (a budget
# runs out) stop at once, as before.
CONSUMER_WAIT_S = 10
# Growth beyond this is still "its start" when a guest's return is timed.
RETURN_SETTLED_MIB = 32
SETUP_TIMEOUT_S = 180
KINDS = ("consume", "stream", "write", "refault")
FILE_KINDS = ("stream", "write", "refault")


class ScenarioError(Exception):
    """A scenario file that asks for something the runner cannot do."""


def host_free_mib(conn):
    stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    return stats["free"] / MIB


def reset_guests(gs, names, tap):
    for n in names:
        gs[n].stop()
    for n in names:
        try:
            gs[n].swap(False)
            gs[n].drop_caches()
        except Exception as e:  # noqa: BLE001 - report and go on
            tap.note(f"reset: {e}")
    for n in names:
        gs[n].dom.setMemoryFlags(512 * MIB, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    for n in names:
        try:
            gs[n].wait_balloon(512 * MIB, timeout=60)
        except Exception as e:  # noqa: BLE001 - report and go on
            tap.note(f"reset: {e}")


def workload_specs(sc):
    """Every workload of the scenario as a dict with a kind; the course's
    "consumers" are consume workloads with the MemFree stop rule."""
    specs = [dict(c, kind="consume", stop=c.get("stop", "min-free"))
             for c in sc.get("consumers", [])]
    specs += [dict(w) for w in sc.get("workloads", [])]
    for w in specs + [dict(w) for w in sc.get("setup", [])]:
        if w.get("kind") not in KINDS:
            raise ScenarioError(f"{sc['name']}: workload kind "
                                f"{w.get('kind')!r} is not one of {KINDS}")
        if w.get("stop", "min-free") not in ("min-free", "min-room"):
            raise ScenarioError(f"{sc['name']}: stop {w['stop']!r} is not "
                                "min-free or min-room")
    for w in sc.get("setup", []):
        if not w.get("passes") and not (w["kind"] == "consume"
                                        and w.get("limit")):
            raise ScenarioError(f"{sc['name']}: setup workload {w} never "
                                "ends (give it passes, or a limit)")
    return specs


def start_workload(g, w, to_limit=False):
    """Starts one workload in guest g; returns the log tag it writes.
    to_limit: the scenario expects this guest's consumer to reach its
    limit, so it waits for memory at its line (CONSUMER_WAIT_S)."""
    kind = w["kind"]
    if kind == "consume":
        extra = [f"--{w.get('stop', 'min-free')}", str(CONSUMER_MIN_FREE_MIB)]
        if to_limit:
            extra += ["--wait-s", str(CONSUMER_WAIT_S)]
        if w.get("file_mb"):
            extra += ["--file", w.get("file", "/data/stream.bin"),
                      "--file-mb", str(w["file_mb"])]
        g.consume(rate=w.get("rate", 25), limit=w.get("limit"),
                  hold=w.get("hold"), extra=extra)
        return "consumer"
    if kind == "stream":
        g.stream(rate=w.get("rate"), offset=w.get("offset"),
                 length=w.get("length"), passes=w.get("passes"))
        return "stream"
    if kind == "write":
        g.write_file(size=w.get("size", 256), rate=w.get("rate"),
                     passes=w.get("passes"), fsync=w.get("fsync", False))
        return "writer"
    g.refault(length=w.get("length"), offset=w.get("offset"),
              rate=w.get("rate"), passes=w.get("passes"),
              random=w.get("random", False))
    return "refault"


def run_setup(sc, gs, names, subset, tap):
    """Runs the setup workloads to their end; returns what they printed."""
    started = []
    for w in sc.get("setup", []):
        for n in subset(names, w["guests"]):
            started.append((n, start_workload(gs[n], w)))
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    t0 = time.monotonic()
    while any(gs[n].running("fileio") or gs[n].running("consumer")
              for n, _ in started):
        if time.monotonic() > deadline:
            raise ScenarioError(f"{sc['name']}: setup still running after "
                                f"{SETUP_TIMEOUT_S} s")
        time.sleep(0.5)
    logs = {f"{n} {tag}": gs[n].workload_log(tag) for n, tag in started}
    if started:
        # One more balloon stats period, so the first sample shows the end
        # of the setup.
        time.sleep(2)
        tap.note(f"{sc['name']}: setup took {time.monotonic() - t0:.1f} s: "
                 + "; ".join(f"{k}: {last_line(v)}" for k, v in logs.items()))
    return logs


def last_line(log):
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def consumer_outcome(log):
    """'limit', 'low memory' or None from the consumer's log."""
    m = re.search(r"reached (\d+) MB at [\d.]+ s \(([^)]*)\)", log)
    if not m:
        return None, 0
    return m.group(2), int(m.group(1))


def consumer_waits(log):
    """How often the consumer waited for memory at its line, the seconds
    in all and the longest wait, from its log."""
    w = [float(x) for x in re.findall(r"waited ([\d.]+) s for memory", log)]
    return len(w), round(sum(w), 1), max(w, default=0.0)


def consumer_stalls(log):
    """How often the consumer fell behind its rate (its guest stalled) and
    the longest lag in seconds, from its log."""
    lags = [float(x) for x in re.findall(r"fell behind by ([\d.]+) s", log)]
    return len(lags), max(lags, default=0.0)


def fileio_outcome(log):
    """{passes, mean_mbps, majflt} from a fileio log, or {} without one."""
    passes = re.findall(r"pass (\d+) done", log)
    means = re.findall(r"([\d.]+) MB/s mean, majflt (\d+)", log)
    out = {"passes": int(passes[-1]) if passes else 0}
    if means:
        out["mean_mbps"] = float(means[-1][0])
        out["majflt"] = int(means[-1][1])
    return out


def released_back(samples, name, baseline, release_k):
    """Ticks from the consumer freeing its memory (release_k) until the
    guest's balloon is back within 64 MiB of where it was before the
    consumer started."""
    if release_k is None:
        return None
    for s in samples:
        g = s["guests"].get(name)
        if s["k"] >= release_k and g and g["actual"] <= baseline + 64:
            return s["k"] - release_k
    return None


def release_tick(log, start_k):
    """The tick at which the consumer freed its memory, from its log."""
    m = re.search(r"freed at ([\d.]+) s", log)
    return None if not m else start_k + int(float(m.group(1)) + 0.5)


def sample_guests(gs, names):
    """One sample of each guest's balloon stats (MiB; faults as counts)."""
    out = {}
    for n in names:
        try:
            st = gs[n].dom.memoryStats()
        except libvirt.libvirtError:
            continue

        def mib(key):
            return round(st[key] / MIB, 1) if key in st else None
        out[n] = {"actual": mib("actual"), "unused": mib("unused"),
                  "usable": mib("usable"), "caches": mib("disk_caches"),
                  "majflt": st.get("major_fault"),
                  "swapin": st.get("swap_in")}
    return out


def room_of(g):
    """Memory the guest could use at once or by dropping cache (MiB)."""
    return max(x for x in (g["unused"], g.get("usable")) if x is not None)


def final_room(gser, last=5):
    """The mean room over the last samples: where the daemon left it."""
    rooms = [room_of(g) for g in gser if g["unused"] is not None][-last:]
    return mean(rooms)


def starved(g):
    """The guest has under 100 MiB it could use at once or by dropping
    cache.  usable is missing from guests that do not report it; unused
    alone decides then."""
    return room_of(g) < UNUSED_MIN_MIB


def fault_rates(series, key):
    """Per-tick increase of a counter, [(k, per second)]."""
    out = []
    prev = None
    for k, g in series:
        v = g.get(key)
        if v is not None and prev is not None and k > prev[0]:
            out.append((k, max(0, v - prev[1]) / (k - prev[0])))
        if v is not None:
            prev = (k, v)
    return out


def faults_settled(samples, names, fr, subset):
    """Whether each guest fr judges has run fr["last_ticks"] ticks below
    fr["per_s"] major faults a second."""
    for n in subset(names, fr["guests"]):
        series = [(s["k"], s["guests"][n]) for s in samples
                  if n in s["guests"]]
        rates = fault_rates(series, "majflt")[-fr["last_ticks"]:]
        if len(rates) < fr["last_ticks"] or \
                mean(x for _, x in rates) >= fr["per_s"]:
            return False
    return True


def mean(xs):
    xs = list(xs)
    return round(sum(xs) / len(xs), 1) if xs else None


def vmstat_delta(before, after):
    """Increase of the guest's own fault, swap and refault counters."""
    keys = ("pgmajfault", "pswpin", "workingset_refault_file")
    if not before or not after:
        return None
    return {k: after[k] - before[k] for k in keys
            if k in before and k in after}


def read_vmstat(g):
    try:
        return g.vmstat()
    except Exception:  # noqa: BLE001 - a missing count is reported as such
        return None


def guest_metrics(n, samples, base, started, logs, ooms, needy):
    """Metrics of guest n from the samples; base is its sample taken
    before the daemon started (None if it could not be taken)."""
    series = [(s["k"], s["guests"][n]) for s in samples if n in s["guests"]]
    gser = [g for _, g in series]
    unused = [g["unused"] for g in gser if g["unused"] is not None]
    acts = [g["actual"] for g in gser if g["actual"] is not None]
    start = base["actual"] if base else (acts[0] if acts else None)
    final = acts[-1] if acts else None
    outcome, reached = consumer_outcome(logs.get("consumer", ""))
    stalls, longest_stall = consumer_stalls(logs.get("consumer", ""))
    waits, waited, longest_wait = consumer_waits(logs.get("consumer", ""))
    returned = round(start - final, 1) if acts else None
    # The tick from which the balloon stayed within RETURN_SETTLED_MIB of
    # where it ended: when the memory it gave back had been given.
    return_tick = None
    if acts and returned >= RETURN_SETTLED_MIB:
        return_tick = series[-1][0]
        for k, g in reversed(series):
            if g["actual"] is None or g["actual"] > final + RETURN_SETTLED_MIB:
                break
            return_tick = k
    flt = [g["majflt"] for g in ([base] if base else []) + gser
           if g.get("majflt") is not None]
    swp = [g["swapin"] for g in ([base] if base else []) + gser
           if g.get("swapin") is not None]
    rates = fault_rates(series, "majflt")
    baseline = 512.0
    if n in started and started[n] >= 2 and len(series) >= started[n] - 1:
        baseline = series[started[n] - 2][1]["actual"]
    m = {
        "needy": n in needy,
        "lowest_unused": round(min(unused), 1) if unused else None,
        "samples_below_100": sum(1 for u in unused if u < UNUSED_MIN_MIB),
        "starved_samples": sum(1 for g in gser if g["unused"] is not None
                               and starved(g)),
        "lowest_room": round(min(room_of(g) for g in gser
                                 if g["unused"] is not None), 1)
        if unused else None,
        "start_actual": start,
        "peak_actual": round(max(acts), 1) if acts else None,
        "final_actual": round(final, 1) if acts else None,
        "final_room": final_room(gser),
        "grown_mib": round(max(0.0, max(acts) - start), 1) if acts else None,
        "returned_mib": returned,
        "returned_by_tick": return_tick,
        "peak_caches": max((g["caches"] for g in gser
                            if g.get("caches") is not None), default=None),
        "major_faults": flt[-1] - flt[0] if len(flt) > 1 else None,
        "swap_ins": swp[-1] - swp[0] if len(swp) > 1 else None,
        "peak_fault_rate_10": max((mean(r for _, r in rates[i:i + 10])
                                   for i in range(max(1, len(rates) - 9))),
                                  default=None) if rates else None,
        "oom_events": len(ooms),
        "consumer": outcome, "consumer_reached_mib": reached,
        "consumer_stalls": stalls, "consumer_longest_stall_s": longest_stall,
        "consumer_waits": waits, "consumer_waited_s": waited,
        "consumer_longest_wait_s": longest_wait,
        "ticks_until_released": released_back(
            samples, n, baseline, release_tick(logs.get("consumer", ""),
                                               started[n]))
        if n in started and "consumer" in logs else None,
    }
    for tag in ("stream", "refault", "writer"):
        if tag in logs:
            m[tag] = fileio_outcome(logs[tag])
    m["fault_rates"] = rates
    return m


def check_expectations(exp, name, names, per_guest, result, budget, started,
                       subset, tap):
    for which in exp.get("reach_limit", []):
        for n in subset(names, which):
            g = per_guest[n]
            tap.ok(g["consumer"] == "limit",
                   f"{name}: {n}'s consumer grew to its limit "
                   f"({g['consumer_reached_mib']} MiB, {g['consumer']}; "
                   f"fell behind its rate {g['consumer_stalls']} times, "
                   f"longest {g['consumer_longest_stall_s']} s; waited for "
                   f"memory {g['consumer_waits']} times, "
                   f"{g['consumer_waited_s']} s in all, longest "
                   f"{g['consumer_longest_wait_s']} s of at most "
                   f"{CONSUMER_WAIT_S})")
    if exp.get("budget_exhausted"):
        tap.ok(budget and result["peak_held_mib"] >= budget - RESERVE_MIB - 256,
               f"{name}: growth went on until the budget ran out (peak held "
               f"{result['peak_held_mib']} MiB, budget {budget})")
    if exp.get("flows_from"):
        givers = subset(names, exp["flows_from"])
        gave = all(per_guest[n]["final_actual"] is not None and
                   per_guest[n]["final_actual"] < per_guest[n]["peak_actual"]
                   - 256 for n in givers)
        tap.ok(gave, f"{name}: memory flowed back from {', '.join(givers)} "
               + ", ".join(f"{n} {per_guest[n]['peak_actual']} -> "
                           f"{per_guest[n]['final_actual']}" for n in givers))
    limit = exp.get("released_back_within")
    if limit:
        for n in started:
            t = per_guest[n]["ticks_until_released"]
            tap.ok(t is not None and t <= limit,
                   f"{name}: {n}'s released memory went back to the host "
                   f"within {limit} ticks (took {t})")
    for which in exp.get("not_starved", []):
        for n in subset(names, which):
            g = per_guest[n]
            tap.ok(g["starved_samples"] == 0,
                   f"{name}: {n}, which has real need, was never starved "
                   f"({g['starved_samples']} samples with max(unused, "
                   f"usable) < {UNUSED_MIN_MIB} MiB; lowest "
                   f"{g['lowest_room']} MiB)")
    for which, mib in exp.get("max_growth_mib", {}).items():
        for n in subset(names, which):
            g = per_guest[n]
            tap.ok(g["grown_mib"] is not None and g["grown_mib"] <= mib,
                   f"{name}: {n}, whose memory is page cache, grew at most "
                   f"{mib} MiB (grew {g['grown_mib']} MiB: "
                   f"{g['start_actual']} -> peak {g['peak_actual']} MiB)")
    for which, r in exp.get("returns_mib", {}).items():
        for n in subset(names, which):
            g = per_guest[n]
            series = [(s["k"], s["guests"][n]["actual"])
                      for s in result["samples"] if n in s["guests"]]
            by = next((k for k, a in series
                       if g["start_actual"] - a >= r["at_least"]), None)
            tap.ok(by is not None and by <= r["within"],
                   f"{name}: {n} gave at least {r['at_least']} MiB back to "
                   f"the host within {r['within']} ticks ("
                   + (f"tick {by}" if by else "never")
                   + f"; {g['start_actual']} -> {g['final_actual']} MiB, "
                   f"returned {g['returned_mib']} MiB)")
    # The daemon sizes every guest to the room it reads (unused, or
    # usable where the guest reports it), so a guest whose cache it took
    # ends with the room of the guests that hold none.  Its size is
    # reported beside: it also keeps the cache its kernel does not call
    # available, which no reading of the balloon stats can take.
    for which, most in exp.get("ends_near_bare_mib", {}).items():
        cached = set(subset(names, which))
        bare = [per_guest[n] for n in names
                if n not in cached and per_guest[n]["final_room"]]
        ref = mean(g["final_room"] for g in bare) if bare else None
        ref_size = mean(g["final_actual"] for g in bare) if bare else None
        for n in cached:
            room = per_guest[n]["final_room"]
            tap.ok(ref is not None and room is not None
                   and room <= ref + most,
                   f"{name}: {n} ended with at most {most} MiB more room "
                   f"than the guests without cache (room {room} MiB "
                   f"against their mean {None if ref is None else round(ref, 1)}"
                   f" MiB; size {per_guest[n]['final_actual']} MiB against "
                   f"{None if ref_size is None else round(ref_size, 1)} MiB)")
    for which, most in exp.get("max_major_faults", {}).items():
        for n in subset(names, which):
            f = per_guest[n]["major_faults"]
            tap.ok(f is not None and f <= most,
                   f"{name}: {n}'s major faults stayed at most {most} "
                   f"({f} in the run)")
    for which, least in exp.get("grown_to_mib", {}).items():
        for n in subset(names, which):
            g = per_guest[n]
            tap.ok(g["final_actual"] is not None and
                   g["final_actual"] >= least,
                   f"{name}: {n}, whose working set does not fit, was grown "
                   f"to at least {least} MiB (final {g['final_actual']}, "
                   f"peak {g['peak_actual']} MiB)")
    fr = exp.get("fault_rate_below")
    if fr:
        for n in subset(names, fr["guests"]):
            rates = per_guest[n]["fault_rates"][-fr["last_ticks"]:]
            r = mean(x for _, x in rates)
            tap.ok(r is not None and r < fr["per_s"],
                   f"{name}: {n}'s major faults fell below {fr['per_s']}/s "
                   f"over the last {fr['last_ticks']} ticks ({r}/s; peak "
                   f"10-tick mean {per_guest[n]['peak_fault_rate_10']}/s; "
                   f"the run took {len(result['samples'])} s, at most "
                   f"{fr.get('max_seconds', 'its length')})")


def run_memory_scenario(sc, gs, conn, args, tap, policy, root, uri,
                        start_daemon, stop_daemon, daemon_exit_text,
                        read_decisions, subset,
                        open_monitor):
    name = f"{sc['name']}-{policy}"
    names = sorted((g.name for g in gs),
                   key=lambda n: int(n[len("aos_vm"):]))[:4]
    try:
        specs = workload_specs(sc)
    except ScenarioError as e:
        tap.ok(False, f"{name}: {e}")
        return None
    reset_guests(gs, names, tap)
    for n in subset(names, sc["swap"]) if sc.get("swap") else []:
        gs[n].swap(True)
    try:
        setup_logs = run_setup(sc, gs, names, subset, tap)
    except ScenarioError as e:
        tap.ok(False, f"{name}: {e}")
        return None
    needy = set()
    for which in sc.get("needy", []):
        needy.update(subset(names, which))
    if "needy" not in sc:
        for w in specs:
            if w["kind"] in ("consume", "refault"):
                needy.update(subset(names, w["guests"]))
    decisions = os.path.join(args.out, f"{name}.decisions.jsonl")
    if os.path.exists(decisions):
        os.unlink(decisions)
    budget = sc.get("budget_mib", 0)
    argv = [os.environ.get("MEMORY_COORDINATOR", os.path.join(
        root, "memory_coordinator", "memory_coordinator")),
            "1", "--uri", uri, "--policy", policy, "--decision-log",
            decisions, "--reserve-mib", str(RESERVE_MIB)]
    if budget:
        argv += ["--budget-mib", str(budget)]
    offsets = {n: gs[n].console_size() for n in names}
    base = sample_guests(gs, names)
    vm_before = {n: read_vmstat(gs[n]) for n in names}
    monitor = open_monitor(args, name)
    proc, log = start_daemon(argv, args.out, name)
    samples = []
    started = {}
    tags = {n: set() for n in names}
    to_limit = {n for which in sc["expect"].get("reach_limit", [])
                for n in subset(names, which)}
    t0 = time.monotonic()
    # Sample k is taken k seconds after this, on the wall clock the
    # daemon's decision log uses.
    started_wall = time.time()
    fr = sc["expect"].get("fault_rate_below")
    last = sc["seconds"]
    if fr:
        # A working set is read back at the guest's own disk speed, which
        # under TCG on a busy host was 6-10 MB/s: how soon its faults stop
        # once it fits is the host's, not the daemon's.  So the run goes
        # on, up to max_seconds, until the faults have stayed low for the
        # window the check judges; a daemon that never lets the set fit
        # still fails at the end.
        last = max(last, fr.get("max_seconds", last))
    try:
        for k in range(1, last + 1):
            if k > sc["seconds"] and faults_settled(samples, names, fr,
                                                    subset):
                break
            for w in specs:
                if w["at"] == k - 1:
                    for n in subset(names, w["guests"]):
                        tags[n].add(start_workload(gs[n], w, n in to_limit))
                        if w["kind"] == "consume":
                            started[n] = k
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            guests = sample_guests(gs, names)
            rows = [(n, g["actual"], g["unused"]) for n, g in guests.items()]
            memory_monitor.print_sample(k, rows, False, monitor)
            samples.append({"k": k, "host_free": round(host_free_mib(conn), 1),
                            "guests": guests})
            if proc.poll() is not None:
                break
    finally:
        rc = stop_daemon(proc, log)
        monitor.close()
        logs = {n: {t: gs[n].workload_log(t) for t in tags[n]} for n in names}
        ooms = {n: gs[n].oom_lines(offsets[n]) for n in names}
        for n in names:
            gs[n].stop()
        vm_after = {n: read_vmstat(gs[n]) for n in names}

    acts = [d for d in read_decisions(decisions)
            if d.get("action") == "balloon"]
    per_guest = {}
    for n in names:
        per_guest[n] = guest_metrics(n, samples, base.get(n), started,
                                     logs[n], ooms[n], needy)
        per_guest[n]["vmstat"] = vmstat_delta(vm_before[n], vm_after[n])
        mine = [d for d in acts if d.get("domain") == n]
        per_guest[n]["balloon_grows"] = sum(
            1 for d in mine if d.get("new_kib", 0) > d.get("old_kib", 0))
        per_guest[n]["balloon_shrinks"] = len(mine) - \
            per_guest[n]["balloon_grows"]
    held = [sum(g["actual"] for g in s["guests"].values()) for s in samples]
    held_base = round(sum(g["actual"] for g in base.values()), 1)
    budget_violations = sum(1 for h in held if budget and h > budget + 1)
    reserve_violations = sum(1 for s in samples
                             if s["host_free"] < RESERVE_MIB)
    result = {"name": name, "started_wall": started_wall, "file_name": name,
              "title": sc["title"], "policy": policy, "budget_mib": budget,
              "daemon_exit": rc, "balloon_calls": len(acts),
              "guests": per_guest, "setup": setup_logs,
              "budget_violations": budget_violations,
              "reserve_violations": reserve_violations,
              "peak_held_mib": round(max(held), 1) if held else None,
              "held_before_mib": held_base,
              "returned_to_host_mib": round(held_base - held[-1], 1)
              if held else None,
              "before": base, "samples": samples}
    exp = sc["expect"]
    tap.ok(rc == 0, f"{name}: memory_coordinator ran and exited 0 on SIGINT ("
           + daemon_exit_text(rc, os.path.join(args.out,
                                                f"{name}.daemon.log")) + ")")
    total_oom = sum(g["oom_events"] for g in per_guest.values())
    tap.ok(total_oom == 0, f"{name}: no guest OOM killer ({total_oom} lines)")
    for n in names:
        if ooms[n]:
            tap.note(f"{n} console: {ooms[n][0]}")
    tap.ok(reserve_violations == 0 and budget_violations == 0,
           f"{name}: host reserve and budget kept (reserve violations "
           f"{reserve_violations}, budget violations {budget_violations}, "
           f"peak held {result['peak_held_mib']} MiB of "
           f"{budget or 'host'})")
    check_expectations(exp, name, names, per_guest, result, budget, started,
                       subset, tap)
    tap.note(f"{name}: balloon calls {len(acts)}; " + "; ".join(
        f"{n}: lowest unused {g['lowest_unused']} MiB, <100 MiB samples "
        f"{g['samples_below_100']}, OOM {g['oom_events']}, released in "
        f"{g['ticks_until_released']} ticks" for n, g in per_guest.items()))
    if sc.get("workloads") or sc.get("setup"):
        for n, g in per_guest.items():
            tap.note(
                f"{name}: {n}{' (needy)' if g['needy'] else ''}: actual "
                f"{g['start_actual']} -> peak {g['peak_actual']} -> final "
                f"{g['final_actual']} MiB (grown {g['grown_mib']}, returned "
                f"{g['returned_mib']} by tick {g['returned_by_tick']}); "
                f"starved {g['starved_samples']}, unused<100 "
                f"{g['samples_below_100']}; caches peak {g['peak_caches']} "
                f"MiB; major faults {g['major_faults']} (peak 10-tick "
                f"{g['peak_fault_rate_10']}/s), swap-ins {g['swap_ins']}; "
                f"guest vmstat {g['vmstat']}; "
                f"OOM {g['oom_events']}; balloon +{g['balloon_grows']} "
                f"-{g['balloon_shrinks']}; "
                + "; ".join(f"{t} {g[t]}" for t in ("stream", "refault",
                                                     "writer") if t in g)
                + (f"; consumer {g['consumer']} at "
                   f"{g['consumer_reached_mib']} MB" if g["consumer"] else ""))
        tap.note(f"{name}: returned to the host "
                 f"{result['returned_to_host_mib']} MiB over the run (held "
                 f"{held_base} before the daemon, "
                 f"{round(held[-1], 1) if held else None} MiB at the end)")
    with open(os.path.join(args.out, f"{name}.summary.json"), "w") as f:
        json.dump({k: v for k, v in result.items() if k != "samples"}, f,
                  indent=1)
    return result
