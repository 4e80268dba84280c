#!/usr/bin/python3
"""Turns scenario results and cost measurements into results.md/.json.

    tests/bench/report.py --scenarios DIR [--cost FILE] [--plots DIR]
                          [--out DIR] [--elapsed SECONDS]

DIR holds what tests/scenarios/run.py wrote (<name>.json,
<name>.decisions.jsonl, <name>.summary.json); FILE is cost.py's output.
Everything reported is measured; nothing here passes or fails.

Memory metrics, per scenario, policy and guest, from the per-second
samples of balloon `actual` and `unused` (MiB):
  lowest unused          the smallest `unused` seen;
  samples < 100 MiB      samples whose `unused` was under the 100 MiB every
                         guest should keep;
  OOM events             guest OOM-killer lines on the console (runner);
  reserve / budget       samples with host free memory under the 200 MiB
  violations             reserve, and with the guests' total `actual` over
                         the scenario's budget (runner);
  ticks until released   ticks from the consumer's release until the guest's
                         balloon was back within 64 MiB of where it started
                         (runner);
  idle memory left       sum over samples (1 s each) of memory the guest
  unreclaimed            held above its floor, in MiB*s.  The floor is what
                         both policies never go under: the guest's used
                         memory plus the 100 MiB minimum unused, and never
                         below the 200 MiB guest floor.  Per sample:
                         max(0, min(actual - 200, unused - 100));
  balloon calls          balloon actions in the daemon's decision log.
"""
import argparse
import datetime
import glob
import json
import os
import sys

MIN_UNUSED = 100
GUEST_FLOOR = 200
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")


def consumer_guests(scenario, names):
    """Guests the scenario started a consumer in, from its definition and
    the runner's own guest subsets; None when that cannot be told."""
    sc = read_json(os.path.join(SCENARIOS, f"{scenario}.json"))
    if not sc:
        return None
    try:
        sys.path.insert(0, SCENARIOS)
        from run import subset
    except ImportError:
        return None
    out = set()
    for c in sc.get("consumers", []):
        out.update(subset(names, c["guests"]))
    return out


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def count_actions(path, kind):
    n = 0
    try:
        with open(path) as f:
            for line in f:
                try:
                    if json.loads(line).get("action") == kind:
                        n += 1
                except ValueError:
                    pass
    except OSError:
        return None
    return n


def natural(name):
    head, _, tail = name.partition("-")
    parts = tail.split("-", 1)
    num = int(parts[0]) if parts[0].isdigit() else 999
    return (head, num, name)


# ------------------------------------------------------------------ CPU
def cpu_metrics(res, path):
    phases = []
    for p in res.get("phases", []):
        phases.append({
            "load_change_at": p.get("start"),
            "ticks_to_balance": p.get("ticks_to_balance"),
            "pin_changes": p.get("pin_changes"),
            "pin_changes_after_balance": p.get("pin_changes_after_balance"),
            "moves_after_balance": p.get("moves_after_balance"),
            "final_sd": p.get("final_sd"),
            "mean_sd": p.get("mean_sd"),
        })
    sds = [t["sd"] for t in res.get("ticks", [])]
    return {
        "name": res.get("name"), "title": res.get("title"),
        "ticks": len(sds), "phases": phases,
        "pin_changes": res.get("pin_changes"),
        "pin_calls": count_actions(path[:-5] + ".decisions.jsonl", "pin"),
        "mean_sd_all": round(sum(sds) / len(sds), 2) if sds else None,
        "daemon_exit": res.get("daemon_exit"),
        "attempt": res.get("attempt", 1),
        "set_aside": [{"attempt": a.get("attempt"),
                       "slow_pcpu": a.get("slow_pcpu"),
                       "ratio": a.get("ratio"), "ticks": a.get("ticks"),
                       "failed": a.get("failed")}
                      for a in res.get("set_aside", [])],
    }


# --------------------------------------------------------------- memory
def idle_mib_s(series):
    """MiB*s held above the floor; series is [(k, actual, unused)]."""
    total = 0.0
    prev_k = None
    for k, actual, unused in series:
        dt = 1 if prev_k is None else max(1, k - prev_k)
        prev_k = k
        total += dt * max(0.0, min(actual - GUEST_FLOOR, unused - MIN_UNUSED))
    return total


def memory_metrics(res, path):
    samples = res.get("samples", [])
    names = sorted({n for s in samples for n in s["guests"]},
                   key=lambda n: (len(n), n))
    runner = res.get("guests", {})
    guests = {}
    for n in names:
        series = [(s["k"], s["guests"][n]["actual"], s["guests"][n]["unused"])
                  for s in samples if n in s["guests"]
                  and s["guests"][n].get("actual") is not None
                  and s["guests"][n].get("unused") is not None]
        unused = [u for _, _, u in series]
        r = runner.get(n, {})
        guests[n] = {
            "lowest_unused_mib": round(min(unused), 1) if unused else None,
            "samples_below_100": sum(1 for u in unused if u < MIN_UNUSED),
            "oom_events": r.get("oom_events"),
            "ticks_until_released": r.get("ticks_until_released"),
            "consumer": r.get("consumer"),
            "idle_unreclaimed_mib_s": round(idle_mib_s(series)),
            "idle_unreclaimed_mean_mib": round(idle_mib_s(series) /
                                               len(series), 1)
            if series else None,
            "peak_actual_mib": r.get("peak_actual"),
        }
    calls = count_actions(path[:-5] + ".decisions.jsonl", "balloon")
    # Guests that ran a consumer: ticks until released, or None when the
    # memory was not back by the end of the run.
    scenario = (res.get("file_name") or res.get("name", "")) \
        .rsplit("-" + res.get("policy", ""), 1)[0]
    consumers = consumer_guests(scenario, names)
    if consumers is None:
        consumers = {n for n, g in guests.items()
                     if g["ticks_until_released"] is not None}
    released = [guests[n]["ticks_until_released"] for n in names
                if n in consumers]
    for n in names:
        guests[n]["ran_consumer"] = n in consumers
    return {
        "name": res.get("file_name") or res.get("name"),
        "scenario": scenario,
        "title": res.get("title"), "policy": res.get("policy"),
        "budget_mib": res.get("budget_mib"), "samples": len(samples),
        "guests": guests,
        "lowest_unused_mib": min((g["lowest_unused_mib"]
                                  for g in guests.values()
                                  if g["lowest_unused_mib"] is not None),
                                 default=None),
        "samples_below_100": sum(g["samples_below_100"]
                                 for g in guests.values()),
        "oom_events": sum(g["oom_events"] or 0 for g in guests.values()),
        "reserve_violations": res.get("reserve_violations"),
        "budget_violations": res.get("budget_violations"),
        "ticks_until_released": released,
        "idle_unreclaimed_mib_s": sum(g["idle_unreclaimed_mib_s"]
                                      for g in guests.values()),
        "balloon_calls": calls if calls is not None
        else res.get("balloon_calls"),
        "peak_held_mib": res.get("peak_held_mib"),
        "daemon_exit": res.get("daemon_exit"),
        # The runner's own per-guest figures, less its per-tick series.
        "runner": {n: {k: v for k, v in g.items() if k != "fault_rates"}
                   for n, g in runner.items()},
    }


def load_scenarios(d):
    cpu = []
    mem = []
    for path in sorted(glob.glob(os.path.join(d, "*.json")),
                       key=lambda p: natural(os.path.basename(p))):
        if path.endswith(".summary.json"):
            continue
        res = read_json(path)
        if not isinstance(res, dict):
            continue
        if res.get("ticks"):
            cpu.append(cpu_metrics(res, path))
        elif res.get("samples"):
            mem.append(memory_metrics(res, path))
    return cpu, mem


# ----------------------------------------------------------------- text
def f(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(f(c) for c in r) + " |" for r in rows]
    return out


def cpu_section(cpu, plots):
    out = ["## CPU scenarios (vcpu_scheduler)", "",
           "One row per load phase (a phase starts when the load changes). "
           "Balanced means sd of pCPU utilisation <= 5 points. "
           "Pin changes are counted by the runner from the pinning it "
           "reads every tick; \"moves\" leave out vCPUs that were allowed "
           "on every pCPU and got pinned (claims). Final sd is the mean of "
           "the last 5 ticks of the phase.", ""]
    rows = []
    for c in cpu:
        for p in c["phases"]:
            rows.append([c["name"], p["load_change_at"], p["ticks_to_balance"],
                         p["pin_changes"], p["pin_changes_after_balance"],
                         p["moves_after_balance"], p["final_sd"],
                         p["mean_sd"], c["pin_calls"]])
    out += table(["scenario", "phase from tick", "ticks to balance",
                  "pin changes", "after balance", "moves after balance",
                  "final sd", "mean sd", "pin calls (daemon)"], rows)
    out.append("")
    for c in cpu:
        out.append(f"- {c['name']}: {c['title']}"
                   + (f" ([plot]({plots}/{c['name']}.png))" if plots else ""))
        for a in c.get("set_aside", []):
            out.append(f"  - attempt {a['attempt']} set aside: pCPU "
                       f"{a['slow_pcpu']} ran {a['ratio']}x slower on ticks "
                       f"{a['ticks'][0]}-{a['ticks'][1]}; it failed: "
                       + "; ".join(a["failed"] or []))
    return out + [""]


def memory_section(mem, plots):
    out = ["## Memory scenarios (memory_coordinator), per policy", "",
           "Floor used for idle memory: a guest's used memory + 100 MiB "
           "minimum unused, never below the 200 MiB guest floor (both "
           "policies' hard floor; their targets add headroom and a 50 MiB "
           "slack on top). Idle memory left unreclaimed = sum over 1 s "
           "samples of max(0, min(actual - 200, unused - 100)) MiB, "
           "so MiB*s. Released = ticks from the consumer's release until "
           "its balloon was back within 64 MiB of where it started, one "
           "number per guest that ran a consumer (\"not back\": not by the "
           "end of the run).", ""]
    rows = []
    for m in mem:
        rows.append([m["scenario"], m["policy"],
                     m["budget_mib"] or "host", m["lowest_unused_mib"],
                     m["samples_below_100"], m["oom_events"],
                     m["reserve_violations"], m["budget_violations"],
                     ", ".join("not back" if t is None else str(t)
                               for t in m["ticks_until_released"]) or "-",
                     m["idle_unreclaimed_mib_s"], m["balloon_calls"],
                     m["peak_held_mib"]])
    out += table(["scenario", "policy", "budget MiB", "lowest unused MiB",
                  "samples unused < 100 MiB", "OOM events",
                  "reserve violations", "budget violations",
                  "ticks until released", "idle unreclaimed MiB*s",
                  "balloon calls", "peak held MiB"], rows)
    out += ["", "Per guest:", ""]
    rows = []
    for m in mem:
        for n, g in m["guests"].items():
            rows.append([m["scenario"], m["policy"], n,
                         g["lowest_unused_mib"], g["samples_below_100"],
                         g["oom_events"],
                         "not back" if g["ran_consumer"]
                         and g["ticks_until_released"] is None
                         else g["ticks_until_released"],
                         g["idle_unreclaimed_mib_s"],
                         g["idle_unreclaimed_mean_mib"], g["peak_actual_mib"]])
    out += table(["scenario", "policy", "guest", "lowest unused MiB",
                  "samples < 100 MiB", "OOM", "ticks until released",
                  "idle MiB*s", "idle mean MiB", "peak actual MiB"], rows)
    out.append("")
    for m in mem:
        out.append(f"- {m['name']}: {m['title']}"
                   + (f" ([plot]({plots}/{m['name']}.png))" if plots else ""))
    return out + [""]


def is_page_cache(m):
    return m["scenario"].startswith(("mem-cache-", "mem-refault"))


def page_cache_section(mem, plots):
    """The page-cache scenarios, judged by the guests' fate."""
    rows = []
    for m in mem:
        if not is_page_cache(m):
            continue
        for n, g in m["runner"].items():
            rows.append([m["scenario"], m["policy"], n,
                         "yes" if g.get("needy") else "no",
                         g.get("oom_events"), g.get("starved_samples"),
                         g.get("consumer") or "-", g.get("start_actual"),
                         g.get("peak_actual"), g.get("final_actual"),
                         g.get("returned_mib"), g.get("returned_by_tick"),
                         g.get("major_faults"), g.get("swap_ins"),
                         g.get("balloon_grows", 0) + g.get("balloon_shrinks",
                                                           0)])
    if not rows:
        return []
    out = ["## Page-cache scenarios (memory_coordinator), per policy", "",
           "Guests with disks and page cache (tests/scenarios/mem-cache-*, "
           "mem-refault). Needy: the guest runs a program that needs the "
           "memory (a consumer, or a working set that does not fit). "
           "Starved: samples where max(unused, usable) < 100 MiB. "
           "Returned: MiB the guest's balloon ended below where it started "
           "(negative: grown), and the tick it first got there. Major "
           "faults and swap-in: the guest's own counters over the run. "
           "Balloon calls: the daemon's balloon actions for that guest.", ""]
    out += table(["scenario", "policy", "guest", "needy", "OOM", "starved",
                  "consumer", "start MiB", "peak MiB", "final MiB",
                  "returned MiB", "returned by tick", "major faults",
                  "swap-ins", "balloon calls"], rows)
    out.append("")
    for m in mem:
        if is_page_cache(m):
            out.append(f"- {m['name']}: {m['title']}"
                       + (f" ([plot]({plots}/{m['name']}.png))"
                          if plots else ""))
    return out + [""]


def scale_name(tb):
    return "4 real guests" if tb.get("scale") == "real" else \
        f"{tb.get('scale'):,} test domains"


def cost_section(cost):
    out = ["## Cost of one tick", "",
           f"Measured {cost.get('generated', '?')} on {cost.get('cpus')} "
           "CPUs. A tick here is the daemon's snapshot (snapshot_collect "
           "with its own collect flags) plus its policy's decision; apply "
           "is not included. Mean of the measured ticks after one warm-up "
           "tick. \"via libvirtd\" opens the generated test:/// node "
           "through libvirtd's socket (test+unix://), so every call is a "
           "round trip as with qemu:///system; \"in-process\" opens it in "
           "the measuring process (no IPC: the library and policy cost "
           "alone). Test-driver guests are idle and identical, so those "
           "runs rewrite each snapshot as a busy host (--load) and the "
           "policies plan every tick. libvirtd CPU is the sum over its "
           "threads of /proc/PID/task/TID/schedstat (ns on a CPU) across "
           "the tick.", ""]
    tbs = [t for t in cost.get("tick_bench", []) if t.get("daemons")]
    rows = []
    for t in tbs:
        for dname, d in t["daemons"].items():
            b = d["bulk"]
            rows.append([scale_name(t), t.get("mode"), dname,
                         b["domains"], b["wall_ms"], b["wall_ms_median"],
                         b["cpu_ms"], b.get("server_cpu_ms"),
                         b["collect_ms"], b["decide_ms"], b["rpc_calls"],
                         "yes" if b["bulk_used"] else "no",
                         b["plan_actions"]])
    out += ["### Bulk path (what the daemons run)", ""]
    out += table(["scale", "libvirt", "daemon", "domains", "wall ms",
                  "wall ms median", "CPU ms", "libvirtd CPU ms",
                  "collect ms", "decide ms", "libvirt calls",
                  "bulk call made", "plan actions"], rows)
    out += ["", "### Per-domain path against the bulk path, same run", "",
            "Ratio = per-domain / bulk (above 1: the bulk path is cheaper).",
            ""]
    rows = []
    for t in tbs:
        for dname, d in t["daemons"].items():
            r = d["per_domain_over_bulk"]
            rows.append([scale_name(t), t.get("mode"), dname,
                         d["bulk"]["rpc_calls"], d["per_domain"]["rpc_calls"],
                         r["rpc_calls"], d["bulk"]["wall_ms"],
                         d["per_domain"]["wall_ms"], r["wall"], r["cpu"],
                         r.get("server_cpu")])
    out += table(["scale", "libvirt", "daemon", "calls bulk",
                  "calls per-domain", "calls ratio", "wall ms bulk",
                  "wall ms per-domain", "wall ratio", "CPU ratio",
                  "libvirtd CPU ratio"], rows)
    out += ["", "### Memory of the daemons", "",
            "Each daemon run with --dry-run at a 1 s interval for a few "
            "ticks (from /proc/PID/status and smaps_rollup; CPU per tick "
            "from its threads' schedstat after its second tick, so it "
            "includes the 1 s timer's idle wake-ups but not start-up). "
            "VmRSS counts every resident page of the shared libraries "
            "libvirt pulls in; "
            "anonymous is the process's own memory; PSS charges shared "
            "pages by their share.", ""]
    rows = []
    for d in cost.get("daemons", []):
        rows.append([d["daemon"], "4 real guests" if d["scale"] == "real"
                     else f"{d['scale']:,} test domains via libvirtd",
                     d["domains"], d["ticks"], d["rpc_calls_per_tick"],
                     d["cpu_ms_per_tick"],
                     kib_mib(d["vm_rss_kib"]), kib_mib(d["vm_hwm_kib"]),
                     kib_mib(d["rss_anon_kib"]), kib_mib(d["pss_kib"])])
    out += table(["daemon", "libvirt", "domains", "ticks",
                  "calls per tick", "CPU ms per tick", "VmRSS MiB",
                  "VmHWM MiB", "anonymous MiB", "PSS MiB"], rows)
    rows = []
    for t in tbs:
        m = t.get("mem_at_end", {})
        c = t.get("mem_after_connect", {})
        rows.append([scale_name(t), t.get("mode"),
                     kib_mib(c.get("vm_rss_kib")),
                     kib_mib(m.get("vm_rss_kib")),
                     kib_mib(m.get("rss_anon_kib")),
                     kib_mib(m.get("pss_kib"))])
    out += ["", "tick_bench itself (both daemons' state, two connections; "
            "in-process runs also hold the test driver's domains):", ""]
    out += table(["scale", "libvirt", "VmRSS after connect MiB",
                  "VmRSS at end MiB", "anonymous MiB", "PSS MiB"], rows)
    out += [""] + growth_lines(tbs) + [""]
    return out


def kib_mib(v):
    return None if v is None else round(v / 1024, 1)


def growth_lines(tbs):
    """Cost per extra domain between the two largest scales of a mode."""
    out = ["### Growth with the number of domains", ""]
    for mode in ("via-libvirtd", "in-process"):
        runs = sorted((t for t in tbs if t.get("mode") == mode),
                      key=lambda t: t["scale"])
        if len(runs) < 2:
            continue
        a, b = runs[-2], runs[-1]
        dn = b["scale"] - a["scale"]
        for dname in b["daemons"]:
            ba = a["daemons"][dname]["bulk"]
            bb = b["daemons"][dname]["bulk"]
            out.append(
                f"- {mode}, {dname}: from {a['scale']:,} to {b['scale']:,} "
                f"domains, +{(bb['wall_ms'] - ba['wall_ms']) / dn * 1000:.1f}"
                f" us wall, +{(bb['cpu_ms'] - ba['cpu_ms']) / dn * 1000:.1f} "
                "us CPU, "
                f"+{(bb['decide_ms'] - ba['decide_ms']) / dn * 1000:.2f} us "
                "decide and "
                f"+{(bb['rpc_calls'] - ba['rpc_calls']) / dn:.2f}"
                " libvirt calls per extra domain")
    return out


RSS_TARGET_KIB = 10e6 / 1024  # 10 MB
TICK_TARGET_MS = 20.0


def verdict(ok):
    return "met" if ok else "missed"


def targets(cost):
    """The issue's targets next to the measured numbers."""
    tbs = {(t.get("scale"), t.get("mode")): t
           for t in cost.get("tick_bench", []) if t.get("daemons")}
    out = ["## Targets", ""]
    real = tbs.get(("real", "real"))
    why = {
        "vcpu_scheduler": "the rest: virNodeGetInfo, and one "
        "virDomainGetVcpus per domain, because bulk stats carry no "
        "affinity (cpumaps)",
        "memory_coordinator": "the rest: virNodeGetInfo, "
        "virNodeGetFreeMemory and two virNodeGetMemoryStats (size, then "
        "values) for the host reserve; none per domain",
    }
    if real:
        for dname, d in real["daemons"].items():
            b = d["bulk"]
            ndom = b["domains"] or 1
            made = ("1 virConnectGetAllDomainStats call" if b["bulk_used"]
                    else "no bulk call")
            out.append(
                f"- 1 bulk stats call per tick, {dname}, {ndom} real guests: "
                f"{made}; {b['rpc_calls']:.0f} libvirt calls per tick in all "
                f"({why.get(dname, '')}). The per-domain path needs "
                f"{d['per_domain']['rpc_calls']:.0f}.")
    for mode in ("via-libvirtd", "in-process"):
        t = tbs.get((1000, mode))
        if not t:
            continue
        for dname, d in t["daemons"].items():
            b = d["bulk"]
            out.append(
                f"- <= {TICK_TARGET_MS:g} ms per tick at 1,000 domains, "
                f"{dname}, test driver {mode}: {b['wall_ms']:.1f} ms "
                f"({verdict(b['wall_ms'] <= TICK_TARGET_MS)}), "
                f"{b['rpc_calls']:.0f} libvirt calls: the test driver "
                "answers the bulk call with the STATE group only, so every "
                "domain costs about 2 more calls.")
    for d in cost.get("daemons", []):
        if d["scale"] != "real" or d["vm_rss_kib"] is None:
            continue
        out.append(
            f"- RSS <= 10 MB, {d['daemon']} on the real guests: VmRSS "
            f"{kib_mib(d['vm_rss_kib'])} MiB "
            f"({verdict(d['vm_rss_kib'] <= RSS_TARGET_KIB)}); of it "
            f"{kib_mib(d['rss_file_kib'])} MiB are shared library pages "
            f"(libvirt and what it links: libcrypto, gnutls, ICU, ...), "
            f"{kib_mib(d['rss_anon_kib'])} MiB the process's own "
            f"({verdict(d['rss_anon_kib'] <= RSS_TARGET_KIB)}); PSS "
            f"{kib_mib(d['pss_kib'])} MiB.")
    return out + [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--cost")
    ap.add_argument("--plots", help="folder of the PNGs, for links")
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--elapsed", type=float)
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()

    cpu, mem = load_scenarios(args.scenarios)
    cost = read_json(args.cost) if args.cost else None
    os.makedirs(args.out, exist_ok=True)
    plots = os.path.relpath(args.plots, args.out) if args.plots else None
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    lines = ["# Benchmark results", "",
             f"Generated {now} from {args.scenarios}"
             + (f"; the run took {args.elapsed:.0f} s" if args.elapsed
                else "") + ".", ""]
    lines += [f"- {n}" for n in args.note]
    if args.note:
        lines.append("")
    if cost:
        lines += targets(cost)
    lines += cpu_section(cpu, plots)
    lines += memory_section([m for m in mem if not is_page_cache(m)], plots)
    lines += page_cache_section(mem, plots)
    if cost:
        lines += cost_section(cost)
    with open(os.path.join(args.out, "results.md"), "w") as fh:
        fh.write("\n".join(lines))
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump({"generated": now, "scenarios_dir": args.scenarios,
                   "elapsed_s": args.elapsed, "notes": args.note,
                   "cpu": cpu, "memory": mem, "cost": cost}, fh, indent=1)
    print(f"wrote {os.path.join(args.out, 'results.md')} and results.json "
          f"({len(cpu)} CPU, {len(mem)} memory results)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
