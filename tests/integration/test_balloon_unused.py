#!/usr/bin/python3
"""A memory consumer at 25 MB/s lowers that guest's balloon `unused` by
>= 200 MB within 15 s in our snapshots, and a consumer that stays inside
the guest's memory does not set off the OOM detector.

The consumer (limit 350 MB, hold 20 s) runs in aos_vm2; `unused` is sampled
every 0.5 s (balloon stats period 1 s).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from common import MIB, Tap, open_guest, snapshot  # noqa: E402

VM = "aos_vm2"
RATE = 25
NEEDED_KIB = 200 * MIB

tap = Tap(4)
g = open_guest(tap, VM)
try:
    t0, s0, src = snapshot()
    base = s0[VM]["unused_kib"]
    tap.ok(base is not None and base > 300 * MIB,
           f"{VM} reports unused before the load ({base} KiB)")
    off = g.console_size()
    g.consume(rate=RATE, limit=350, hold=20)
    start = time.monotonic()
    low, reached_at, samples = base, None, []
    while time.monotonic() - start < 15.0:
        time.sleep(0.5)
        t, s, _ = snapshot()
        u = s[VM]["unused_kib"]
        samples.append(f"{t - t0:.1f}s:{u // MIB}")
        low = min(low, u)
        if reached_at is None and base - u >= NEEDED_KIB:
            reached_at = time.monotonic() - start
    drop = base - low
    tap.note(f"source {src}; unused before {base // MIB} MiB, lowest "
             f"{low // MIB} MiB within 15 s: a drop of {drop // MIB} MiB "
             + (f"(200 MiB reached after {reached_at:.1f} s)" if reached_at
                else "(200 MiB never reached)"))
    tap.note("unused MiB over time: " + " ".join(samples))
    tap.ok(drop >= NEEDED_KIB,
           f"consumer at {RATE} MB/s lowers unused by {drop // MIB} MiB >= 200 MiB in 15 s")
    log = g.workload_log("consumer")
    tap.note("consumer: " + " | ".join(log.strip().splitlines()[-2:]))
    tap.ok(g.running("consumer") == 1, "the consumer is still running (holding)")
    tap.ok(not g.oom_lines(off), "no OOM-killer lines for a consumer inside the guest's memory")
finally:
    g.stop()
    g.close()
tap.done()
