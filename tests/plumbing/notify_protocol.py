#!/usr/bin/python3
"""The service manager's notify protocol, with this test in systemd's
place (TAP).

The test binds an AF_UNIX datagram socket, as systemd does for a
Type=notify unit, and runs each daemon with NOTIFY_SOCKET and
WATCHDOG_USEC pointing at it.  The daemons talk to a private libvirtd
that the test starts (unprivileged, session mode, serving libvirt's
test:///default driver on a socket of its own), so that libvirt can be
made to hang (SIGSTOP) or go away (SIGTERM) without touching the host's
libvirtd.  Every datagram is taken with its sender's credentials, so a
message from any process but the daemon itself (NotifyAccess=main) fails.

Checked, for vcpu_scheduler (all) and memory_coordinator (the start, the
watchdog and the stop):
  - READY=1 after the first tick, with a STATUS= line in the same message;
  - WATCHDOG=1 once per tick;
  - SIGHUP: RELOADING=1, then READY=1; a reload to an interval the
    watchdog cannot cover is refused and still ends in READY=1;
  - libvirtd stopped (SIGSTOP): a tick hangs in a libvirt call and the
    pings stop; resumed (SIGCONT), they start again and the metrics
    count the late tick;
  - libvirtd gone: the ticks fail fast, the pings go on, STATUS= says
    why; libvirtd back: the metrics count one reconnect;
  - SIGTERM: STOPPING=1, exit 0;
  - WATCHDOG_USEC shorter than twice the interval: exit 3 with a message
    naming what to set; without NOTIFY_SOCKET nothing is sent and a short
    WATCHDOG_USEC changes nothing.
"""
import os
import pwd
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VCPU = os.environ.get("VCPU_SCHEDULER",
                      os.path.join(ROOT, "vcpu_scheduler", "vcpu_scheduler"))
MEM = os.environ.get("MEMORY_COORDINATOR", os.path.join(
    ROOT, "memory_coordinator", "memory_coordinator"))
INTERVAL = 0.2
WATCHDOG_USEC = 2_000_000
UNPRIVILEGED = "nobody"
PLAN = 14

n = 0
failed = 0


def tap(cond, desc, detail=None):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print(f"{'ok' if cond else 'not ok'} {n} - {desc}", flush=True)
    if not cond and detail:
        for line in str(detail).splitlines():
            print(f"#   {line}", flush=True)
    return cond


class Libvirtd:
    """A session libvirtd of an unprivileged user, on a socket in tmp."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "libvirtd")
        self.sock_dir = os.path.join(self.dir, "sock")
        self.sock = os.path.join(self.sock_dir, "libvirt-sock")
        self.uri = f"test+unix:///default?socket={self.sock}"
        pw = pwd.getpwnam(UNPRIVILEGED)
        for d in (self.dir, self.sock_dir, os.path.join(self.dir, "run"),
                  os.path.join(self.dir, "home")):
            os.makedirs(d, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(d, 0o700)
        self.conf = os.path.join(self.dir, "libvirtd.conf")
        with open(self.conf, "w") as f:
            f.write(f'unix_sock_dir = "{self.sock_dir}"\n')
        os.chown(self.conf, pw.pw_uid, pw.pw_gid)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.proc = None

    def start(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": os.path.join(self.dir, "home"),
               "XDG_RUNTIME_DIR": os.path.join(self.dir, "run")}
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
             "--clear-groups", "libvirtd", "-f", self.conf],
            env=env, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.sock) and self.answers():
                return True
            time.sleep(0.05)
        return False

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()[-1500:]
        except OSError as e:
            return repr(e)

    def answers(self):
        r = subprocess.run(["virsh", "-c", self.uri, "version"],
                           capture_output=True, timeout=10)
        return r.returncode == 0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None


class Listener:
    """systemd's side of the protocol: every datagram with its arrival
    time and its sender's pid."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.1)
        self.msgs = []  # (monotonic time, pid, {key: value})
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        space = socket.CMSG_SPACE(struct.calcsize("3i"))
        while self.running:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, space)
            except socket.timeout:
                continue
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:12])[0]
            fields = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.msgs.append((time.monotonic(), pid, fields))

    def since(self, t0, key=None):
        with self.lock:
            return [m for m in self.msgs
                    if m[0] >= t0 and (key is None or key in m[2])]

    def wait_for(self, t0, key, value=None, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.since(t0, key):
                if value is None or m[2][key] == value:
                    return m
            time.sleep(0.02)
        return None

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def metrics(path):
    """name -> value of the file's samples without labels."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or "{" in line or not line.strip():
                    continue
                name, value = line.split()
                out[name] = float(value)
    except FileNotFoundError:
        pass
    return out


def ticks(prom, prog):
    return metrics(prom).get(f"{prog}_ticks_total", 0)


def wait_ticks(prom, prog, n, timeout=20.0):
    """Until the metrics count n ticks: a busy machine slows the ticks, and
    the checks count ticks, not seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ticks(prom, prog) >= n:
            return True
        time.sleep(0.05)
    return False


def pings_per_tick(lis, prom, prog, n):
    """Pings while the daemon makes n ticks, and the ticks made.  The file
    is written before the tick's ping, so a ping may fall on either side of
    a reading: the two may differ by one."""
    k0 = ticks(prom, prog)
    w0 = time.monotonic()
    wait_ticks(prom, prog, k0 + n)
    w1 = time.monotonic()
    k1 = ticks(prom, prog)
    pings = [m[0] for m in lis.since(w0, "WATCHDOG") if m[0] <= w1]
    return pings, int(k1 - k0)


def start_daemon(binary, args, env_extra, log_path):
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    env.update(env_extra)
    log = open(log_path, "w")
    return subprocess.Popen([binary] + args, env=env, stdout=log,
                            stderr=subprocess.STDOUT), log


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def full_run(tmp, lv, lis):
    """vcpu_scheduler through every message of the protocol."""
    name = "vcpu_scheduler"
    conf = os.path.join(tmp, "vcpu.conf")
    prom = os.path.join(tmp, "vcpu.prom")

    def write_conf(interval):
        with open(conf, "w") as f:
            f.write(f"[daemon]\nuri={lv.uri}\ninterval={interval}\n"
                    f"metrics_file={prom}\n")

    write_conf(INTERVAL)
    t0 = time.monotonic()
    proc, log = start_daemon(VCPU, ["--config", conf],
                             {"NOTIFY_SOCKET": lis.path,
                              "WATCHDOG_USEC": str(WATCHDOG_USEC)},
                             os.path.join(tmp, f"{name}.log"))

    def logtext():
        log.flush()
        with open(os.path.join(tmp, f"{name}.log")) as f:
            return f.read()

    try:
        ready = lis.wait_for(t0, "READY", "1", timeout=20)
        first = lis.since(t0)
        tap(ready is not None and first[0] is ready
            and "STATUS" in ready[2]
            and "1 guest running" in ready[2]["STATUS"]
            and "last action" in ready[2]["STATUS"],
            f"{name}: READY=1 is the first message, after the first tick, "
            f"with STATUS= in it: "
            f"'{ready[2].get('STATUS') if ready else None}'",
            "\n".join(str(m[2]) for m in first[:5]) + "\n" + logtext())
        if not ready:
            return

        # One ping per tick.
        pings, made = pings_per_tick(lis, prom, name, 10)
        g = gaps(pings)
        tap(made >= 10 and abs(len(pings) - made) <= 1,
            f"{name}: WATCHDOG=1 every tick: {len(pings)} pings while the "
            f"metrics counted {made} ticks of {INTERVAL} s, largest gap "
            f"{max(g) if g else 0:.2f} s",
            f"gaps {[round(x, 3) for x in g]}")

        # Every message so far came from the daemon itself.
        pids = {m[1] for m in lis.since(t0)}
        tap(pids == {proc.pid},
            f"{name}: every message comes from the daemon's own pid "
            f"(NotifyAccess=main): {sorted(p for p in pids if p)}")

        # Reload to a new interval.
        write_conf(0.25)
        h0 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        reloading = lis.wait_for(h0, "RELOADING", "1")
        ready2 = lis.wait_for(reloading[0] if reloading else h0, "READY", "1")
        tap(reloading is not None and ready2 is not None
            and ready2[0] >= reloading[0] and "STATUS" in ready2[2]
            and "reloaded settings (interval 0.25 s)" in logtext(),
            f"{name}: SIGHUP sends RELOADING=1, then READY=1 with STATUS= "
            f"after the new settings are taken",
            logtext()[-2000:])

        # A reload the watchdog cannot cover is refused, and says so.
        write_conf(1.5)
        h1 = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        reloading = lis.wait_for(h1, "RELOADING", "1")
        ready3 = lis.wait_for(reloading[0] if reloading else h1,
                              "READY", "1")
        time.sleep(0.3)
        text = logtext()
        tap(reloading is not None and ready3 is not None
            and "keeping the previous settings" in text
            and "WatchdogSec=3 or more" in text,
            f"{name}: a reload to interval 1.5 s under a 2 s watchdog is "
            f"refused with what to set, and READY=1 follows",
            text[-1500:])
        write_conf(INTERVAL)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)

        # A tick stuck in libvirt: no pings while it hangs.  A tick in
        # flight at the stop may still end; after a second none may.
        before = metrics(prom)
        s0 = time.monotonic()
        lv.signal(signal.SIGSTOP)
        time.sleep(1.0)
        q0 = time.monotonic()
        k0 = ticks(prom, name)
        time.sleep(2.0)
        quiet = lis.since(q0, "WATCHDOG")
        k1 = ticks(prom, name)
        stuck_pings = [m[0] - s0 for m in lis.since(s0, "WATCHDOG")]
        status_during = proc.poll()
        lv.signal(signal.SIGCONT)
        c0 = time.monotonic()
        resumed = lis.wait_for(c0, "WATCHDOG", timeout=10)
        wait_ticks(prom, name, k1 + 3)
        after = metrics(prom)
        late = after.get("vcpu_scheduler_ticks_late_total", 0) - \
            before.get("vcpu_scheduler_ticks_late_total", 0)
        tap(status_during is None and not quiet and k1 == k0
            and resumed is not None,
            f"{name}: libvirtd stopped: the pings stop (last one "
            f"{max(stuck_pings) if stuck_pings else 0:.2f} s after SIGSTOP, "
            f"none and no tick from 1 s to 3 s after it) and come back "
            f"{(resumed[0] - c0) if resumed else -1:.2f} s after SIGCONT",
            f"pings after SIGSTOP at {[round(t, 2) for t in stuck_pings]}; "
            f"ticks {k0} -> {k1} while stopped")
        tap(late >= 1,
            f"{name}: the metrics count the tick that started late after "
            f"the hang: ticks_late_total +{late:.0f}",
            f"before {before}\nafter {after}")

        # libvirtd gone, then back: fast failures, pings, one reconnect.
        lv.stop()
        d0 = time.monotonic()
        down = lis.wait_for(d0, "STATUS", timeout=3)
        time.sleep(1.0)
        down_pings = lis.since(d0, "WATCHDOG")
        down_status = [m[2]["STATUS"] for m in lis.since(d0, "STATUS")]
        ok_down = (down is not None and len(down_pings) >= 3
                   and any("no snapshot" in s for s in down_status))
        back = lv.start()
        b0 = time.monotonic()
        reconnected = False
        while time.monotonic() < b0 + 10:
            if metrics(prom).get(
                    "vcpu_scheduler_libvirt_reconnects_total") == 1:
                reconnected = True
                break
            time.sleep(0.1)
        tap(ok_down and back and reconnected,
            f"{name}: libvirtd gone: {len(down_pings)} pings in the next "
            f"second and STATUS= says why ('{down_status[0] if down_status else ''}'); "
            f"back: libvirt_reconnects_total 1",
            f"libvirtd started again: {back}; reconnected: {reconnected}\n"
            f"statuses {down_status}\nmetrics {metrics(prom)}\n"
            f"libvirtd log: {lv.log_tail()}")

        # SIGTERM
        e0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        stopping = lis.wait_for(e0, "STOPPING", "1", timeout=1)
        tap(rc == 0 and stopping is not None and stopping[1] == proc.pid,
            f"{name}: SIGTERM sends STOPPING=1 and exits {rc}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def short_run(tmp, lv, lis):
    """memory_coordinator: the start, the pings and the stop."""
    name = "memory_coordinator"
    prom = os.path.join(tmp, "mem.prom")
    t0 = time.monotonic()
    proc, log = start_daemon(MEM, [str(INTERVAL), "--uri", lv.uri,
                                   "--metrics-file", prom],
                             {"NOTIFY_SOCKET": lis.path,
                              "WATCHDOG_USEC": str(WATCHDOG_USEC)},
                             os.path.join(tmp, f"{name}.log"))
    try:
        ready = lis.wait_for(t0, "READY", "1", timeout=20)
        status = ready[2].get("STATUS", "") if ready else ""
        tap(ready is not None and "1 guest running" in status
            and "host free" in status,
            f"{name}: READY=1 with its own STATUS=: '{status}'")
        pings, made = pings_per_tick(lis, prom, name, 5)
        e0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        stopping = lis.wait_for(e0, "STOPPING", "1", timeout=2)
        tap(made >= 5 and abs(len(pings) - made) <= 1 and rc == 0
            and stopping is not None,
            f"{name}: {len(pings)} pings for {made} ticks, then STOPPING=1 "
            f"and exit {rc} at SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def refusals(tmp, lv, lis):
    for binary in (VCPU, MEM):
        name = os.path.basename(binary)
        t0 = time.monotonic()
        r = subprocess.run([binary, "2", "--uri", lv.uri],
                           env=dict(os.environ, NOTIFY_SOCKET=lis.path,
                                    WATCHDOG_USEC="3000000"),
                           capture_output=True, text=True, timeout=10)
        err = r.stderr.strip()
        tap(r.returncode == 3 and "WatchdogSec=4 or more" in err
            and not lis.since(t0),
            f"{name}: WATCHDOG_USEC 3 s at interval 2 s: exit "
            f"{r.returncode}, nothing sent, '{err}'")

    # Without NOTIFY_SOCKET nothing is sent, and WATCHDOG_USEC (nobody
    # listening) is no reason to refuse.
    t0 = time.monotonic()
    prom = os.path.join(tmp, "quiet.prom")
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    env["WATCHDOG_USEC"] = "100000"
    proc = subprocess.Popen([VCPU, str(INTERVAL), "--uri", lv.uri,
                             "--metrics-file", prom], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_ticks(prom, "vcpu_scheduler", 3)
    alive = proc.poll() is None
    proc.terminate()
    rc = proc.wait(timeout=10)
    tap(alive and rc == 0 and ticks(prom, "vcpu_scheduler") >= 3
        and not lis.since(t0),
        "vcpu_scheduler without NOTIFY_SOCKET: runs with a short "
        "WATCHDOG_USEC, sends nothing, exits 0 at SIGTERM")


def main():
    print(f"1..{PLAN}", flush=True)
    with tempfile.TemporaryDirectory(prefix="aos-notify-") as tmp:
        os.chmod(tmp, 0o755)
        lv = Libvirtd(tmp)
        lis = Listener(os.path.join(tmp, "notify"))
        try:
            if not lv.start():
                with open(os.path.join(lv.dir, "log")) as f:
                    detail = f.read()[-2000:]
                tap(False, f"a private libvirtd answers on {lv.sock}", detail)
            else:
                full_run(tmp, lv, lis)
                short_run(tmp, lv, lis)
                refusals(tmp, lv, lis)
        finally:
            lis.close()
            lv.stop()
    # A run cut short reports what it did not check, as failures.
    while n < PLAN:
        tap(False, "not run: an earlier step could not go on")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
