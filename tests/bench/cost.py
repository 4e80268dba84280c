#!/usr/bin/python3
"""What a tick costs, and how it grows with the number of domains.

    tests/bench/cost.py [--out FILE] [--real] [--scale 100,1000,5000]
                        [--via-libvirtd] [--tick-bench PATH]

Measurements (each written to FILE, default build/bench/cost.json):
  real          tools/tick_bench on qemu:///system (the real guests), with
                libvirtd's CPU time, then each daemon started in --dry-run
                for a few ticks: its RSS (VmRSS, VmHWM, RssAnon, PSS), CPU
                time per tick and libvirt calls per tick from its -v log.
                Touches the real guests (read-only): run it under
                `flock -o /tmp/aos-testhost.lock`.
  scale N       a generated test:/// node of N domains (build/bench/
                node-N.xml), opened in this process (the driver's own cost,
                no IPC) with --load, so the policies plan as on a busy host;
  via libvirtd  the same node opened through libvirtd (test+unix://), so
                every libvirt call is a real round trip over its socket as
                with qemu:///system; plus the daemons' RSS at that scale.

It reports what it measured; nothing here is a pass/fail assertion.
"""
import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REAL_URI = os.environ.get("AOS_URI", "qemu:///system")
DAEMONS = {
    "vcpu_scheduler": os.environ.get(
        "VCPU_SCHEDULER", os.path.join(ROOT, "vcpu_scheduler",
                                       "vcpu_scheduler")),
    "memory_coordinator": os.environ.get(
        "MEMORY_COORDINATOR", os.path.join(ROOT, "memory_coordinator",
                                           "memory_coordinator")),
}
TICK_RE = re.compile(r"tick (\d+): (\d+) domains, (\d+) libvirt calls")


def say(text):
    print(f"  [cost] {text}", flush=True)


def libvirtd_pid():
    """libvirtd serving this mount namespace's socket, or None."""
    try:
        mine = os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "libvirtd":
                    continue
            if os.readlink(f"/proc/{d}/ns/mnt") != mine:
                continue
        except OSError:
            continue
        pids.append(int(d))
    return min(pids) if pids else None


def libvirtd_answers(uri):
    try:
        return subprocess.run(["virsh", "-c", uri, "version"],
                              capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def tick_bench(tool, args, label):
    say(f"tick_bench {' '.join(args)}")
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([tool, *args, "--label", label], stdout=out,
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if "Message" not in line:
                print(f"    {line.rstrip()}", flush=True)
        rc = proc.wait()
        out.seek(0)
        try:
            result = json.load(out)
        except ValueError:
            result = {"label": label, "ok": False}
    result["exit"] = rc
    return result


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                    out[key] = int(rest.split()[0])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        pass
    return out


def proc_cpu_s(pid):
    """CPU seconds of a process: the sum over its threads of schedstat's
    ns on a CPU (finer than /proc/PID/stat's 10 ms clock ticks)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def log_ticks(path):
    """[(tick, domains, calls)] from a daemon's -v log."""
    try:
        with open(path, errors="replace") as f:
            return [tuple(int(x) for x in m.groups())
                    for m in TICK_RE.finditer(f.read())]
    except OSError:
        return []


def daemon_run(name, uri, label, seconds, workdir):
    """Runs one daemon with --dry-run at a 1 s interval; measures it from
    its second tick (the first only records) to the end."""
    log_path = os.path.join(workdir, f"{name}.{label}.log")
    say(f"{name} --dry-run on {label} for {seconds} s")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([DAEMONS[name], "1", "--uri", uri,
                                 "--dry-run", "-v"],
                                stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    t0 = time.monotonic()
    cpu0 = None
    ticks0 = 0
    while time.monotonic() - t0 < seconds + 60 and proc.poll() is None:
        time.sleep(0.2)
        n = len(log_ticks(log_path))
        if cpu0 is None and n >= 2:
            cpu0, ticks0 = proc_cpu_s(proc.pid), n
        if time.monotonic() - t0 >= seconds and n >= ticks0 + 2:
            break
    status = proc_status(proc.pid)
    cpu1 = proc_cpu_s(proc.pid)
    ticks = log_ticks(log_path)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    measured = len(ticks) - ticks0
    calls = [t[2] for t in ticks[1:]]
    row = {
        "daemon": name, "label": label, "uri": uri,
        "exit": proc.returncode, "ticks": len(ticks),
        "domains": ticks[-1][1] if ticks else None,
        "rpc_calls_per_tick": round(sum(calls) / len(calls), 1)
        if calls else None,
        "cpu_ms_per_tick": round((cpu1 - cpu0) * 1000 / measured, 2)
        if cpu0 is not None and cpu1 is not None and measured > 0 else None,
        "vm_rss_kib": status.get("VmRSS"), "vm_hwm_kib": status.get("VmHWM"),
        "rss_anon_kib": status.get("RssAnon"),
        "rss_file_kib": status.get("RssFile"), "pss_kib": status.get("Pss"),
        "threads": status.get("Threads"),
    }
    say(f"  {name}: {row['ticks']} ticks, {row['rpc_calls_per_tick']} calls "
        f"per tick, {row['cpu_ms_per_tick']} ms CPU per tick, VmRSS "
        f"{row['vm_rss_kib']} KiB (anonymous {row['rss_anon_kib']}, PSS "
        f"{row['pss_kib']})")
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench",
                                                  "cost.json"))
    ap.add_argument("--tick-bench", default=os.path.join(ROOT, "tools",
                                                         "tick_bench"))
    ap.add_argument("--real", action="store_true",
                    help="measure on the real guests (qemu:///system)")
    ap.add_argument("--scale", default="100,1000,5000",
                    help="domain counts for test:/// (empty: none)")
    ap.add_argument("--via-libvirtd", action="store_true",
                    help="also open the scale nodes through libvirtd")
    ap.add_argument("--ticks", type=int, default=10)
    args = ap.parse_args()

    outdir = os.path.dirname(os.path.abspath(args.out))
    workdir = os.path.join(outdir, "cost-logs")
    os.makedirs(workdir, exist_ok=True)
    started = time.monotonic()
    result = {"generated": datetime.datetime.now(datetime.timezone.utc)
              .isoformat(timespec="seconds"),
              "cpus": os.cpu_count(), "tick_bench": [], "daemons": []}
    pid = libvirtd_pid()
    have_libvirtd = pid is not None and libvirtd_answers(REAL_URI)

    if args.real:
        if not have_libvirtd:
            say(f"{REAL_URI} does not answer: no real-guest measurement")
        else:
            result["tick_bench"].append(dict(
                tick_bench(args.tick_bench,
                           ["--uri", REAL_URI, "--ticks", str(args.ticks),
                            "--pause-ms", "1000", "--server-pid", str(pid)],
                           "real"), scale="real", mode="real"))
            for name in DAEMONS:
                result["daemons"].append(dict(
                    daemon_run(name, REAL_URI, "real", 6, workdir),
                    scale="real"))

    scales = [int(x) for x in args.scale.split(",") if x.strip()]
    for n in scales:
        ticks = args.ticks if n < 5000 else max(3, args.ticks // 3)
        common = ["--domains", str(n), "--xml-dir", outdir,
                  "--ticks", str(ticks), "--load"]
        result["tick_bench"].append(dict(
            tick_bench(args.tick_bench, common + ["--pause-ms", "100"],
                       f"test:/// {n} in-process"),
            scale=n, mode="in-process"))
        if args.via_libvirtd and have_libvirtd:
            result["tick_bench"].append(dict(
                tick_bench(args.tick_bench,
                           common + ["--pause-ms", "100", "--via-libvirtd",
                                     "--server-pid", str(pid)],
                           f"test:/// {n} via libvirtd"),
                scale=n, mode="via-libvirtd"))
            uri = "test+unix://" + os.path.join(outdir, f"node-{n}.xml")
            for name in DAEMONS:
                result["daemons"].append(dict(
                    daemon_run(name, uri, f"test-{n}",
                               6 if n < 5000 else 12, workdir), scale=n))
        elif args.via_libvirtd:
            say("libvirtd does not answer: no via-libvirtd measurement")
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    say(f"wrote {args.out} in {result['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
