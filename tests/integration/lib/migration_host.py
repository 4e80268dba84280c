"""Helpers of the migration tests (test_migration.py, test_migration_tls.py):
the test host's guests and a peer libvirtd (tests/host/peer.sh)."""

import json
import os
import shutil
import time
import xml.etree.ElementTree as ET

import libvirt

from common import MIB, ROOT, URI, guestctl

GUESTS = [f"aos_vm{i}" for i in range(1, 5)]
HISTORY_NS = "urn:x-aos:migrations:1"


def binaries(tmp):
    """[memory_coordinator, vcpu_scheduler, migrate_request], as built or
    as the environment names them, copied into tmp so that a rebuild in
    the shared tree during the run cannot pull one away from under the
    test; None when one is not built."""
    copies = []
    for var, rel in (("MEMORY_COORDINATOR", "memory_coordinator/memory_coordinator"),
                     ("VCPU_SCHEDULER", "vcpu_scheduler/vcpu_scheduler"),
                     ("MIGRATE_REQUEST", "tools/migrate_request")):
        exe = os.environ.get(var, os.path.join(ROOT, rel))
        if not os.access(exe, os.X_OK):
            note(f"{exe} is not built (make all)")
            return None
        copies.append(os.path.join(tmp, os.path.basename(exe)))
        shutil.copy2(exe, copies[-1])
    return copies


def note(text):
    for line in str(text).splitlines():
        print(f"# {line}", flush=True)


def jlines(path):
    """The JSON objects of a JSON-lines file; [] when it does not exist."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def open_conn(uri):
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError:
        return None


def running_names(conn):
    if conn is None:
        return set()
    return {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}


def set_512(conn, names):
    """Balloon targets of 512 MiB, and a wait (60 s at most) for them."""
    for n in names:
        try:
            conn.lookupByName(n).setMemoryFlags(512 * MIB, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as e:
            note(f"setmem {n}: {e}")
    deadline = time.monotonic() + 60
    for n in names:
        while time.monotonic() < deadline:
            try:
                act = conn.lookupByName(n).memoryStats().get("actual", 0)
            except libvirt.libvirtError:
                break
            if abs(act - 512 * MIB) <= 4096:
                break
            time.sleep(0.2)


def move(name, src, dst, tls=False):
    """name from src to dst, driven by this client (not peer-to-peer: the
    test host's libvirtd is not reachable from a peer's namespace).  A
    persistent guest takes its definition along.  tls: with
    VIR_MIGRATE_TLS (the TLS peer refuses anything else).  Returns the
    seconds it took."""
    t0 = time.monotonic()
    dom = src.lookupByName(name)
    flags = libvirt.VIR_MIGRATE_LIVE
    if tls:
        flags |= libvirt.VIR_MIGRATE_TLS
    if dom.isPersistent():
        flags |= (libvirt.VIR_MIGRATE_PERSIST_DEST
                  | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    dom.migrate(dst, flags, None, "tcp://127.0.0.1", 0)
    return time.monotonic() - t0


def migrate_back(name, host, peer, tls=False):
    """From the peer to the test host (move)."""
    return move(name, peer, host, tls)


def history_hops(conn, name):
    """The hops of name's migration history in its live metadata, as
    dicts of their attributes; [] when it has none."""
    try:
        text = conn.lookupByName(name).metadata(
            libvirt.VIR_DOMAIN_METADATA_ELEMENT, HISTORY_NS)
    except libvirt.libvirtError:
        return []
    return [dict(e.attrib) for e in ET.fromstring(text)
            if e.tag.endswith("migration")]


def clear_history(conn):
    """Removes the migration history of every guest on conn (live and
    definition), so that earlier runs' hops do not hold guests back."""
    if conn is None:
        return
    for g in GUESTS:
        try:
            dom = conn.lookupByName(g)
        except libvirt.libvirtError:
            continue
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        try:
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None,
                            HISTORY_NS, flags)
        except libvirt.libvirtError as e:
            note(f"could not clear {g}'s migration history: {e}")


def channel_ok(name):
    try:
        g = guestctl.Guest(name, uri=URI)
        try:
            g.connect(timeout=8)
            return True
        finally:
            g.close()
            g.conn.close()
    except (guestctl.GuestError, libvirt.libvirtError, OSError):
        return False


def bring_home(host, peer, tls=False):
    """Every test guest back on the test host, with a working control
    channel, at 512 MiB and without a migration history.  Returns what
    could not be restored."""
    problems = []
    for g in sorted(running_names(peer) & set(GUESTS)):
        try:
            took = migrate_back(g, host, peer, tls)
            note(f"cleanup: {g} migrated back in {took:.2f} s")
        except libvirt.libvirtError as e:
            note(f"cleanup: {g} could not come back ({e}); destroyed on the peer")
            try:
                peer.lookupByName(g).destroy()
            except libvirt.libvirtError:
                pass
    for g in GUESTS:
        if g in running_names(host) and channel_ok(g):
            continue
        # A migrated guest's control socket is removed when the QEMU it
        # left exits (the path is the same on both hosts), so it gets a
        # clean boot here.
        note(f"cleanup: {g} has no working control channel; restarting it")
        try:
            gg = guestctl.Guest(g, uri=URI)
            gg.restart()
            gg.close()
            gg.conn.close()
        except (guestctl.GuestError, libvirt.libvirtError) as e:
            problems.append(f"{g}: {e}")
    set_512(host, GUESTS)
    clear_history(host)
    for g in GUESTS:
        try:
            act = host.lookupByName(g).memoryStats().get("actual", 0)
            if abs(act - 512 * MIB) > 4096:
                problems.append(f"{g} at {act} KiB, not 512 MiB")
        except libvirt.libvirtError as e:
            problems.append(f"{g}: {e}")
    return problems
