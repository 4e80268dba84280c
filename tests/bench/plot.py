#!/usr/bin/python3
"""Draws a PNG of one scenario result with gnuplot.

    tests/bench/plot.py [--out-dir DIR] RESULT.json...

RESULT.json is what tests/scenarios/run.py writes (<name>.json).  The PNG
goes next to it as <name>.png, or into DIR.

CPU scenarios: utilisation of each pCPU per tick, the standard deviation
between them, the 5-point balance limit, and a marker at each tick where
the runner saw pins change (with the count).  Load changes are marked too.

Memory scenarios, two panels sharing the tick axis:
  top     each guest's balloon size (actual, solid) and unused memory
          (dashed) in MiB, the 100 MiB minimum unused, and a triangle at
          each balloon action of the daemon on that guest's line (up: grow,
          down: shrink), placed at the target it set;
  bottom  memory held by all guests together with the budget (when the
          scenario sets one), and the host's free memory with the reserve.
Balloon actions come from <name>.decisions.jsonl; their wall-clock times
are mapped to sample ticks from the daemon's start line in
<name>.daemon.log (sample k is taken k seconds after the daemon started).
"""
import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys
import time

SD_LIMIT = 5.0
MIN_UNUSED_MIB = 100
RESERVE_MIB = 200
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
           "#8c564b", "#e377c2", "#17becf"]


def base_path(result_path):
    return result_path[:-len(".json")] if result_path.endswith(".json") \
        else result_path


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_decisions(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def parse_utc(text):
    """Seconds since the epoch of an ISO time with a Z or an offset."""
    text = text.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


START_RE = re.compile(r"(\d\d):(\d\d):(\d\d(?:\.\d+)?): started:")


def daemon_start(log_path, near):
    """Epoch seconds of the daemon's 'started:' line.  GLib writes local
    time of day without a date; the date is taken from `near` (a decision
    time), choosing the day that puts the start closest before it."""
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = START_RE.search(line)
                if m:
                    break
            else:
                return None
    except OSError:
        return None
    secs = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    local = time.localtime(near)
    midnight = near - (local.tm_hour * 3600 + local.tm_min * 60 +
                       local.tm_sec + (near % 1))
    best = None
    for day in (-1, 0, 1):
        t = midnight + day * 86400 + secs
        if best is None or abs(near - t) < abs(near - best):
            best = t
    return best


def decision_ticks(result_path, result, kind, nticks):
    """[(tick, decision)] for the daemon's actions of `kind`."""
    base = base_path(result_path)
    acts = [d for d in read_decisions(base + ".decisions.jsonl")
            if d.get("action") == kind and "time" in d]
    if not acts:
        return []
    times = [parse_utc(d["time"]) for d in acts]
    start = result.get("started_wall")
    if start is None:
        start = daemon_start(base + ".daemon.log", min(times))
    if start is None:
        # No start line: the first action is taken to fall in tick 1.
        start = min(times)
    out = []
    for t, d in zip(times, acts):
        k = max(1, min(nticks, math.ceil(t - start)))
        out.append((k, d))
    return out


def gp_quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') \
        .replace("\n", "\\n") + '"'


def run_gnuplot(script):
    proc = subprocess.run(["gnuplot"], input=script, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"gnuplot failed: {proc.stderr.strip()}")


def fmt(v, unit=""):
    return "-" if v is None else f"{v}{unit}"


# ------------------------------------------------------------------ CPU
def cpu_script(result, png):
    ticks = result["ticks"]
    npcpus = max(len(t["usage"]) for t in ticks)
    bed = result.get("bed_ratio_limit")
    rows = []
    for t in ticks:
        usage = list(t["usage"]) + ["NaN"] * (npcpus - len(t["usage"]))
        pins = t.get("pin_changes", 0)
        # Ticks on which the pCPU probe saw one pCPU run much slower than
        # the result's limit: a row of marks at the top.
        ratio = t.get("speed_ratio")
        slow = 116 if ratio is not None and bed and ratio > bed else "NaN"
        rows.append(" ".join(str(x) for x in
                             [t["tick"], t["sd"], pins if pins else "NaN",
                              slow, *usage]))
    phases = result.get("phases", [])
    summary = "\n".join(
        f"from tick {p['start']}: balanced after "
        f"{fmt(p.get('ticks_to_balance'))} ticks, "
        f"{p.get('pin_changes', 0)} pin changes "
        f"({p.get('pin_changes_after_balance', 0)} after balance), "
        f"final sd {fmt(p.get('final_sd'))}" for p in phases)
    if result.get("set_aside"):
        summary += (f"\nattempt {result.get('attempt')}; set aside before it "
                    "(pCPU speeds unequal): " + ", ".join(
                        f"attempt {a['attempt']} (pCPU {a['slow_pcpu']} "
                        f"{a['ratio']:.1f}x slower)"
                        for a in result["set_aside"]))
    lines = [
        "set terminal pngcairo size 1100,580 noenhanced "
        "font 'DejaVu Sans,10'",
        f"set output {gp_quote(png)}",
        "set title "
        f"{gp_quote(result['name'] + ': ' + result.get('title', ''))}"
        " font ',12'",
        f"set label 1 {gp_quote(summary)} at graph 0, graph -0.12 "
        "font ',9'",
        "set bmargin 7",
        "set xlabel 'tick (s)' offset 0,0.5",
        "set ylabel 'utilisation of the pCPU (%)'",
        "set yrange [0:118]",
        f"set xrange [0.5:{len(ticks) + 0.5}]",
        "set ytics 0,20,100",
        "set grid ytics lc rgb '#dddddd'",
        "set key outside right top vertical font ',9'",
        f"set arrow 1 from graph 0, first {SD_LIMIT} to graph 1, first "
        f"{SD_LIMIT} nohead dt 3 lc rgb '#555555'",
        f"set label 2 'sd limit {SD_LIMIT:g}' at graph 0.005, first "
        f"{SD_LIMIT + 2.5} font ',8' tc rgb '#555555'",
    ]
    for i, p in enumerate(phases):
        if p["start"] > 0:
            lines.append(
                f"set arrow {10 + i} from first {p['start'] + 0.5}, graph 0 "
                f"to first {p['start'] + 0.5}, graph 1 nohead lw 2 "
                "lc rgb '#999999'")
            lines.append(
                f"set label {10 + i} 'load changes' at first "
                f"{p['start'] + 0.7}, graph 0.93 font ',9' "
                "tc rgb '#777777'")
    lines.append("$data << EOD")
    lines.extend(rows)
    lines.append("EOD")
    plots = ["$data using 1:($3 > 0 ? 112 : NaN) with impulses lw 2 "
             "dt 2 lc rgb '#ff8c00' title 'pin change'",
             "$data using 1:($3 > 0 ? 112 : NaN):(sprintf('%d pins', $3)) "
             "with labels offset 0,0.6 font ',9' tc rgb '#ff8c00' notitle",
             "$data using 1:4 with points pt 5 ps 0.8 lc rgb '#aa0000' "
             f"title 'pCPU speeds unequal (probe > {bed or 0:g}x)'"]
    for c in range(npcpus):
        plots.append(f"$data using 1:{5 + c} with linespoints pt 7 ps 0.6 "
                     f"lw 2 lc rgb '{COLOURS[c % len(COLOURS)]}' "
                     f"title 'pCPU {c}'")
    plots.append("$data using 1:2 with lines lw 1.5 dt 2 lc rgb '#000000' "
                 "title 'sd between pCPUs'")
    lines.append("plot " + ", \\\n     ".join(plots))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- memory
def memory_script(result, png, result_path):
    samples = result["samples"]
    names = sorted({n for s in samples for n in s["guests"]},
                   key=lambda n: (len(n), n))
    nticks = samples[-1]["k"] if samples else 1
    rows = []
    for s in samples:
        row = [s["k"], s.get("host_free", "NaN")]
        held = 0.0
        for n in names:
            g = s["guests"].get(n)
            a = g["actual"] if g and g["actual"] is not None else None
            u = g["unused"] if g and g.get("unused") is not None else None
            held += a or 0
            row += [a if a is not None else "NaN",
                    u if u is not None else "NaN"]
        row.insert(2, round(held, 1))
        rows.append(" ".join(str(x) for x in row))
    acts = decision_ticks(result_path, result, "balloon", nticks)
    marks = []
    for k, d in acts:
        if d.get("domain") not in names or "new_kib" not in d:
            continue
        grow = d.get("new_kib", 0) > d.get("old_kib", 0)
        marks.append(f"{k} {d['new_kib'] / 1024:.1f} "
                     f"{names.index(d['domain'])} {1 if grow else 0}")
    budget = result.get("budget_mib") or 0
    if not budget:
        summary = read_json(base_path(result_path) + ".summary.json") or {}
        budget = summary.get("budget_mib") or 0
    guests = result.get("guests", {})
    ooms = sum(g.get("oom_events", 0) for g in guests.values())
    low = min((g["lowest_unused"] for g in guests.values()
               if g.get("lowest_unused") is not None), default=None)
    summary_text = (
        f"policy {result.get('policy', '?')}; {len(acts)} balloon actions; "
        f"lowest unused {fmt(low, ' MiB')}; OOM events {ooms}; "
        f"reserve violations {result.get('reserve_violations', '-')}; "
        f"budget violations {result.get('budget_violations', '-')}")
    title = f"{result['name']}: {result.get('title', '')}"
    lines = [
        "set terminal pngcairo size 1100,780 noenhanced "
        "font 'DejaVu Sans,10'",
        f"set output {gp_quote(png)}",
        "set multiplot",
        "$data << EOD", *rows, "EOD",
        "$marks << EOD", *(marks or ["NaN NaN NaN NaN"]), "EOD",
        # top panel: guests
        "set lmargin 10", "set rmargin 26",
        "set origin 0,0.34", "set size 1,0.66",
        f"set title {gp_quote(title)} font ',12'",
        f"set label 1 {gp_quote(summary_text)} at graph 0, graph 1.02 "
        "font ',9'",
        "set tmargin 4",
        "set ylabel 'MiB'",
        f"set xrange [0.5:{nticks + 0.5}]",
        "set yrange [0:*]",
        "set format x ''",
        "set grid ytics lc rgb '#dddddd'",
        "set key outside right top vertical font ',9'",
        f"set arrow 1 from graph 0, first {MIN_UNUSED_MIB} to graph 1, first "
        f"{MIN_UNUSED_MIB} nohead dt 3 lw 1.5 lc rgb '#cc0000'",
    ]
    plots = []
    for i, n in enumerate(names):
        col = COLOURS[i % len(COLOURS)]
        plots.append(f"$data using 1:{4 + 2 * i} with lines lw 2 "
                     f"lc rgb '{col}' title '{n} actual'")
        plots.append(f"$data using 1:{5 + 2 * i} with lines lw 1.2 dt 2 "
                     f"lc rgb '{col}' title '{n} unused'")
    for i, n in enumerate(names):
        col = COLOURS[i % len(COLOURS)]
        plots.append(f"$marks using 1:(($3 == {i} && $4 == 1) ? $2 : NaN) "
                     f"with points pt 9 ps 0.8 lc rgb '{col}' notitle")
        plots.append(f"$marks using 1:(($3 == {i} && $4 == 0) ? $2 : NaN) "
                     f"with points pt 11 ps 0.8 lc rgb '{col}' notitle")
    plots.append("NaN with points pt 9 ps 1 lc rgb '#444444' "
                 "title 'balloon grow'")
    plots.append("NaN with points pt 11 ps 1 lc rgb '#444444' "
                 "title 'balloon shrink'")
    plots.append(f"NaN with lines dt 3 lw 1.5 lc rgb '#cc0000' "
                 f"title 'min unused {MIN_UNUSED_MIB} MiB'")
    lines.append("plot " + ", \\\n     ".join(plots))
    # bottom panel: host
    lines += [
        "unset title", "unset label 1", "unset arrow 1",
        "set origin 0,0", "set size 1,0.36",
        "set tmargin 1", "set bmargin 3.5",
        "set format x '%g'",
        "set xlabel 'tick (s)' offset 0,0.5",
        "set key outside right top vertical font ',9'",
        "set logscale y",
        "set yrange [100:50000]",
        "set ytics (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)",
        "set ylabel 'MiB (log scale)'",
        f"set arrow 2 from graph 0, first {RESERVE_MIB} to graph 1, first "
        f"{RESERVE_MIB} nohead dt 2 lw 1.5 lc rgb '#ff8c00'",
    ]
    host = ["$data using 1:3 with lines lw 2 lc rgb '#000000' "
            "title 'held by all guests'",
            "$data using 1:2 with lines lw 2 lc rgb '#1f77b4' "
            "title 'host free'",
            f"NaN with lines dt 2 lw 1.5 lc rgb '#ff8c00' "
            f"title 'reserve {RESERVE_MIB} MiB'"]
    if budget:
        lines.append(f"set arrow 3 from graph 0, first {budget} to graph 1, "
                     f"first {budget} nohead dt 2 lw 1.5 lc rgb '#cc0000'")
        host.append(f"NaN with lines dt 2 lw 1.5 lc rgb '#cc0000' "
                    f"title 'budget {budget} MiB'")
    lines.append("plot " + ", \\\n     ".join(host))
    lines.append("unset multiplot")
    return "\n".join(lines) + "\n"


def plot(result_path, out_dir=None):
    result = read_json(result_path)
    if not result:
        raise RuntimeError(f"{result_path}: not a scenario result")
    name = result.get("file_name") or result.get("name") or \
        os.path.basename(base_path(result_path))
    result.setdefault("name", name)
    png = os.path.join(out_dir or os.path.dirname(result_path) or ".",
                       name + ".png")
    if "ticks" in result and result["ticks"]:
        script = cpu_script(result, png)
    elif "samples" in result and result["samples"]:
        script = memory_script(result, png, result_path)
    else:
        raise RuntimeError(f"{result_path}: no ticks or samples to draw")
    run_gnuplot(script)
    return png


def main():
    ap = argparse.ArgumentParser(
        description="Draws a PNG of each scenario result with gnuplot.")
    ap.add_argument("results", nargs="+", metavar="RESULT.json")
    ap.add_argument("--out-dir", help="where the PNGs go (default: next to "
                    "each result)")
    args = ap.parse_args()
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
    rc = 0
    for path in args.results:
        try:
            print(plot(path, args.out_dir))
        except (RuntimeError, KeyError, OSError) as e:
            print(f"plot: {e}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
