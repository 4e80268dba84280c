#!/usr/bin/python3
"""A busy burner in one guest raises that guest's vCPU time by >= 0.8 s per
wall second in our snapshots, while an idle guest stays near 0.

The burner spins (burner -1) in aos_vm1.  Other programs on the machine can
take a share of the pCPU from the guest's vCPU thread; up.sh gives libvirt's
machine cgroup a large CPU weight against them.  The delay (time the vCPU
waited for a pCPU) is printed too.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from common import Tap, open_guest, snapshot  # noqa: E402

BUSY, IDLE = "aos_vm1", "aos_vm2"
WINDOW = 10.0

tap = Tap(3)
busy = open_guest(tap, BUSY)
idle = open_guest(tap, IDLE)
try:
    busy.burn(-1)
    tap.ok(busy.running("burner") == 1, f"burner -1 runs in {BUSY}")
    time.sleep(2)  # let the burner settle
    t0, s0, src = snapshot()
    time.sleep(WINDOW)
    t1, s1, _ = snapshot()
    wall = t1 - t0
    rate = (s1[BUSY]["time_ns"] - s0[BUSY]["time_ns"]) / 1e9 / wall
    delay = (s1[BUSY]["delay_ns"] - s0[BUSY]["delay_ns"]) / 1e9 / wall
    irate = (s1[IDLE]["time_ns"] - s0[IDLE]["time_ns"]) / 1e9 / wall
    tap.note(f"source {src}; window {wall:.1f} s; {BUSY} vCPU time "
             f"{rate:.3f} s/s (delay {delay:.3f} s/s); {IDLE} idle "
             f"{irate:.3f} s/s; load average {open('/proc/loadavg').read().split()[0]}")
    tap.ok(rate >= 0.8, f"busy {BUSY}: vCPU time grows {rate:.2f} s/s >= 0.8")
    tap.ok(irate <= 0.1, f"idle {IDLE}: vCPU time grows {irate:.3f} s/s <= 0.1")
finally:
    busy.stop()
    busy.close()
    idle.close()
tap.done()
