#!/usr/bin/python3
"""A migration's estimate against what the migration did: for one guest
rewriting a file in its page cache at several rates (4 KB blocks, so
that every page's content changes, which is what QEMU's page sampling
sees), the request's estimate
(dirty rate measured by QEMU, passes, MiB sent, seconds) next to the
result's job figures, in one run.

    tests/bench/migration_estimate.py [--guest aos_vm4] [--rates 0,16,48]
                                      [--out FILE.json]

Needs the real test host up (make host-up) and holds its lock; starts the
plain-TCP peer (tests/host/peer.sh) and stops it again.  The first
migration, of the idle guest, measures the link; the estimates of the
next ones use that throughput (bandwidth_mib_s), which is what a daemon
does after its first migration.  A last row caps the guest's migration
speed below its dirty rate and asks in advise mode only: the estimate must
say it would not converge (no job is run, as it would run until its
600 s limit).  A benchmark, not a test: the figures move with the host.
"""
import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "lib"))
from lateness import LOCK  # noqa: E402
from migration_host import (binaries, jlines, migrate_back,  # noqa: E402
                            open_conn, set_512)
from common import URI, guestctl  # noqa: E402

PEER_URI = "qemu+tcp://127.0.0.1:16599/system"
PEER_SH = os.path.join(ROOT, "tests", "host", "peer.sh")
WRITE_MB = 96  # the file the guest rewrites: its page cache
CAP_MIB_S = 2  # below what the writer dirties


def say(text):
    print(f"migration_estimate: {text}", file=sys.stderr, flush=True)


def request(tool, guest, entry, logdir, name, conf=None, mode="execute"):
    log = os.path.join(logdir, f"{name}.jsonl")
    args = [tool, "--mode", mode, "--guest", guest, "--peer", entry, "--log",
            log, "--allow-insecure", "--allow-unsynced-clock",
            "--allow-unknown-tsc"]
    if conf:
        args += ["--config", conf]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    lines = jlines(log)
    req = next((j for j in lines if j["event"] == "request"), {})
    res = next((j for j in lines if j["event"] == "result"), {})
    if r.returncode != 0:
        say(f"{name}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return req, res


def row(name, rate, req, res):
    e = req.get("estimate", {})
    sent = res.get("data_processed_bytes")
    return {
        "setting": name, "write_mb_s": rate,
        "dirty_mib_s": e.get("dirty_mib_s"),
        "bandwidth_mib_s": e.get("bandwidth_mib_s"),
        "bandwidth_from": e.get("bandwidth_from"),
        "converges": e.get("converges"), "reason": e.get("reason"),
        "est_passes": e.get("passes"), "est_mib": e.get("total_mib"),
        "est_s": e.get("time_s"),
        "ok": res.get("ok"), "passes": res.get("memory_iterations"),
        "sent_mib": round(sent / 2**20, 1) if sent else None,
        "elapsed_s": res.get("elapsed_ms", 0) / 1000 if res else None,
        "downtime_ms": res.get("downtime_ms"),
    }


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest", default="aos_vm4")
    ap.add_argument("--rates", default="0,16,48")
    ap.add_argument("--out")
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",")]
    logdir = tempfile.mkdtemp(prefix="aos-migration-estimate-")
    tools = binaries(logdir)
    if tools is None:
        sys.exit("migration_estimate: build first (make all)")
    tool = tools[2]
    rows = []
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([PEER_SH, "up"], check=True, capture_output=True)
        host = open_conn(URI)
        peer = open_conn(PEER_URI)
        uuid = ET.fromstring(peer.getCapabilities()).findtext("./host/uuid")
        entry = f"{PEER_URI}={uuid}"
        g = guestctl.Guest(args.guest, uri=URI)
        try:
            for k, rate in enumerate(rates):
                conf = None
                if rows and rows[0]["sent_mib"] and rows[0]["elapsed_s"]:
                    conf = os.path.join(logdir, "measured.conf")
                    with open(conf, "w") as f:
                        f.write("[migration]\nbandwidth_mib_s="
                                f"{rows[0]['sent_mib'] / rows[0]['elapsed_s']:.1f}\n")
                g.connect(timeout=30)
                if rate:
                    g.write_file(size=WRITE_MB, rate=rate, block=4)
                    time.sleep(5)
                say(f"writing {rate} MB/s: migrating {args.guest}")
                req, res = request(tool, args.guest, entry, logdir,
                                   f"run{k}", conf)
                rows.append(row(f"write {rate} MB/s", rate, req, res))
                g.close()
                g.conn.close()
                if args.guest in {d.name() for d in peer.listAllDomains()}:
                    migrate_back(args.guest, host, peer)
                # Its control channel does not survive the round trip.
                g = guestctl.Guest(args.guest, uri=URI)
                g.restart()
                set_512(host, [args.guest])
            # Capped below its dirty rate: advise only.
            rate = max(rates)
            g.connect(timeout=30)
            g.write_file(size=WRITE_MB, rate=rate, block=4)
            time.sleep(5)
            dom = host.lookupByName(args.guest)
            speed = dom.migrateGetMaxSpeed()
            dom.migrateSetMaxSpeed(CAP_MIB_S)
            try:
                req, res = request(tool, args.guest, entry, logdir, "capped",
                                   mode="advise")
            finally:
                dom.migrateSetMaxSpeed(speed)
            rows.append(row(f"write {rate} MB/s, capped at {CAP_MIB_S} MiB/s "
                            "(advise)", rate, req, res))
            g.stop()
            g.close()
        finally:
            subprocess.run([PEER_SH, "down"], capture_output=True)
    print("| setting | dirty rate (QEMU) | bandwidth assumed | estimate: "
          "passes / MiB / s | migration: passes / MiB / s | downtime |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        est = (f"{r['est_passes']} / {fmt(r['est_mib'], '.0f')} / "
               f"{fmt(r['est_s'])}" if r["converges"]
               else f"would not converge ({r['reason']})")
        real = (f"{r['passes']} / {fmt(r['sent_mib'], '.0f')} / "
                f"{fmt(r['elapsed_s'])}" if r["ok"] else "-")
        print(f"| {r['setting']} | {fmt(r['dirty_mib_s'])} MiB/s | "
              f"{fmt(r['bandwidth_mib_s'])} MiB/s ({r['bandwidth_from']}) | "
              f"{est} | {real} | {fmt(r['downtime_ms'], '')} ms |")
    say(f"logs in {logdir}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
