#!/usr/bin/python3
"""Drive the test guests aos_vm1..N (started by tests/host/up.sh).

Each guest has two serial ports:
  * serial 0, the kernel console, logged to a file (OOM-killer lines land here);
  * serial 1, the control channel: a UNIX socket served by QEMU, behind which
    the guest runs "read a line, eval it" (tests/guest/init.sh).

QEMU's UNIX-socket serial serves one client at a time, so a program that
drives guests for a whole run should hold ONE Guest object per guest and
reuse it (GuestSet does that).  The paths are read from the domain XML, so
this works whichever checkout defined the guests.

As a module (scenario runners):

    import guestctl
    with guestctl.GuestSet(["aos_vm1", "aos_vm2"]) as gs:
        vm = gs["aos_vm1"]
        rc, out = vm.run("cat /proc/meminfo")
        vm.burn(1000000)               # start the burner (count per burst)
        off = vm.console_size()
        vm.consume(rate=25, limit=600) # start the consumer in the background
        lines = vm.wait_oom(off, timeout=60)
        vm.stream(rate=50)             # stream /data/stream.bin (fileio read)
        vm.refault(length=768)         # mmap working set (fileio mmap)
        vm.meminfo()["MemAvailable"]   # KiB; vm.vmstat()["pgmajfault"]
        vm.stop()                      # stop every workload
        vm.restart()                   # fresh boot, channel reconnected

As a command (humans):

    tests/host/guestctl.py aos_vm1 run 'cat /proc/meminfo'
    tests/host/guestctl.py aos_vm1 burn 3000000     (or: burn aos_vm1 3000000)
    tests/host/guestctl.py aos_vm1 stop
    tests/host/guestctl.py aos_vm1 consume --rate 25 --limit 300 --hold 10
    tests/host/guestctl.py aos_vm1 console [OFFSET]
    tests/host/guestctl.py aos_vm1 oom [OFFSET]     exit 0 if OOM lines found
    tests/host/guestctl.py aos_vm1 stats | ping | restart | log burner|consumer
    tests/host/guestctl.py aos_vm1 stream --rate 50 --passes 1
    tests/host/guestctl.py aos_vm1 refault --length 768 --rate 50
    tests/host/guestctl.py aos_vm1 write --size 256 --rate 20 --fsync
    tests/host/guestctl.py aos_vm1 meminfo MemFree Cached | vmstat pgmajfault
    tests/host/guestctl.py aos_vm1 swap on|off | dropcaches
    tests/host/guestctl.py all ping                 every aos_vm* guest
    tests/host/guestctl.py all check                clocksource, timers, /data

A CLI call connects for the duration of the call only; it cannot reach a
guest whose channel another program is holding (it says so after a timeout).
"""

import os
import re
import shlex
import socket
import sys
import time
import xml.etree.ElementTree as ET

import libvirt

URI = "qemu:///system"
READY_MARK = "AOS-GUEST-READY"
OOM_RE = re.compile(r"Out of memory|oom-kill|invoked oom-killer")
OOM_KILLED_RE = re.compile(r"Out of memory: Kill|Killed process")
GUEST_RE = re.compile(r"^aos_vm[0-9]+$")
# The data file on every guest's disk (tests/host/up.sh builds it).
DATA_FILE = "/data/stream.bin"
SCRATCH_FILE = "/data/scratch.bin"
SWAP_FILE = "/data/swapfile"
SWAP_MIB = 256
WORKLOADS = ("burner", "consumer", "fileio")
MAX_LINE = 3800  # the guest tty's canonical line limit is 4095 bytes


class GuestError(Exception):
    """A guest could not be reached or a command in it failed."""


def _quiet_libvirt_errors(_ctx, _err):
    pass


libvirt.registerErrorHandler(_quiet_libvirt_errors, None)


def guest_names(conn):
    """Names of all defined test guests, in numeric order."""
    names = [d.name() for d in conn.listAllDomains() if GUEST_RE.match(d.name())]
    return sorted(names, key=lambda n: int(n[len("aos_vm"):]))


class Guest:
    """One test guest: its control channel, console log and libvirt domain."""

    def __init__(self, name, conn=None, uri=URI):
        self.name = name
        self._own_conn = conn is None
        self.conn = conn if conn is not None else libvirt.open(uri)
        try:
            self.dom = self.conn.lookupByName(name)
        except libvirt.libvirtError as e:
            raise GuestError(f"{name}: no such domain on {uri}: {e}") from None
        self.sock = None
        self._buf = b""
        self._seq = 0
        self._read_paths()

    # ------------------------------------------------------------ plumbing
    def _read_paths(self):
        root = ET.fromstring(self.dom.XMLDesc(0))
        self.console_path = None
        self.ctl_path = None
        for s in root.findall("./devices/serial"):
            src = s.find("source")
            tgt = s.find("target")
            port = tgt.get("port") if tgt is not None else None
            if src is None:
                continue
            if s.get("type") == "file" and port == "0":
                self.console_path = src.get("path")
            elif s.get("type") == "unix" and port == "1":
                self.ctl_path = src.get("path")
        if not self.console_path or not self.ctl_path:
            raise GuestError(f"{self.name}: domain XML lacks the console file "
                             "or the control socket (not defined by up.sh?)")

    def connect(self, timeout=30.0):
        """Open the control channel and synchronise with the guest's loop."""
        if self.sock is not None:
            return
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(self.ctl_path)
                break
            except OSError as e:
                s.close()
                last = e
                if time.monotonic() > deadline:
                    raise GuestError(f"{self.name}: cannot connect to "
                                     f"{self.ctl_path}: {last}") from None
                time.sleep(0.2)
        self.sock = s
        self._buf = b""
        # QEMU accepts a second client into its backlog but serves only one,
        # so a busy channel shows up as a sync that never answers.
        token = f"__S{os.getpid()}_{int(time.time() * 1000)}__"
        while True:
            self._send("")
            self._send(f"echo {token}")
            try:
                self._read_until(re.compile(re.escape(token).encode() + rb"\n"),
                                 min(deadline, time.monotonic() + 2.0))
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    self.close()
                    raise GuestError(
                        f"{self.name}: no answer on {self.ctl_path} within "
                        f"{timeout:.0f} s (guest not booted, or another "
                        "program holds the control channel)") from None

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
                self._buf = b""

    def _send(self, line):
        data = (line + "\n").encode()
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise GuestError(f"{self.name}: control channel write: {e}") from None

    def _read_until(self, regex, deadline):
        """Read until regex matches; return (text before, match). Raises
        TimeoutError at the deadline."""
        while True:
            m = regex.search(self._buf)
            if m:
                before = self._buf[:m.start()]
                self._buf = self._buf[m.end():]
                return before, m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError from None
            except OSError as e:
                self.close()
                raise GuestError(f"{self.name}: control channel read: {e}") from None
            if not chunk:
                self.close()
                raise GuestError(f"{self.name}: control channel closed by QEMU")
            self._buf += chunk.replace(b"\r", b"")

    # ------------------------------------------------------------ commands
    def run(self, cmd, timeout=60.0):
        """Run a shell command in the guest; return (exit status, output).

        Output is stdout and stderr together.  The command runs with stdin
        from /dev/null, oom_score_adj 0, and is killed in the guest after
        `timeout` seconds (status 137)."""
        self.connect()
        self._seq += 1
        tag = f"{os.getpid()}_{self._seq}"
        inner = "echo 0 >/proc/self/oom_score_adj; " + cmd
        if "\n" in inner:
            enc = inner.replace("\\", "\\\\").replace("\n", "\\n")
            inner_q = '"$(printf %b ' + shlex.quote(enc) + ')"'
        else:
            inner_q = shlex.quote(inner)
        t = max(1, int(timeout + 0.999))
        line = (f"echo __B{tag}__; timeout -s KILL {t} sh -c {inner_q} "
                f"</dev/null 2>&1; echo \"__E{tag}__ $?\"")
        if len(line) > MAX_LINE:
            raise GuestError(f"{self.name}: command too long ({len(line)} bytes)")
        self._send(line)
        deadline = time.monotonic() + timeout + 15
        try:
            self._read_until(re.compile(rb"__B" + tag.encode() + rb"__\n"), deadline)
            out, m = self._read_until(
                re.compile(rb"__E" + tag.encode() + rb"__ (\d+)\n"), deadline)
        except TimeoutError:
            raise GuestError(f"{self.name}: no answer to {cmd!r} within "
                             f"{timeout + 15:.0f} s") from None
        return int(m.group(1)), out.decode(errors="replace")

    def sh(self, cmd, timeout=60.0):
        """Run a command that must succeed; return its output."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestError(f"{self.name}: {cmd!r} exited {rc}: {out.strip()}")
        return out

    def ping(self):
        return self.sh("echo pong", timeout=10).strip() == "pong"

    def spawn(self, tag, cmd):
        """Start cmd in the background in the guest; its output goes to
        /tmp/<tag>.log there.  Returns the guest pid."""
        out = self.sh(f"{cmd} >>/tmp/{tag}.log 2>&1 </dev/null & echo $!")
        return int(out.split()[-1])

    def burn(self, count, copies=1, per_vcpu=False):
        """Start `copies` burners counting to `count` (-1 spins); with
        per_vcpu, copy i is bound to the guest's CPU i (busybox taskset
        execs the burner, so it keeps the burner's pid and name)."""
        return [self.spawn("burner", (f"taskset -c {i} " if per_vcpu else "")
                           + f"burner {int(count)}") for i in range(copies)]

    def stop_burn(self):
        self.run("killall -q burner")

    def consume(self, rate=25, limit=None, hold=None, stay=False, step=None,
                report=None, extra=()):
        """Start the consumer (see tests/guest/consumer.c for the flags)."""
        args = ["consumer", "--rate", str(rate)]
        if limit is not None:
            args += ["--limit", str(limit)]
        if hold is not None:
            args += ["--hold", str(hold)]
        if step is not None:
            args += ["--step", str(step)]
        if report is not None:
            args += ["--report", str(report)]
        if stay:
            args.append("--stay")
        args += list(extra)
        self.run("rm -f /tmp/consumer.log")
        return self.spawn("consumer", " ".join(shlex.quote(a) for a in args))

    def stop_consume(self):
        self.run("killall -q consumer")

    def stream(self, path=DATA_FILE, rate=None, offset=None, length=None,
               passes=None, tag="stream"):
        """Start the streaming reader (fileio read): reads the range over and
        over, paced at `rate` MB/s (None: as fast as it goes)."""
        return self._fileio(tag, ["read", path], rate=rate, offset=offset,
                            length=length, passes=passes)

    def write_file(self, path=SCRATCH_FILE, size=256, rate=None, passes=None,
                   fsync=False, block=None, tag="writer"):
        """Start the writer (fileio write): rewrites `size` MB of `path`,
        in blocks of `block` KB (each pass changes the first byte of every
        block: with 4, every page's content changes)."""
        return self._fileio(tag, ["write", path], size=size, rate=rate,
                            passes=passes, block=block,
                            flags=["--fsync"] if fsync else [])

    def refault(self, path=DATA_FILE, length=None, offset=None, rate=None,
                passes=None, random=False, tag="refault"):
        """Start the working-set reader (fileio mmap): touches every page of
        the mapped range pass after pass; misses show as major faults."""
        return self._fileio(tag, ["mmap", path], length=length, offset=offset,
                            rate=rate, passes=passes,
                            flags=["--random"] if random else [])

    def _fileio(self, tag, head, flags=(), **opts):
        args = ["fileio"] + head
        for k, v in opts.items():
            if v is not None:
                args += [f"--{k}", str(v)]
        args += list(flags)
        self.run(f"rm -f /tmp/{tag}.log")
        return self.spawn(tag, " ".join(shlex.quote(a) for a in args))

    def stop(self):
        """Stop every workload (burners, consumers, file workloads)."""
        self.run("; ".join(f"killall -q {w}" for w in WORKLOADS) + "; true")

    # ------------------------------------------------------------ kernel
    def _kv(self, path):
        out = self.sh(f"cat {path}", timeout=20)
        vals = {}
        for line in out.splitlines():
            parts = line.replace(":", " ").split()
            if len(parts) >= 2:
                try:
                    vals[parts[0]] = int(parts[1])
                except ValueError:
                    pass
        return vals

    def meminfo(self):
        """/proc/meminfo of the guest: {field: KiB} (HugePages_* are counts)."""
        return self._kv("/proc/meminfo")

    def vmstat(self):
        """/proc/vmstat of the guest: {counter: value}, e.g. pgmajfault,
        pswpin, workingset_refault_file."""
        return self._kv("/proc/vmstat")

    def drop_caches(self):
        """Write back dirty pages and drop the clean page cache."""
        self.sh("sync; echo 3 >/proc/sys/vm/drop_caches", timeout=120)

    def swap(self, on):
        """Turn swap on (a SWAP_MIB file on /data, written the first time:
        swapon refuses a file with holes) or off.  Off by default: the
        scenarios rely on the OOM killer."""
        f = SWAP_FILE
        if on:
            self.sh(f"grep -q '^{f} ' /proc/swaps && exit 0; "
                    f"if [ ! -s {f} ]; then dd if=/dev/zero of={f}.new bs=1M "
                    f"count={SWAP_MIB} 2>/dev/null && chmod 600 {f}.new && "
                    f"mkswap {f}.new >/dev/null && mv {f}.new {f} || exit 1; "
                    f"fi; swapon {f}", timeout=300)
        else:
            self.sh(f"! grep -q '^{f} ' /proc/swaps || swapoff {f}",
                    timeout=300)

    def expected_clocksource(self):
        """The clocksource= of the guest's kernel command line, or None."""
        root = ET.fromstring(self.dom.XMLDesc(0))
        cmdline = root.findtext("./os/cmdline") or ""
        for tok in cmdline.split():
            if tok.startswith("clocksource="):
                return tok.split("=", 1)[1]
        return None

    def health(self):
        """What the guest itself says about its clock and its disk:
        {clocksource, resolution_ns, data_dev, data_fs, data_bytes}."""
        out = self.sh(
            "echo cs $(cat /sys/devices/system/clocksource/clocksource0/"
            "current_clocksource); "
            "echo res $(grep -m1 resolution /proc/timer_list | tr -dc 0-9); "
            "echo mnt $(awk '$2 == \"/data\" { print $1, $3 }' /proc/mounts); "
            f"echo data $(stat -c %s {DATA_FILE} 2>/dev/null)", timeout=20)
        h = {"clocksource": None, "resolution_ns": None, "data_dev": None,
             "data_fs": None, "data_bytes": None}
        for line in out.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "cs" and len(parts) > 1:
                h["clocksource"] = parts[1]
            elif parts[0] == "res" and len(parts) > 1:
                h["resolution_ns"] = int(parts[1])
            elif parts[0] == "mnt" and len(parts) > 2:
                h["data_dev"], h["data_fs"] = parts[1], parts[2]
            elif parts[0] == "data" and len(parts) > 1:
                h["data_bytes"] = int(parts[1])
        return h

    def check(self):
        """Problems with the guest as up.sh means to make it, as sentences
        naming the guest; [] when there are none."""
        want = self.expected_clocksource()
        h = self.health()
        bad = []
        if want is None:
            bad.append(f"{self.name}: its kernel command line names no "
                       "clocksource (defined by an older up.sh?)")
        elif h["clocksource"] != want:
            bad.append(f"{self.name}: clocksource is {h['clocksource']}, "
                       f"not {want} as its kernel command line asks")
        if h["resolution_ns"] != 1:
            bad.append(f"{self.name}: hrtimer resolution is "
                       f"{h['resolution_ns']} ns, not 1 ns (high-resolution "
                       "timers are off)")
        if h["data_dev"] != "/dev/vda" or h["data_fs"] != "ext4":
            bad.append(f"{self.name}: /data is not ext4 on /dev/vda "
                       f"({h['data_dev']} {h['data_fs']})")
        elif not h["data_bytes"]:
            bad.append(f"{self.name}: {DATA_FILE} is missing or empty")
        return bad

    def running(self, prog):
        """Number of running copies of a workload program in the guest."""
        rc, out = self.run(f"pidof {shlex.quote(prog)}")
        return len(out.split()) if rc == 0 else 0

    def workload_log(self, tag):
        rc, out = self.run(f"cat /tmp/{tag}.log")
        return out if rc == 0 else ""

    # ------------------------------------------------------------ console
    def console_size(self):
        """Current size of the console log: an offset for oom_lines()."""
        try:
            return os.path.getsize(self.console_path)
        except OSError:
            return 0

    def console_read(self, offset=0):
        """Console text from offset on (from 0 if the log was restarted)."""
        try:
            with open(self.console_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if offset > f.tell():
                    offset = 0
                f.seek(offset)
                return f.read().decode(errors="replace").replace("\r", "")
        except OSError:
            return ""

    def oom_lines(self, since=0):
        """Console lines since offset that show the guest's OOM killer."""
        return [ln for ln in self.console_read(since).splitlines()
                if OOM_RE.search(ln)]

    def wait_oom(self, since=0, timeout=60.0, poll=0.2):
        """Wait for the guest's OOM killer; return its console lines.

        The kernel prints "... invoked oom-killer" first and the verdict
        ("Out of memory: Killed process ...") after its report, which takes
        a while on the emulated serial port; this returns once the verdict
        is there, or at the timeout with whatever was seen ([] if nothing)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.oom_lines(since)
            if any(OOM_KILLED_RE.search(ln) for ln in lines):
                return lines
            if time.monotonic() > deadline:
                return lines
            time.sleep(poll)

    # ------------------------------------------------------------ domain
    def balloon(self):
        """The balloon stats (KiB): actual, unused, available, usable, ..."""
        return self.dom.memoryStats()

    def bulk_balloon_kib(self):
        """balloon.current from the bulk stats (virConnectGetAllDomainStats),
        the value the daemons' snapshots see.  libvirt updates it from
        QEMU's rate-limited BALLOON_CHANGE events, so while the balloon
        moves it can lag about a second behind memoryStats()["actual"]."""
        res = self.conn.domainListGetStats([self.dom],
                                           libvirt.VIR_DOMAIN_STATS_BALLOON)
        return res[0][1].get("balloon.current", -1)

    def wait_balloon(self, target_kib, timeout=60.0, tolerance_kib=4096):
        """Wait until the balloon is within tolerance of target_kib, both in
        memoryStats()["actual"] and in the bulk stats."""
        deadline = time.monotonic() + timeout
        while True:
            act = self.balloon().get("actual", -1)
            if (abs(act - target_kib) <= tolerance_kib
                    and abs(self.bulk_balloon_kib() - target_kib) <= tolerance_kib):
                return act
            if time.monotonic() > deadline:
                raise GuestError(f"{self.name}: balloon actual {act} KiB "
                                 f"(bulk stats {self.bulk_balloon_kib()} KiB), "
                                 f"not {target_kib} KiB after {timeout:.0f} s")
            time.sleep(0.2)

    def wait_ready(self, since=0, timeout=90.0):
        """Wait for the boot marker on the console after offset `since`,
        then for the control channel."""
        deadline = time.monotonic() + timeout
        while READY_MARK not in self.console_read(since):
            if not self.dom.isActive():
                raise GuestError(f"{self.name}: stopped while booting:\n"
                                 + self.console_tail())
            if time.monotonic() > deadline:
                raise GuestError(f"{self.name}: no boot marker within "
                                 f"{timeout:.0f} s:\n" + self.console_tail())
            time.sleep(0.1)
        self.connect(timeout=max(5.0, deadline - time.monotonic()))

    def qemu_pid(self):
        """PID of the guest's QEMU process (from libvirt's pid file)."""
        with open(f"/run/libvirt/qemu/{self.name}.pid") as f:
            return int(f.read().strip())

    def vcpu_threads(self):
        """{vCPU number: host thread id} of the QEMU vCPU threads
        (named "CPU n/TCG" or "CPU n/KVM")."""
        pid = self.qemu_pid()
        tids = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            m = re.match(r"CPU (\d+)/", comm)
            if m:
                tids[int(m.group(1))] = int(tid)
        return tids

    def console_tail(self, lines=25):
        return "\n".join(self.console_read(0).splitlines()[-lines:])

    def restart(self, timeout=90.0, memory_mib=512):
        """Destroy and start the guest again (a clean boot), wait until it
        is ready, and wait for its balloon to reach memory_mib."""
        self.close()
        if self.dom.isActive():
            self.dom.destroy()
        # libvirt truncates the console log when the domain starts; do it
        # here too, so that the marker found is this boot's.
        try:
            os.truncate(self.console_path, 0)
        except OSError:
            pass
        self.dom.create()
        self.wait_ready(0, timeout)
        if memory_mib:
            self.wait_balloon(memory_mib * 1024)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        if self._own_conn:
            self.conn.close()


class GuestSet:
    """One libvirt connection and one Guest (one channel) per test guest,
    for a whole run.  Index by name: gs["aos_vm1"]; iterate for all."""

    def __init__(self, names=None, uri=URI):
        self.conn = libvirt.open(uri)
        if names is None:
            names = guest_names(self.conn)
        self.guests = {n: Guest(n, conn=self.conn) for n in names}

    def __getitem__(self, name):
        return self.guests[name]

    def __iter__(self):
        return iter(self.guests.values())

    def __len__(self):
        return len(self.guests)

    def stop_all(self):
        for g in self:
            g.stop()

    def close(self):
        for g in self:
            g.close()
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- CLI
COMMANDS = ("run", "burn", "stop", "consume", "console", "oom", "stats",
            "ping", "restart", "log", "settle", "stream", "write", "refault",
            "meminfo", "vmstat", "swap", "dropcaches", "check")

USAGE = """usage: guestctl.py [--uri URI] VM|all COMMAND [ARGS]
       guestctl.py [--uri URI] COMMAND VM|all [ARGS]
commands:
  run CMD...          run a shell command in the guest, print its output,
                      exit with its status
  burn N [COPIES]     start burner(s) counting to N (-1 spins)
  stop                stop burners and consumers
  consume [FLAGS]     start the consumer (default --rate 25), e.g.
                      consume --rate 25 --limit 300 --hold 10
  stream [FILE] [FLAGS]   start the streaming reader (fileio read; default
                      FILE /data/stream.bin), e.g. stream --rate 50 --passes 1
  refault [FILE] [FLAGS]  start the mmap working-set reader (fileio mmap),
                      e.g. refault --length 768 --rate 50 [--random]
  write [FILE] [FLAGS]    start the writer (fileio write; default FILE
                      /data/scratch.bin --size 256), e.g. write --rate 20 --fsync
  log TAG             print a workload's log in the guest (burner, consumer,
                      stream, refault, writer)
  meminfo [KEY...]    print /proc/meminfo (KiB), or only these fields
  vmstat [KEY...]     print /proc/vmstat, or only these counters
  swap on|off         turn swap (a 256 MiB file on /data) on or off
  dropcaches          sync and drop the guest's clean page cache
  check               clocksource as on the kernel command line, 1 ns
                      timers, ext4 /data with the data file; exit 1 if not
  console [OFFSET]    print the console log from OFFSET bytes
  oom [OFFSET]        print OOM-killer lines since OFFSET; exit 1 if none
  stats               print the balloon stats (KiB)
  ping                check the control channel
  restart             destroy and boot the guest again, wait until ready
  settle VM...        ping, wait for the 512 MiB balloon, then check (used
                      by up.sh)"""


def _cli_one(g, cmd, args):
    if cmd == "run":
        rc, out = g.run(" ".join(args), timeout=600)
        sys.stdout.write(out)
        return rc
    if cmd == "burn":
        if not args:
            raise GuestError("burn needs N")
        pids = g.burn(int(args[0]), int(args[1]) if len(args) > 1 else 1)
        print(f"{g.name}: burner {args[0]} started (pid {' '.join(map(str, pids))})")
        return 0
    if cmd == "stop":
        g.stop()
        print(f"{g.name}: workloads stopped")
        return 0
    if cmd == "consume":
        extra = list(args)
        rate = 25
        if "--rate" in extra:
            i = extra.index("--rate")
            rate = extra[i + 1]
            del extra[i:i + 2]
        pid = g.consume(rate=rate, extra=extra)
        print(f"{g.name}: consumer started (pid {pid}); see: log consumer")
        return 0
    if cmd in ("stream", "refault", "write"):
        flags = list(args)
        path = None
        if flags and not flags[0].startswith("--"):
            path = flags.pop(0)
        mode = {"stream": "read", "refault": "mmap", "write": "write"}[cmd]
        tag = {"stream": "stream", "refault": "refault", "write": "writer"}[cmd]
        if path is None:
            path = SCRATCH_FILE if cmd == "write" else DATA_FILE
        if cmd == "write" and "--size" not in flags:
            flags += ["--size", "256"]
        pid = g._fileio(tag, [mode, path], flags=flags)
        time.sleep(0.5)
        rc, _ = g.run(f"kill -0 {pid}")
        log = g.workload_log(tag)
        if rc != 0 and "done" not in log:
            sys.stdout.write(log)
            raise GuestError(f"{g.name}: fileio {mode} exited at once (see above)")
        print(f"{g.name}: fileio {mode} started (pid {pid}); see: log {tag}")
        return 0
    if cmd == "log":
        sys.stdout.write(g.workload_log(args[0] if args else "consumer"))
        return 0
    if cmd in ("meminfo", "vmstat"):
        vals = g.meminfo() if cmd == "meminfo" else g.vmstat()
        missing = [k for k in args if k not in vals]
        if missing:
            raise GuestError(f"{g.name}: no {', '.join(missing)} in {cmd}")
        for k in args or vals:
            print(f"{g.name} {k} {vals[k]}")
        return 0
    if cmd == "swap":
        if args not in (["on"], ["off"]):
            raise GuestError("swap needs on or off")
        g.swap(args[0] == "on")
        print(f"{g.name}: swap {args[0]}")
        return 0
    if cmd == "dropcaches":
        g.drop_caches()
        print(f"{g.name}: page cache dropped")
        return 0
    if cmd == "check":
        bad = g.check()
        for b in bad:
            print(f"guestctl: {b}", file=sys.stderr)
        if not bad:
            h = g.health()
            print(f"{g.name}: clocksource {h['clocksource']}, hrtimer "
                  f"resolution {h['resolution_ns']} ns, /data {h['data_fs']} "
                  f"on {h['data_dev']}, {DATA_FILE} "
                  f"{h['data_bytes'] // (1024 * 1024)} MiB")
        return 1 if bad else 0
    if cmd == "console":
        sys.stdout.write(g.console_read(int(args[0]) if args else 0))
        return 0
    if cmd == "oom":
        lines = g.oom_lines(int(args[0]) if args else 0)
        for ln in lines:
            print(f"{g.name}: {ln}")
        return 0 if lines else 1
    if cmd == "stats":
        for k, v in sorted(g.balloon().items()):
            print(f"{g.name} {k} {v}")
        return 0
    if cmd == "ping":
        t0 = time.monotonic()
        g.ping()
        print(f"{g.name}: pong in {1000 * (time.monotonic() - t0):.0f} ms")
        return 0
    if cmd == "restart":
        t0 = time.monotonic()
        g.restart()
        print(f"{g.name}: restarted in {time.monotonic() - t0:.1f} s")
        return 0
    raise GuestError(f"unknown command {cmd!r}")


def main(argv):
    uri = URI
    if len(argv) >= 2 and argv[0] == "--uri":
        uri, argv = argv[1], argv[2:]
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in COMMANDS:
        cmd, target, args = argv[0], argv[1], argv[2:]
    else:
        target, cmd, args = argv[0], argv[1], argv[2:]
    if cmd not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as e:
        print(f"guestctl: cannot open {uri}: {e}", file=sys.stderr)
        return 1
    try:
        if cmd == "settle":
            names = [target] + args
            if names == ["all"]:
                names = guest_names(conn)
            gs = [Guest(n, conn=conn) for n in names]
            bad = []
            for g in gs:
                t0 = time.monotonic()
                g.connect(timeout=60)
                g.ping()
                g.wait_balloon(512 * 1024, timeout=60)
                problems = g.check()
                h = g.health()
                print(f"{g.name}: control channel answers, balloon at 512 MiB, "
                      f"clocksource {h['clocksource']}, /data {h['data_fs']} "
                      f"({time.monotonic() - t0:.1f} s)")
                bad += problems
                g.close()
            for b in bad:
                print(f"guestctl: {b}", file=sys.stderr)
            return 1 if bad else 0
        names = guest_names(conn) if target == "all" else [target]
        rc = 0
        for n in names:
            g = Guest(n, conn=conn)
            try:
                rc = max(rc, _cli_one(g, cmd, args))
            finally:
                g.close()
        return rc
    except GuestError as e:
        print(f"guestctl: {e}", file=sys.stderr)
        return 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
