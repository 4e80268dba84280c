"""Memory scenarios for tests/scenarios/run.py.

One run: every guest back at 512 MiB and idle, memory_coordinator started
at a 1 s interval with the scenario's policy and budget, consumers started
in the guests as the scenario says, and one sample per second of every
guest's balloon stats, the host's free memory and the guests' consoles.
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
CONSUMER_MIN_FREE_MIB = 32


def host_free_mib(conn):
    stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    return stats["free"] / MIB


def reset_guests(gs, names, tap):
    for n in names:
        gs[n].stop()
    for n in names:
        gs[n].dom.setMemoryFlags(512 * MIB, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    for n in names:
        try:
            gs[n].wait_balloon(512 * MIB, timeout=60)
        except Exception as e:  # noqa: BLE001 - report and go on
            tap.note(f"reset: {e}")


def consumer_outcome(log):
    """'limit', 'low-memory' or None from the consumer's log."""
    m = re.search(r"reached (\d+) MB at [\d.]+ s \(([^)]*)\)", log)
    if not m:
        return None, 0
    return m.group(2), int(m.group(1))


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


def run_memory_scenario(sc, gs, conn, args, tap, policy, root, uri,
                        start_daemon, stop_daemon, read_decisions, subset,
                        open_monitor):
    name = f"{sc['name']}-{policy}"
    names = sorted((g.name for g in gs),
                   key=lambda n: int(n[len("aos_vm"):]))[:4]
    reset_guests(gs, names, tap)
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
    monitor = open_monitor(args, name)
    proc, log = start_daemon(argv, args.out, name)
    samples = []
    started = {}
    t0 = time.monotonic()
    # Sample k is taken k seconds after this, on the wall clock the
    # daemon's decision log uses.
    started_wall = time.time()
    try:
        for k in range(1, sc["seconds"] + 1):
            for c in sc["consumers"]:
                if c["at"] == k - 1:
                    for n in subset(names, c["guests"]):
                        gs[n].consume(rate=c["rate"], limit=c.get("limit"),
                                      hold=c.get("hold"), extra=[
                                          "--min-free",
                                          str(CONSUMER_MIN_FREE_MIB)])
                        started[n] = k
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            rows = memory_monitor.sample_memory(conn, "aos_vm")
            memory_monitor.print_sample(k, rows, False, monitor)
            samples.append({
                "k": k, "host_free": round(host_free_mib(conn), 1),
                "guests": {r[0]: {"actual": r[1], "unused": r[2]}
                           for r in rows if r[0] in names}})
            if proc.poll() is not None:
                break
    finally:
        rc = stop_daemon(proc, log)
        monitor.close()
        logs = {n: gs[n].workload_log("consumer") for n in names}
        ooms = {n: gs[n].oom_lines(offsets[n]) for n in names}
        for n in names:
            gs[n].stop()

    acts = [d for d in read_decisions(decisions)
            if d.get("action") == "balloon"]
    per_guest = {}
    for n in names:
        series = [s["guests"][n] for s in samples if n in s["guests"]]
        unused = [g["unused"] for g in series if g["unused"] is not None]
        outcome, reached = consumer_outcome(logs[n])
        baseline = series[started[n] - 2]["actual"] if n in started and \
            started[n] >= 2 and len(series) >= started[n] - 1 else 512.0
        per_guest[n] = {
            "lowest_unused": round(min(unused), 1) if unused else None,
            "samples_below_100": sum(1 for u in unused
                                     if u < UNUSED_MIN_MIB),
            "peak_actual": round(max(g["actual"] for g in series), 1)
            if series else None,
            "final_actual": round(series[-1]["actual"], 1) if series else None,
            "oom_events": len(ooms[n]),
            "consumer": outcome, "consumer_reached_mib": reached,
            "ticks_until_released": released_back(
                samples, n, baseline, release_tick(logs[n], started[n]))
            if n in started else None,
        }
    held = [sum(g["actual"] for g in s["guests"].values()) for s in samples]
    budget_violations = sum(1 for h in held if budget and h > budget + 1)
    reserve_violations = sum(1 for s in samples
                             if s["host_free"] < RESERVE_MIB)
    result = {"name": name, "started_wall": started_wall, "file_name": name, "title": sc["title"],
              "policy": policy, "budget_mib": budget, "daemon_exit": rc,
              "balloon_calls": len(acts), "guests": per_guest,
              "budget_violations": budget_violations,
              "reserve_violations": reserve_violations,
              "peak_held_mib": round(max(held), 1) if held else None,
              "samples": samples}
    exp = sc["expect"]
    tap.ok(rc == 0, f"{name}: memory_coordinator ran and exited 0 on SIGINT")
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
    for which in exp.get("reach_limit", []):
        for n in subset(names, which):
            g = per_guest[n]
            tap.ok(g["consumer"] == "limit",
                   f"{name}: {n}'s consumer grew to its limit "
                   f"({g['consumer_reached_mib']} MiB, {g['consumer']})")
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
    tap.note(f"{name}: balloon calls {len(acts)}; " + "; ".join(
        f"{n}: lowest unused {g['lowest_unused']} MiB, <100 MiB samples "
        f"{g['samples_below_100']}, OOM {g['oom_events']}, released in "
        f"{g['ticks_until_released']} ticks" for n, g in per_guest.items()))
    with open(os.path.join(args.out, f"{name}.summary.json"), "w") as f:
        json.dump({k: v for k, v in result.items() if k != "samples"}, f,
                  indent=1)
    return result
