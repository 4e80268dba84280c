#!/usr/bin/python3
"""Three hosts on this machine: the test host and both peer libvirtds of
tests/host/peer.sh, each with its own host UUID, all three reached over
TLS with the certificates of tests/host/tls.sh (the TCP peer also listens
on TLS, port 16615, for this test).

  choice: memory_coordinator on the test host, in advise mode under a
      budget deficit, lists both peers.  Free memory is this machine's for
      all three hosts, so the peers differ in load (their guests' vCPUs per
      pCPU): with a guest on the first-listed peer it asks for the second,
      and with two guests on the second it asks for the first;
  ping-pong: one guest on each peer, and a memory_coordinator on each peer
      (--uri that peer) in execute mode, each under a budget smaller than
      its guest's floor and listing the other peer.  Each guest moves once;
      then neither daemon sends a guest back where it came from within
      its cooldown (the guest's own migration history says where), and
      each guest runs on exactly one host.

At the end the guests are back on the test host at 512 MiB with working
control channels, and both peers are stopped.  Needs the test host
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
from migration_host import (GUESTS, binaries, bring_home,  # noqa: E402
                            clear_history, history_hops, jlines, move, note,
                            open_conn, running_names, set_512)

import libvirt  # noqa: E402

PKI = os.path.join(ROOT, "tests", "host", "state", "pki", "libvirt")
# The TCP peer's TLS listener, and the TLS peer.
A_URI = f"qemu+tls://127.0.0.1:16615/system?pkipath={PKI}"
B_URI = f"qemu+tls://127.0.0.1:16614/system?pkipath={PKI}"
PEER_SH = os.path.join(ROOT, "tests", "host", "peer.sh")
# The least budget the daemon takes (guest_floor_mib): an idle guest here
# needs about 275 MiB (100 MiB unused above what it uses), so one guest
# alone is short.
BUDGET_MIB = 200
MEMORY_COORDINATOR = None

tap = Tap(7)
tmp = tempfile.mkdtemp(prefix="aos-migration-fleet-")


def peer_sh(which, cmd):
    r = subprocess.run([PEER_SH, cmd], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "AOS_PEER": which})
    note(f"AOS_PEER={which} peer.sh {cmd}: rc {r.returncode}: "
         f"{(r.stdout + r.stderr).strip()}")
    return r.returncode == 0


def caps(conn):
    return ET.fromstring(conn.getCapabilities())


def hz_unknown(conn):
    c = caps(conn).find("./host/cpu/counter[@name='tsc']")
    return c is None or not c.get("frequency")


def config(name, uri, peers, mode):
    path = os.path.join(tmp, f"{name}.conf")
    log = os.path.join(tmp, f"{name}.jsonl")
    with open(path, "w") as f:
        f.write(f"""[daemon]
uri={uri}
interval=1
[memory]
guest_budget_mib={BUDGET_MIB}
[migration]
mode={mode}
peers={';'.join(peers)}
trigger_ticks=2
cooldown_s=300
allow_unsynced_clock=true
advise_log={log}
{"allow_unknown_tsc=true" if hz_unknown(open_conn(uri)) else ""}
""")
    return path, log


def start(name, conf):
    err = open(os.path.join(tmp, f"{name}.log"), "w")
    return subprocess.Popen([MEMORY_COORDINATOR, "--config", conf, "-v"],
                            stdout=err, stderr=err)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def advised_peer(name, peers):
    """The peer of the first request memory_coordinator on the test host
    makes in advise mode with peers (60 s at most), and its load."""
    conf, log = config(name, URI, peers, "advise")
    p = start(name, conf)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and p.poll() is None:
        if any(j["event"] in ("request", "no-request") for j in jlines(log)):
            break
        time.sleep(0.25)
    rc = stop(p)
    if rc != 0:
        with open(os.path.join(tmp, f"{name}.log")) as f:
            note(f.read()[-600:])
    req = next((j for j in jlines(log) if j["event"] == "request"), {})
    note(f"choice {name}: exit {rc}; {req.get('guest')} -> {req.get('peer')} "
         f"(load {req.get('peer_load')}, {req.get('peer_free_kib', 0) // 1024} "
         f"MiB free): {req.get('reason')}; refusals {req.get('refusals')}")
    return rc, req.get("peer")


def loads(conns):
    return ", ".join(f"{label} {sorted(running_names(c) & set(GUESTS))}"
                     for label, c in conns)


def ping_pong(a, b, entry_a, entry_b):
    """Both daemons until each has moved a guest and then refused at
    least once more (150 s at most).  Returns the checks' (ok, text)."""
    conf_a, log_a = config("pp-a", A_URI, [entry_b], "execute")
    conf_b, log_b = config("pp-b", B_URI, [entry_a], "execute")
    procs = [start("pp-a", conf_a), start("pp-b", conf_b)]
    logs = [log_a, log_b]

    def settled():
        for log in logs:
            ls = jlines(log)
            res = [i for i, j in enumerate(ls) if j["event"] == "result"]
            if not res or not any(j["event"] == "no-request"
                                  for j in ls[res[0]:]):
                return False
        return True

    t0 = time.monotonic()
    while (time.monotonic() - t0 < 150 and not settled()
           and all(p.poll() is None for p in procs)):
        time.sleep(0.5)
    ran = time.monotonic() - t0
    rcs = [stop(p) for p in procs]
    for rc, name in zip(rcs, ("pp-a", "pp-b")):
        if rc != 0:
            with open(os.path.join(tmp, f"{name}.log")) as f:
                note(f"{name}: {f.read()[-600:]}")
    out = []
    results = [[j for j in jlines(log) if j["event"] == "result"]
               for log in logs]
    moved = [[(j.get("guest"), j.get("ok")) for j in r] for r in results]
    note(f"ping-pong: {ran:.0f} s; exits {rcs}; results A {moved[0]}, "
         f"B {moved[1]}")
    for label, r in zip("AB", results):
        for j in r:
            if not j.get("ok"):
                note(f"ping-pong: {label}'s job of {j.get('guest')} failed: "
                     f"{j.get('error')}")
    out.append((rcs == [0, 0] and all(len(r) == 1 and r[0].get("ok")
                                      for r in results),
                f"ping-pong: each peer's memory_coordinator, under a "
                f"{BUDGET_MIB} MiB budget and listing the other, migrated "
                f"exactly one guest in {ran:.0f} s (A {moved[0]}, "
                f"B {moved[1]}); exits {rcs}"))
    back = []
    for log, label in zip(logs, "AB"):
        for j in jlines(log):
            if j["event"] != "no-request":
                continue
            for r in j.get("refusals", []):
                if "came from host" in r or "it was migrated 1 time" in r:
                    back.append(f"{label}: {r}")
    for r in back[:2]:
        note(r)
    where = {}
    for label, conn in (("A", a), ("B", b)):
        for g in running_names(conn) & set(GUESTS):
            where[g] = (label, history_hops(conn, g))
    note(f"ping-pong: where the guests are, with their hops: {where}")
    once = all(len(h) == 1 for _, h in where.values()) and len(where) == 2
    out.append((once and any(x.startswith("A:") for x in back)
                and any(x.startswith("B:") for x in back),
                f"ping-pong: each guest has one hop in its history, and "
                f"both daemons then refused to move it on within its "
                f"cooldown ({len(back)} refusal(s)); no guest went back"))
    return out


def one_copy(conns, names):
    """Each of names runs on exactly one of conns."""
    counts = {n: sum(1 for c in conns if n in running_names(c))
              for n in names}
    return all(v == 1 for v in counts.values()), counts


def main():
    global MEMORY_COORDINATOR
    host = libvirt.open(URI)
    missing = [g for g in GUESTS if g not in running_names(host)]
    if missing:
        tap.bail(f"guests not running: {missing} (run tests/host/up.sh)")
    copies = binaries(tmp)
    if copies is None:
        tap.bail("the programs under test are not built")
    MEMORY_COORDINATOR = copies[0]
    clear_history(host)
    set_512(host, GUESTS)
    a = b = None
    try:
        up = peer_sh("", "up") and peer_sh("tls", "up")
        a, b = open_conn(A_URI), open_conn(B_URI)
        uuids = [caps(c).findtext("./host/uuid") if c else None
                 for c in (host, a, b)]
        if not tap.ok(up and a is not None and b is not None
                      and len(set(uuids)) == 3,
                      f"three hosts answer over TLS: the test host "
                      f"{uuids[0]}, A {A_URI} {uuids[1]}, B {B_URI} "
                      f"{uuids[2]}"):
            tap.bail("the peers are not up")
        body(host, a, b, uuids)
    finally:
        problems = []
        # Every guest home first: bring_home restarts a guest that is not
        # on the test host, which would be one still on the other peer.
        for conn in (a, b):
            for g in sorted(running_names(conn) & set(GUESTS)) if conn else []:
                try:
                    note(f"cleanup: {g} home in "
                         f"{move(g, conn, host, tls=True):.2f} s")
                except libvirt.libvirtError as e:
                    note(f"cleanup: {g} could not come home: {e}")
        for conn in (a, b):
            if conn is not None:
                problems += bring_home(host, conn, tls=True)
                conn.close()
        for which in ("", "tls"):
            if not peer_sh(which, "down"):
                problems.append(f"the peer AOS_PEER={which} did not stop")
        for p in problems:
            note(f"cleanup: {p}")
        tap.ok(not problems,
               "host restored: aos_vm1..4 on the test host at 512 MiB with "
               "working control channels, both peers stopped")
        host.close()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


def body(host, a, b, uuids):
    entry_a = f"{A_URI}={uuids[1]}"
    entry_b = f"{B_URI}={uuids[2]}"
    g1, g2, g3 = GUESTS[:3]

    # ---------------------------------------------------------- choice
    note(f"{g1} to A in {move(g1, host, a, tls=True):.2f} s")
    rc, peer = advised_peer("choice-1", [entry_a, entry_b])
    tap.ok(rc == 0 and peer == B_URI,
           f"choice: with {loads([('A', a), ('B', b)])}, the test host's "
           f"memory_coordinator listing A then B asks for {peer}: B, the "
           f"less loaded")
    for g in (g2, g3):
        note(f"{g} to B in {move(g, host, b, tls=True):.2f} s")
    rc, peer = advised_peer("choice-2", [entry_a, entry_b])
    tap.ok(rc == 0 and peer == A_URI,
           f"choice: with {loads([('A', a), ('B', b)])}, it asks for "
           f"{peer}: A, now the less loaded")

    # ------------------------------------------------------- ping-pong
    note(f"{g3} home in {move(g3, b, host, tls=True):.2f} s")
    set_512(a, [g1])
    set_512(b, [g2])
    clear_history(a)
    clear_history(b)
    for ok, what in ping_pong(a, b, entry_a, entry_b):
        tap.ok(ok, what)
    ok, counts = one_copy([host, a, b], GUESTS)
    tap.ok(ok, f"one running copy of each guest on the three hosts: {counts}")


if __name__ == "__main__":
    main()
