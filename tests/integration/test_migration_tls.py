#!/usr/bin/python3
"""Migration over TLS, the default in execute mode, on the real hosts: the
test host's libvirtd and the TLS peer (AOS_PEER=tls tests/host/peer.sh) on
qemu+tls://127.0.0.1:16614/system, both with the certificates of
tests/host/tls.sh.  The peer's qemu.conf has migrate_tls_force = 1: it
refuses every migration that is not encrypted, so one it accepts was.

  tool: migrate_request in execute mode, without --allow-insecure, moves a
      guest to the peer; its request line says "encrypted": true;
  flag: the same with --allow-insecure (no VIR_MIGRATE_TLS) is refused by
      the peer, and warns that the migration would not be encrypted: what
      a migrator that forgot the flag would meet;
  daemon: memory_coordinator under a budget too small for its guests, in
      execute mode with the TLS peer, live-migrates one guest there;
  plain: both daemons refuse at start (exit 3) a qemu+tcp peer in execute
      mode without allow_insecure, naming it;
  identity: the TLS peer listed under another host's UUID is refused with
      both UUIDs, and nothing moves.

At the end the guests are back on the test host at 512 MiB with working
control channels, and the peer is stopped.  Needs the test host
(tests/host/up.sh) and must run alone on it: the caller holds
/tmp/aos-testhost.lock (make check does).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from common import ROOT, URI, Tap  # noqa: E402
from migration_host import (GUESTS, binaries, bring_home, clear_history,  # noqa: E402
                            jlines, migrate_back, note, open_conn,
                            running_names, set_512)

import libvirt  # noqa: E402

PKI = os.path.join(ROOT, "tests", "host", "state", "pki", "libvirt")
PEER_URI = f"qemu+tls://127.0.0.1:16614/system?pkipath={PKI}"
PEER_SH = os.path.join(ROOT, "tests", "host", "peer.sh")
WRONG_UUID = "00000000-0000-4000-8000-00000000beef"
# The programs under test (migration_host.binaries), set by main().
MEMORY_COORDINATOR = VCPU_SCHEDULER = MIGRATE_REQUEST = None
# As in test_migration.py: four idle guests need about 1100 MiB at a 1 s
# interval, so this budget is short by about one guest.
BUDGET_MIB = 1100

tap = Tap(7)
HOST = None
tmp = tempfile.mkdtemp(prefix="aos-migration-tls-")


def peer_sh(cmd):
    r = subprocess.run([PEER_SH, cmd], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "AOS_PEER": "tls"})
    note(f"AOS_PEER=tls peer.sh {cmd}: rc {r.returncode}: "
         f"{(r.stdout + r.stderr).strip()}")
    return r.returncode == 0


def host_uuid(conn):
    return ET.fromstring(conn.getCapabilities()).findtext("./host/uuid")


def hz_unknown(conn):
    caps = ET.fromstring(conn.getCapabilities())
    c = caps.find("./host/cpu/counter[@name='tsc']")
    return c is None or not c.get("frequency")


def request(name, entry, extra=()):
    """migrate_request in execute mode; (exit status, stderr, JSON lines)."""
    log = os.path.join(tmp, f"req-{name}-{len(os.listdir(tmp))}.jsonl")
    args = [MIGRATE_REQUEST, "--mode", "execute", "--guest", name, "--peer",
            entry, "--log", log, "--allow-unsynced-clock", *extra]
    if hz_unknown(HOST):
        args.append("--allow-unknown-tsc")
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stderr, jlines(log)


def config(name, peers, memory=True):
    """An execute-mode config; memory: with the coordinator's budget."""
    path = os.path.join(tmp, f"{name}.conf")
    log = os.path.join(tmp, f"{name}.jsonl")
    budget = f"[memory]\nguest_budget_mib={BUDGET_MIB}\n" if memory else ""
    with open(path, "w") as f:
        f.write(f"""[daemon]
uri={URI}
interval=1
{budget}[migration]
mode=execute
peers={peers}
trigger_ticks=3
allow_unsynced_clock=true
advise_log={log}
{"allow_unknown_tsc=true" if hz_unknown(HOST) else ""}
""")
    return path, log


def daemon_migrates(entry):
    """memory_coordinator until it reports one result (90 s at most)."""
    conf, log = config("daemon", entry)
    err_path = os.path.join(tmp, "daemon.log")
    with open(err_path, "w") as f:
        p = subprocess.Popen([MEMORY_COORDINATOR, "--config", conf, "-v"],
                             stdout=f, stderr=f)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 90 and p.poll() is None:
        if any(j["event"] == "result" for j in jlines(log)):
            break
        time.sleep(0.25)
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, time.monotonic() - t0, jlines(log)


def main():
    global HOST
    HOST = libvirt.open(URI)
    missing = [g for g in GUESTS if g not in running_names(HOST)]
    if missing:
        tap.bail(f"guests not running: {missing} (run tests/host/up.sh)")
    global MEMORY_COORDINATOR, VCPU_SCHEDULER, MIGRATE_REQUEST
    copies = binaries(tmp)
    if copies is None:
        tap.bail("the programs under test are not built")
    MEMORY_COORDINATOR, VCPU_SCHEDULER, MIGRATE_REQUEST = copies
    clear_history(HOST)
    set_512(HOST, GUESTS)
    peer = None
    try:
        peer = body()
    finally:
        problems = []
        if peer is None:
            peer = open_conn(PEER_URI)
        if peer is not None:
            problems += bring_home(HOST, peer, tls=True)
            peer.close()
        if not peer_sh("down") or open_conn(PEER_URI) is not None:
            problems.append("the peer did not stop")
        for p in problems:
            note(f"cleanup: {p}")
        tap.ok(not problems,
               "host restored: aos_vm1..4 on the test host at 512 MiB with "
               "working control channels, the TLS peer stopped")
        HOST.close()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def body():
    up = peer_sh("up")
    peer = open_conn(PEER_URI)
    puuid = host_uuid(peer) if peer else None
    if not tap.ok(up and peer is not None and puuid != host_uuid(HOST),
                  f"the TLS peer answers on {PEER_URI} (host UUID {puuid}), "
                  "with the test host's CA"):
        tap.bail("no TLS peer")
    entry = f"{PEER_URI}={puuid}"
    guest = GUESTS[-1]

    # ------------------------------------------------------------ tool
    rc, err, lines = request(guest, entry)
    req = next((j for j in lines if j["event"] == "request"), {})
    res = next((j for j in lines if j["event"] == "result"), {})
    note(f"tool: exit {rc}; result ok {res.get('ok')}, wall "
         f"{res.get('wall_ms', 0) / 1000:.2f} s, downtime "
         f"{res.get('downtime_ms')} ms; error {res.get('error')}")
    tap.ok(rc == 0 and req.get("encrypted") is True and res.get("ok")
           and guest in running_names(peer) and guest not in running_names(HOST),
           f"tool: migrate_request moved {guest} to the TLS peer, which takes "
           f"only encrypted migrations; request says encrypted: "
           f"{req.get('encrypted')}")
    if guest in running_names(peer):
        note(f"{guest} back over TLS in "
             f"{migrate_back(guest, HOST, peer, tls=True):.2f} s")
        set_512(HOST, [guest])
    clear_history(HOST)

    # ------------------------------------------------------------ flag
    other = GUESTS[-2]
    rc, err, lines = request(other, entry, ["--allow-insecure"])
    refused = [ln for ln in err.splitlines()
               if "allows migration only with VIR_MIGRATE_TLS" in ln]
    warned = [ln for ln in err.splitlines()
              if f"migration of {other} to {PEER_URI} is not encrypted "
                 "(allow_insecure=true)" in ln]
    note(f"flag: exit {rc}: {refused[-1].strip() if refused else err.strip()[-300:]}")
    tap.ok(rc == 1 and refused and warned and other in running_names(HOST)
           and other not in running_names(peer),
           f"flag: without VIR_MIGRATE_TLS (--allow-insecure) the TLS peer "
           f"refuses {other}, which stays here; the request warned that it "
           "was not encrypted")
    clear_history(HOST)

    # ---------------------------------------------------------- daemon
    rc, ran, lines = daemon_migrates(entry)
    req = next((j for j in lines if j["event"] == "request"), {})
    res = next((j for j in lines if j["event"] == "result"), {})
    moved = req.get("guest")
    note(f"daemon: {moved} in {res.get('wall_ms', 0) / 1000:.2f} s, downtime "
         f"{res.get('downtime_ms')} ms; error {res.get('error')}")
    tap.ok(rc == 0 and req.get("encrypted") is True and res.get("ok")
           and moved in running_names(peer) and moved not in running_names(HOST),
           f"daemon: memory_coordinator under a {BUDGET_MIB} MiB budget "
           f"migrated {moved} to the TLS peer over TLS ({ran:.0f} s); "
           f"exit {rc}")
    if moved in running_names(peer):
        migrate_back(moved, HOST, peer, tls=True)
    set_512(HOST, GUESTS)
    clear_history(HOST)

    # ----------------------------------------------------------- plain
    tcp = "qemu+tcp://127.0.0.1:16599/system=" + puuid
    said = []
    for exe in (MEMORY_COORDINATOR, VCPU_SCHEDULER):
        conf, _ = config(f"plain-{os.path.basename(exe)}", tcp,
                         memory=exe == MEMORY_COORDINATOR)
        r = subprocess.run([exe, "--config", conf], capture_output=True,
                           text=True, timeout=30)
        said.append((r.returncode, r.stderr.strip()))
        note(f"plain: {os.path.basename(exe)} exit {r.returncode}: "
             f"{r.stderr.strip()}")
    tap.ok(all(rc == 3 and f"'{tcp}' is reached over plain TCP" in e
               and "allow_insecure=true" in e for rc, e in said),
           "plain: both daemons refuse a qemu+tcp peer in execute mode "
           "without allow_insecure, exit 3, naming the peer and the key")

    # -------------------------------------------------------- identity
    rc, err, lines = request(other, f"{PEER_URI}={WRONG_UUID}")
    want = (f"its capabilities show host UUID {puuid}, not the {WRONG_UUID} "
            "its entry names")
    tap.ok(rc == 1 and want in err and other in running_names(HOST)
           and not any(j["event"] == "request" for j in lines),
           f"identity: the TLS peer listed as {WRONG_UUID} is refused "
           f"(exit {rc}) with both UUIDs; {other} stays here")
    return peer


if __name__ == "__main__":
    main()
