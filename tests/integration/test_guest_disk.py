#!/usr/bin/python3
"""The test guests are what tests/host/up.sh says: every guest keeps time on
the clocksource its kernel command line names, with 1 ns timers; /data is
ext4 on /dev/vda with the data file; reading the file fills the page cache
as a real guest's would (the balloon's disk_caches rise, unused falls,
usable stays high); an mmap working set that fits is read without major
faults on its second pass, one that does not fit keeps faulting, and the
host sees those faults in the balloon's major_fault; swap (a file on
/data) turns on and off.

Page-cache checks run in aos_vm3, set back to 512 MiB first (so the
1280 MiB file does not fit) and left with its cache dropped; balloon stats
are read after one more stats period (1 s).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from common import MIB, Tap  # noqa: E402

import guestctl  # noqa: E402  (on the path through common)

VM = "aos_vm3"
FIT_MIB = 128
NOFIT_MIB = 768
FAULT_RATE_MIN = 500  # per second, while a 768 MiB random set thrashes


def stats_after(g, wait=2.5):
    """Balloon stats (MiB; faults as counts) once the guest has reported."""
    time.sleep(wait)
    st = g.balloon()
    return {k: (v / MIB if k in ("actual", "unused", "usable", "disk_caches")
                else v) for k, v in st.items()}


def wait_done(g, prog, timeout):
    deadline = time.monotonic() + timeout
    while g.running(prog):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


tap = Tap(9)
gs = guestctl.GuestSet(uri=os.environ.get("AOS_URI", guestctl.URI))
try:
    names = [g.name for g in gs]
    if len(names) < 4:
        tap.bail(f"needs 4 guests, found {len(names)} (run tests/host/up.sh)")
    health = {}
    for g in gs:
        try:
            g.connect(timeout=30)
            g.stop()
            health[g.name] = (g.health(), g.expected_clocksource())
        except guestctl.GuestError as e:
            tap.bail(f"{g.name} is not usable (run tests/host/up.sh): {e}")

    for n, (h, want) in health.items():
        tap.note(f"{n}: clocksource {h['clocksource']} (command line: "
                 f"{want}), hrtimer resolution {h['resolution_ns']} ns, "
                 f"/data {h['data_fs']} on {h['data_dev']}, data file "
                 f"{(h['data_bytes'] or 0) // (1024 * 1024)} MiB")
    sources = {h["clocksource"] for h, _ in health.values()}
    tap.ok(len(sources) == 1 and all(h["clocksource"] == want and want
                                     for h, want in health.values()),
           "every guest runs the clocksource its kernel command line names, "
           f"the same on all ({', '.join(sorted(map(str, sources)))})")
    tap.ok(all(h["resolution_ns"] == 1 for h, _ in health.values()),
           "every guest has high-resolution timers (1 ns): "
           + ", ".join(f"{n} {h['resolution_ns']}" for n, (h, _) in
                       health.items()))
    tap.ok(all(h["data_dev"] == "/dev/vda" and h["data_fs"] == "ext4"
               for h, _ in health.values()),
           "every guest has ext4 on /dev/vda mounted on /data")
    small = [n for n, (h, _) in health.items()
             if not h["data_bytes"] or h["data_bytes"] <= 512 * 1024 * 1024]
    tap.ok(not small, f"every guest's {guestctl.DATA_FILE} is larger than "
           f"its 512 MiB memory (too small or missing: {small or 'none'})")

    g = gs[VM]
    g.drop_caches()
    g.dom.setMemoryFlags(512 * MIB, guestctl.libvirt.VIR_DOMAIN_AFFECT_LIVE)
    try:
        g.wait_balloon(512 * MIB, timeout=60)
    except guestctl.GuestError as e:
        tap.bail(str(e))
    before = stats_after(g)
    t0 = time.monotonic()
    g.stream(passes=1)
    done = wait_done(g, "fileio", 120)
    took = time.monotonic() - t0
    after = stats_after(g)
    tap.note(f"{VM} streamed {guestctl.DATA_FILE} once in {took:.1f} s: "
             f"{g.workload_log('stream').strip().splitlines()[-1:]}")
    tap.note("balloon stats MiB before -> after: " + ", ".join(
        f"{k} {before.get(k, 0):.0f} -> {after.get(k, 0):.0f}"
        for k in ("actual", "unused", "usable", "disk_caches")))
    tap.ok(done and after["disk_caches"] - before["disk_caches"] >= 250 and
           before["unused"] - after["unused"] >= 200,
           f"reading the file fills the page cache: disk_caches "
           f"+{after['disk_caches'] - before['disk_caches']:.0f} MiB "
           f"(>= 250), unused -{before['unused'] - after['unused']:.0f} MiB "
           "(>= 200)")
    # MemAvailable holds back part of the cache (the low watermark), so it
    # drops a little; anonymous memory of the same size would take it to 0.
    tap.ok(after["usable"] >= before["usable"] - 64 and
           after["usable"] >= after["unused"] + 150,
           f"the guest counts its cache as usable: usable "
           f"{before['usable']:.0f} -> {after['usable']:.0f} MiB while "
           f"unused is {after['unused']:.0f} MiB")

    g.refault(length=FIT_MIB, passes=2, random=True)
    done = wait_done(g, "fileio", 120)
    log = g.workload_log("refault")
    passes = [ln for ln in log.splitlines() if "done at" in ln]
    tap.note(f"{FIT_MIB} MiB set: " + " | ".join(passes))
    fit_ok = (done and len(passes) == 2
              and "majflt 0 in pass" not in passes[0]
              and "majflt 0 in pass" in passes[1])
    tap.ok(fit_ok, f"an mmap set that fits ({FIT_MIB} MiB) faults on its "
           "first pass and not on its second")

    vm0 = g.vmstat()
    s0 = g.balloon()
    t0 = time.monotonic()
    g.refault(length=NOFIT_MIB, random=True)
    time.sleep(12)
    s1 = g.balloon()
    t1 = time.monotonic()
    vm1 = g.vmstat()
    g.stop()
    log = g.workload_log("refault")
    rate = (s1.get("major_fault", 0) - s0.get("major_fault", 0)) / (t1 - t0)
    tap.note(f"{NOFIT_MIB} MiB set for {t1 - t0:.0f} s: balloon major_fault "
             f"{rate:.0f}/s; guest pgmajfault +{vm1['pgmajfault'] - vm0['pgmajfault']}"
             f", workingset_refault_file +"
             f"{vm1['workingset_refault_file'] - vm0['workingset_refault_file']}"
             f"; reader: {log.strip().splitlines()[-1:]}")
    tap.ok(rate >= FAULT_RATE_MIN,
           f"an mmap set that does not fit ({NOFIT_MIB} MiB) shows the host "
           f"{rate:.0f} major faults/s in the balloon stats "
           f"(>= {FAULT_RATE_MIN})")

    g.swap(True)
    on = g.meminfo().get("SwapTotal", 0)
    g.swap(False)
    off = g.meminfo().get("SwapTotal", 0)
    tap.ok(on >= 200 * MIB and off == 0,
           f"swap turns on ({on // MIB} MiB) and off ({off} KiB)")
finally:
    for g in gs:
        try:
            g.stop()
        except guestctl.GuestError:
            pass
    try:
        gs[VM].drop_caches()
    except (guestctl.GuestError, KeyError):
        pass
    gs.close()
tap.done()
