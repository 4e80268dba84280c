#!/usr/bin/python3
"""pCPU usage monitor in the course's output format.

Every interval it reads each aos_* guest's vCPU 0 time and the pCPU it last
ran on, and prints per pCPU the summed usage (percent of one pCPU over the
interval) and which guests ran there:

    --------------------------------------------------
    Iteration number :  3
    0 - usage: 100.0 | mapping ['aos_vm3', 'aos_vm2']

With -m it prints `usage,<pcpu>,<pct>` and `mapping,<pcpu>,<vm>` lines
instead.  sample_pcpus() is also used by the scenario runner.
"""
import argparse
import sys
import time

import libvirt


def guests(conn, prefix):
    doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    return sorted((d for d in doms if d.name().startswith(prefix)),
                  key=lambda d: d.name())


def read_vcpus(doms):
    """{name: [(vcpu, cpu_time_ns, pcpu), ...]} for the given domains."""
    out = {}
    for d in doms:
        try:
            info, _maps = d.vcpus()
        except libvirt.libvirtError:
            continue
        out[d.name()] = [(v[0], v[2], v[3]) for v in info]
    return out


def pcpu_usage(before, after, seconds, npcpus):
    """Usage per pCPU in percent and the guests mapped to each, from two
    read_vcpus() samples taken `seconds` apart."""
    usage = [0.0] * npcpus
    mapping = [[] for _ in range(npcpus)]
    for name, vcpus in after.items():
        old = dict((v[0], v[1]) for v in before.get(name, []))
        for number, t, pcpu in vcpus:
            if number not in old or pcpu < 0 or pcpu >= npcpus:
                continue
            usage[pcpu] += (t - old[number]) / 1e9 / seconds * 100.0
            if name not in mapping[pcpu]:
                mapping[pcpu].append(name)
    return usage, mapping


def print_sample(iteration, usage, mapping, machine, out=sys.stdout):
    if machine:
        for i, u in enumerate(usage):
            print("usage,{},{}".format(i, u), file=out)
            for vm in mapping[i]:
                print("mapping,{},{}".format(i, vm), file=out)
    else:
        print("-" * 50, file=out)
        print("Iteration number : ", iteration, file=out)
        for i, u in enumerate(usage):
            print("{} - usage: {} | mapping {}".format(i, u, mapping[i]),
                  file=out)
    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--machine", action="store_true",
                    help="machine-parseable output")
    ap.add_argument("--uri", default="qemu:///system")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=0,
                    help="stop after this many samples (0: run until Ctrl-C)")
    ap.add_argument("--prefix", default="aos")
    args = ap.parse_args()
    if args.interval <= 0:
        ap.error("--interval must be greater than zero")
    conn = libvirt.openReadOnly(args.uri)
    npcpus = conn.getInfo()[2]
    before = read_vcpus(guests(conn, args.prefix))
    t0 = time.monotonic()
    iteration = 0
    try:
        while args.iterations == 0 or iteration < args.iterations:
            time.sleep(args.interval)
            after = read_vcpus(guests(conn, args.prefix))
            t1 = time.monotonic()
            iteration += 1
            usage, mapping = pcpu_usage(before, after, t1 - t0, npcpus)
            print_sample(iteration, usage, mapping, args.machine)
            before, t0 = after, t1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
