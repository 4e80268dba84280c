#!/usr/bin/python3
"""Guest memory monitor in the course's output format.

Every interval it prints each aos_* guest's balloon size and unused memory
in MiB:

    (blank line)
    --------------------------------------------------
    Iteration number :  3
    Memory (VM: aos_vm3)  Actual [512.0], Unused: [196.73046875]

With -m the guest lines read `memory,<vm>,<actualMB>,<unusedMB>`.
sample_memory() is also used by the scenario runner.
"""
import argparse
import sys
import time

import libvirt


def sample_memory(conn, prefix):
    """[(name, actual_mib, unused_mib or None)], sorted by name."""
    out = []
    doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    for d in sorted(doms, key=lambda d: d.name()):
        if not d.name().startswith(prefix):
            continue
        try:
            stats = d.memoryStats()
        except libvirt.libvirtError:
            continue
        unused = stats.get("unused")
        out.append((d.name(), stats.get("actual", 0) / 1024.0,
                    None if unused is None else unused / 1024.0))
    return out


def print_sample(iteration, rows, machine, out=sys.stdout):
    print("", file=out)
    print("-" * 50, file=out)
    print("Iteration number : ", iteration, file=out)
    for name, actual, unused in rows:
        if machine:
            print("memory,{},{},{}".format(name, actual, unused), file=out)
        else:
            print("Memory (VM: {})  Actual [{}], Unused: [{}]".format(
                name, actual, unused), file=out)
    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--machine", action="store_true",
                    help="machine-parseable output")
    ap.add_argument("--uri", default="qemu:///system")
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--iterations", type=int, default=0,
                    help="stop after this many samples (0: run until Ctrl-C)")
    ap.add_argument("--prefix", default="aos")
    args = ap.parse_args()
    if args.interval <= 0:
        ap.error("--interval must be greater than zero")
    conn = libvirt.openReadOnly(args.uri)
    iteration = 0
    try:
        while args.iterations == 0 or iteration < args.iterations:
            iteration += 1
            print_sample(iteration, sample_memory(conn, args.prefix),
                         args.machine)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
