#!/usr/bin/python3
"""Both daemons against faults on the real test host (TAP):

  1. libvirtd killed with SIGKILL and restarted, 5 times in a row: the
     daemons keep running, reconnect within one interval of libvirtd
     answering again, log one "lost" and one "recovered" line per outage,
     and discard the samples from before each restart;
  2. domain churn: a guest destroyed and started again, another paused and
     resumed, mid-run: no exit, no error storm, the restarted guest is
     adopted again (its stats period set anew);
  3. a guest without a balloon driver (<memballoon model='none'>) is never
     ballooned, and this is logged once;
  4. SIGHUP with a broken config keeps the old settings and says why;
  5. SIGTERM while a tick is blocked in libvirt (libvirtd stopped with
     SIGSTOP) exits within 1 s.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import libvirt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from common import ROOT, URI, Tap  # noqa: E402

VCPU = os.environ.get("VCPU_SCHEDULER",
                      os.path.join(ROOT, "vcpu_scheduler", "vcpu_scheduler"))
MEM = os.environ.get("MEMORY_COORDINATOR", os.path.join(
    ROOT, "memory_coordinator", "memory_coordinator"))
PIDFILE = "/run/libvirtd.pid"
OUTAGES = 5
RECONNECT_LIMIT_S = 2.5
SIGTERM_LIMIT_S = 3.0


class Daemon:
    """A daemon under test with its log in a temporary file."""

    def __init__(self, argv, tmp, name):
        self.path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def text(self):
        with open(self.path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=5):
        if self.alive():
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc


def libvirtd_pid():
    with open(PIDFILE) as f:
        return int(f.read().strip())


def libvirtd_answers():
    r = subprocess.run(["virsh", "-c", URI, "version"], capture_output=True,
                       timeout=10)
    return r.returncode == 0


def start_libvirtd():
    env = dict(os.environ,
               LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log")
    # close_fds (the default) keeps the test's descriptors, and with them
    # any lock held by the caller, out of the daemon.
    subprocess.run(["libvirtd", "-d"], env=env, check=True)
    deadline = time.monotonic() + 30
    while not libvirtd_answers():
        if time.monotonic() > deadline:
            raise RuntimeError("libvirtd did not answer within 30 s")
        time.sleep(0.1)
    return time.monotonic()


def kill_libvirtd():
    pid = libvirtd_pid()
    os.kill(pid, signal.SIGKILL)
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)


def wait_for(pred, timeout, poll=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(poll)
    return pred()


def count(pattern, text):
    return len(re.findall(pattern, text, re.M))


def outages(tap, tmp):
    vd = Daemon([VCPU, "1", "--uri", URI, "-v"], tmp, "vcpu-outage")
    md = Daemon([MEM, "1", "--uri", URI, "-v"], tmp, "mem-outage")
    time.sleep(3)
    delays = []
    try:
        for i in range(OUTAGES):
            before_v = count(r"recovered connection", vd.text())
            before_m = count(r"recovered connection", md.text())
            kill_libvirtd()
            time.sleep(2)
            back = start_libvirtd()
            ok = wait_for(lambda: count(r"recovered connection", vd.text())
                          > before_v and count(r"recovered connection",
                                               md.text()) > before_m, 10)
            delays.append(time.monotonic() - back if ok else None)
            time.sleep(2)
    finally:
        if not libvirtd_answers():
            start_libvirtd()
    alive = vd.alive() and md.alive()
    rcs = (vd.stop(), md.stop())
    tap.ok(alive and rcs == (0, 0),
           f"both daemons survived {OUTAGES} libvirtd SIGKILLs and exited 0 "
           f"on SIGINT (exit {rcs})")
    worst = max((d for d in delays if d is not None), default=None)
    # The daemons retry on every tick, so one 1 s interval is what is
    # expected (0.5 s was the worst seen); the bound leaves a busy host
    # another interval and the check's own polling, and still fails a
    # daemon that backs off for several ticks.
    tap.ok(None not in delays and worst <= RECONNECT_LIMIT_S,
           f"each reconnect came within {RECONNECT_LIMIT_S} s of libvirtd "
           f"answering (1 s interval): worst {worst and round(worst, 2)} s")
    for name, d in (("vcpu_scheduler", vd), ("memory_coordinator", md)):
        text = d.text()
        lost = count(r"lost connection to", text)
        rec = count(r"recovered connection to", text)
        renew = count(r"connection renewed: discarding earlier samples", text)
        warns = count(r"WARNING", text)
        tap.ok(lost == OUTAGES and rec == OUTAGES,
               f"{name}: one 'lost' and one 'recovered' line per outage "
               f"({lost} lost, {rec} recovered, {warns} warnings in all)")
        tap.ok(renew == OUTAGES,
               f"{name}: samples from before each restart discarded "
               f"({renew} of {OUTAGES})")


def churn(tap, tmp, conn):
    md = Daemon([MEM, "1", "--uri", URI, "-v"], tmp, "mem-churn")
    vd = Daemon([VCPU, "1", "--uri", URI, "-v"], tmp, "vcpu-churn")
    time.sleep(3)
    gone = conn.lookupByName("aos_vm3")
    paused = conn.lookupByName("aos_vm2")
    period_lines = count(r"stats period of aos_vm3 set", md.text())
    gone.destroy()
    paused.suspend()
    time.sleep(3)
    paused.resume()
    gone.create()
    adopted = wait_for(lambda: count(r"stats period of aos_vm3 set",
                                     md.text()) > period_lines, 15)
    time.sleep(3)
    alive = vd.alive() and md.alive()
    rcs = (vd.stop(), md.stop())
    warns = count(r"WARNING", vd.text()) + count(r"WARNING", md.text())
    tap.ok(alive and rcs == (0, 0),
           f"guests destroyed, started, paused and resumed mid-run: both "
           f"daemons kept running (exit {rcs})")
    tap.ok(warns <= 2, f"no error storm during churn ({warns} warnings)")
    tap.ok(adopted, "the restarted guest was adopted again (stats period "
           "set on its return)")
    # Let the restarted guest boot fully before later tests use it.
    subprocess.run([os.path.join(ROOT, "tests", "host", "up.sh")],
                   capture_output=True, timeout=300)


def no_balloon(tap, tmp, conn):
    src = ET.fromstring(conn.lookupByName("aos_vm4").XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    src.find("name").text = "aos_noballoon"
    for tag in ("uuid", "description"):
        el = src.find(tag)
        if el is not None:
            src.remove(el)
    devices = src.find("devices")
    # Not the disk either: it is aos_vm4's, which has it mounted.
    for el in list(devices):
        if el.tag in ("memballoon", "serial", "console", "disk"):
            devices.remove(el)
    ET.SubElement(devices, "memballoon", {"model": "none"})
    dom = conn.createXML(ET.tostring(src, encoding="unicode"), 0)
    try:
        md = Daemon([MEM, "1", "--uri", URI, "-v", "--decision-log",
                     os.path.join(tmp, "noballoon.jsonl")], tmp,
                    "mem-noballoon")
        time.sleep(8)
        rc = md.stop()
        text = md.text()
        notes = count(r"aos_noballoon reports no balloon stats", text)
        with open(os.path.join(tmp, "noballoon.jsonl")) as f:
            acts = [ln for ln in f if "aos_noballoon" in ln]
        mem = dom.info()[2]
    finally:
        dom.destroy()
    tap.ok(rc == 0 and notes == 1 and not acts,
           f"a guest without a balloon driver: logged once ({notes}), never "
           f"ballooned ({len(acts)} actions, target still {mem // 1024} MiB)")


def sighup_broken(tap, tmp):
    cfg = os.path.join(tmp, "hup.conf")
    with open(cfg, "w") as f:
        f.write(f"[daemon]\ninterval=1\nuri={URI}\n")
    md = Daemon([MEM, "--config", cfg, "-v"], tmp, "mem-hup")
    time.sleep(2)
    with open(cfg, "w") as f:
        f.write("[daemon]\ninterval=banana\n")
    md.proc.send_signal(signal.SIGHUP)
    time.sleep(2.5)
    ticks_after = count(r"tick \d+:", md.text())
    time.sleep(2)
    still = count(r"tick \d+:", md.text()) > ticks_after
    rc = md.stop()
    text = md.text()
    tap.ok("keeping the previous settings" in text and "banana" in text
           and still and rc == 0,
           "SIGHUP with a broken config keeps the old settings, says why, "
           "and ticking goes on")


def sigterm_mid_tick(tap, tmp):
    vd = Daemon([VCPU, "1", "--uri", URI, "-v"], tmp, "vcpu-term")
    time.sleep(2.5)
    pid = libvirtd_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)  # the next tick is now blocked inside libvirt
        t0 = time.monotonic()
        rc = vd.stop(signal.SIGTERM, timeout=5)
        took = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    # libvirtd stays stopped for longer than the bound, so a daemon that
    # waited for its call to return could not pass; 0.7 s is usual.
    tap.ok(took <= SIGTERM_LIMIT_S and rc == 0,
           f"SIGTERM during a tick blocked in libvirt: exit {rc} after "
           f"{took:.2f} s")


def restore_guests(conn):
    """Puts every test guest back at 512 MiB for the tests after this one.

    A restarted libvirtd learns balloon sizes from QEMU's change events
    only, so its bulk "balloon.current" can stay stale while the balloon
    itself is already at 512 MiB; a move away and back makes two events."""
    doms = [d for d in conn.listAllDomains(
        libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        if d.name().startswith("aos_vm")]
    for mib in (500, 512):
        for dom in doms:
            dom.setMemoryFlags(mib * 1024, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        time.sleep(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_BALLOON)
        if all(abs(st.get("balloon.current", 0) - 512 * 1024) <= 4096
               for d, st in stats if d.name().startswith("aos_vm")):
            return
        time.sleep(0.5)


def main():
    tap = Tap(12)
    tmp = tempfile.mkdtemp(prefix="aos-resilience-")
    conn = libvirt.open(URI)
    outages(tap, tmp)
    conn = libvirt.open(URI)
    churn(tap, tmp, conn)
    no_balloon(tap, tmp, conn)
    sighup_broken(tap, tmp)
    sigterm_mid_tick(tap, tmp)
    restore_guests(libvirt.open(URI))
    tap.note(f"daemon logs in {tmp}")
    tap.done()


if __name__ == "__main__":
    main()
