#!/usr/bin/python3
"""vcpu_scheduler keeps each guest's vCPU affinity between ticks and reads
it again when libvirt says it changed (TAP):

  1. with every guest's vCPUs pinned one to a pCPU, the ticks after the
     first read no guest's affinity again (the debug line's "affinity kept
     for N" counts every guest); the calls per tick are printed;
  2. a pin made by someone else through libvirt (virDomainPinVcpu here,
     as virsh vcpupin does) raises a tunable event, and within two ticks
     the daemon reads that guest again and sees the new pCPU;
  3. a guest whose vCPU may run on several pCPUs is read on every tick,
     since the pCPU it last ran on changes by itself.

The daemon runs with --dry-run: the guests are idle and nothing here
needs a pin of its own.  Every vCPU's affinity is put back at the end.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import libvirt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from common import ROOT, URI, Tap  # noqa: E402

VCPU = os.environ.get("VCPU_SCHEDULER",
                      os.path.join(ROOT, "vcpu_scheduler", "vcpu_scheduler"))
TICK = re.compile(r"tick (\d+): (\d+) domains, (\d+) libvirt calls "
                  r"\(affinity kept for (\d+)\)")
REREAD = re.compile(r"(\S+): vCPU affinity read again \(([^)]*\)?)\): "
                    r"pCPUs (\S+)")


def cpumap(ncpus, cpus):
    return tuple(c in cpus for c in range(ncpus))


def wait_for(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


class Run:
    def __init__(self, tmp, name):
        self.path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.path, "w")
        self.proc = subprocess.Popen([VCPU, "1", "-v", "--dry-run"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.path) as f:
            return f.read()

    def ticks(self):
        return [tuple(int(x) for x in m.groups())
                for m in TICK.finditer(self.text())]

    def wait_ticks(self, n):
        """The tick lines once there are n of them (or all after 30 s)."""
        return wait_for(lambda: len(self.ticks()) >= n and self.ticks(), 30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


tap = Tap(6)
conn = libvirt.open(URI)
ncpus = conn.getCPUMap()[0]
doms = [d for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        if d.name().startswith("aos_vm")]
doms.sort(key=lambda d: d.name())
if len(doms) < 2 or ncpus < 2:
    tap.bail(f"needs 2 running guests and 2 pCPUs, has {len(doms)} and {ncpus}")
saved = {d.name(): d.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE) for d in doms}
tmp = tempfile.mkdtemp(prefix="aos-affinity-")
runs = []
try:
    # 1. Every vCPU pinned to one pCPU: nothing to read after the first.
    for i, d in enumerate(doms):
        for v in range(len(saved[d.name()])):
            d.pinVcpu(v, cpumap(ncpus, {(i + v) % ncpus}))
    run = Run(tmp, "pinned")
    runs.append(run)
    ticks = run.wait_ticks(5)
    later = [t for t in ticks if t[0] >= 2]
    tap.note("ticks (number, domains, calls, affinity kept): "
             + ", ".join(str(t) for t in ticks[:6]))
    tap.ok(later and all(t[3] == t[1] == len(doms) for t in later),
           f"after the first tick every guest's affinity is kept "
           f"({len(doms)} guests)")

    # 2. A pin through libvirt by someone else: read again, new pCPU seen.
    d = doms[1]
    old = next(i for i, on in enumerate(d.vcpuPinInfo(
        libvirt.VIR_DOMAIN_AFFECT_LIVE)[0]) if on)
    new = (old + 1) % ncpus
    seen_before = len(run.ticks())
    d.pinVcpu(0, cpumap(ncpus, {new}))
    pinned_at = time.monotonic()
    found = wait_for(lambda: [m for m in REREAD.finditer(run.text())
                              if m.group(1) == d.name()], 10)
    ticks_between = len(run.ticks()) - seen_before
    tap.note(f"{d.name()} vCPU 0 pinned {old} -> {new}; re-read lines: "
             + "; ".join(m.group(0) for m in found))
    tap.ok(found and "tunable event" in found[0].group(2),
           f"{d.name()} is read again because of libvirt's tunable event")
    tap.ok(found and found[0].group(3).split(",")[0] == str(new),
           f"the daemon sees {d.name()}'s vCPU 0 on pCPU {new}")
    tap.ok(found and ticks_between <= 3,
           f"within two ticks of the pin ({ticks_between} tick lines, "
           f"{time.monotonic() - pinned_at:.1f} s)")
    run.stop()

    # 3. One guest free on every pCPU: read on every tick.
    free = doms[0]
    free.pinVcpu(0, cpumap(ncpus, set(range(ncpus))))
    run = Run(tmp, "free")
    runs.append(run)
    ticks = run.wait_ticks(4)
    later = [t for t in ticks if t[0] >= 2]
    tap.note("ticks with one guest free: "
             + ", ".join(str(t) for t in ticks[:5]))
    tap.ok(later and all(t[3] == len(doms) - 1 for t in later),
           f"{free.name()}, free on every pCPU, is read on every tick; the "
           f"others are kept")
    calls_pinned = [t[2] for t in runs[0].ticks()
                    if t[0] >= 2 and t[3] == len(doms)]
    calls_free = [t[2] for t in later]
    tap.note(f"libvirt calls per tick: {sorted(set(calls_pinned))} with every "
             f"vCPU pinned and kept, {sorted(set(calls_free))} with one guest "
             f"free")
    tap.ok(calls_free and calls_pinned
           and set(calls_free) == {c + 1 for c in calls_pinned},
           "the free guest costs one call per tick more")
finally:
    for r in runs:
        r.stop()
    for d in doms:
        for v, m in enumerate(saved.get(d.name(), [])):
            try:
                d.pinVcpu(v, m)
            except libvirt.libvirtError as e:
                tap.note(f"restoring {d.name()} vCPU {v}: {e}")
    conn.close()
tap.done()
