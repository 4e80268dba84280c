#!/usr/bin/python3
"""Measure the burner under TCG and write tests/host/calibration.json.

    tests/host/calibrate.py [--guest aos_vm1] [--pcpu 1] [--seconds 10]
                            [--counts 30000,100000,...] [--out FILE]

One guest runs `burner N` for each N while its vCPU is pinned to one pCPU;
the share of that pCPU is read from libvirt's per-vCPU stats:

  cpu_pct     vCPU time / wall time: what the vCPU got;
  demand_pct  (time + delay) / wall time: what it wanted (delay is the time
              its thread waited on a host run queue, so this stays right
              when something else on the machine competes for the pCPU).

From the points it picks the counts the scenarios use:

  heavy  the smallest count whose demand is at least 90 %;
  light  the count whose demand is closest to 30 %;
  equal  the count whose demand is closest to 45 %;

so that heavy and light really differ (about 3x), and four equal loads fit
on two pCPUs when balanced (2 x 45 % < 100 %) but not when stacked.

Under TCG each 400 us sleep and wake-up costs the vCPU real time (the timer
interrupt and the context switches are emulated), so even a tiny count
uses about 25 % of a pCPU: "light" cannot go below that floor.

--repick re-reads --out and picks again from its points, without measuring.  The guest's vCPU affinity is restored afterwards.  The other
guests stay idle; other load on the machine shows as delay (and lowers
cpu_pct), which the file records as the host's load average.
"""

import argparse
import datetime
import json
import os
import sys
import time

import libvirt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestctl  # noqa: E402

DEFAULT_COUNTS = [1000, 3000, 10000, 30000, 100000, 300000, 1000000, 3000000,
                  10000000, -1]
HERE = os.path.dirname(os.path.abspath(__file__))


def vcpu_sample(conn, dom):
    """(wall s, vCPU time ns, delay ns) of vCPU 0 from the bulk stats."""
    res = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_VCPU)
    st = res[0][1]
    return (time.monotonic(), st.get("vcpu.0.time", 0), st.get("vcpu.0.delay", 0))


def measure(conn, g, n, seconds, warmup=2.0):
    g.stop_burn()
    g.burn(n)
    time.sleep(warmup)
    t0, c0, d0 = vcpu_sample(conn, g.dom)
    time.sleep(seconds)
    t1, c1, d1 = vcpu_sample(conn, g.dom)
    g.stop_burn()
    wall = t1 - t0
    cpu = (c1 - c0) / 1e9 / wall * 100
    delay = (d1 - d0) / 1e9 / wall * 100
    return {"count": n, "cpu_pct": round(cpu, 1), "demand_pct": round(cpu + delay, 1),
            "delay_pct": round(delay, 1)}


def closest(points, target):
    return min(points, key=lambda p: abs(p["demand_pct"] - target))


def pick(points):
    finite = [p for p in points if p["count"] != -1]
    heavy = [p for p in finite if p["demand_pct"] >= 90]
    heavy = min(heavy, key=lambda p: p["count"]) if heavy else \
        next(p for p in points if p["count"] == -1)
    return {"heavy": heavy, "light": closest(finite, 30), "equal": closest(finite, 45)}


def write(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uri", default=guestctl.URI)
    ap.add_argument("--guest", default="aos_vm1")
    ap.add_argument("--pcpu", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--counts", default=",".join(map(str, DEFAULT_COUNTS)))
    ap.add_argument("--out", default=os.path.join(HERE, "calibration.json"))
    ap.add_argument("--repick", action="store_true")
    a = ap.parse_args()
    if a.repick:
        with open(a.out) as f:
            doc = json.load(f)
        loads = pick(doc["measured"]["points"])
        doc["loads"] = {k: {"count": v["count"], "cpu_pct": v["cpu_pct"],
                            "demand_pct": v["demand_pct"]} for k, v in loads.items()}
        write(a.out, doc)
        for k, v in loads.items():
            print(f"{k:>5}: count {v['count']} ({v['demand_pct']} % demand)")
        return 0

    conn = libvirt.open(a.uri)
    npcpus = conn.getInfo()[2]
    g = guestctl.Guest(a.guest, conn=conn)
    before = g.dom.vcpuPinInfo(0)
    mask = tuple(i == a.pcpu for i in range(npcpus))
    points = []
    try:
        g.dom.pinVcpu(0, mask)
        for n in (int(x) for x in a.counts.split(",")):
            p = measure(conn, g, n, a.seconds)
            points.append(p)
            print(f"burner {n:>9}: cpu {p['cpu_pct']:5.1f} %  demand "
                  f"{p['demand_pct']:5.1f} %  (delay {p['delay_pct']:.1f} %)",
                  flush=True)
    finally:
        g.stop_burn()
        g.dom.pinVcpu(0, before[0])
        g.close()
    loads = pick(points)
    doc = {
        "comment": "Burner counts for TCG guests on the test host, written by "
                   "tests/host/calibrate.py. cpu_pct = vCPU time / wall, "
                   "demand_pct = (time + delay) / wall, one guest pinned to one "
                   "pCPU, burner = count to N then sleep 400 us (-1 spins).",
        "measured": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host_loadavg": open("/proc/loadavg").read().split()[:3],
            "npcpus": npcpus,
            "guest": a.guest,
            "pcpu": a.pcpu,
            "seconds_per_point": a.seconds,
            "points": points,
        },
        "loads": {k: {"count": v["count"], "cpu_pct": v["cpu_pct"],
                      "demand_pct": v["demand_pct"]} for k, v in loads.items()},
    }
    write(a.out, doc)
    for k, v in loads.items():
        print(f"{k:>5}: count {v['count']} ({v['demand_pct']} % demand)")
    print(f"wrote {a.out}")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
