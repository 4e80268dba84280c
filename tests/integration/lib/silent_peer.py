"""A TCP listener that accepts connections and never answers: what a
migration peer looks like whose libvirtd hangs, or whose firewall lets
the handshake through and drops the rest.  libvirt's client then waits
for an answer without a time-out of its own.

    with SilentPeer() as sp:
        uri = sp.uri          # qemu+tcp://127.0.0.1:PORT/system
        ...
        sp.accepted           # connections taken so far
"""
import socket
import threading


class SilentPeer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.uri = f"qemu+tcp://127.0.0.1:{self.port}/system"
        self.held = []
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def accepted(self):
        return len(self.held)

    def _accept(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.closing = True
        # shutdown wakes the blocked accept; then the held connections go,
        # which ends a client still waiting on one.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.held:
            c.close()
        self.thread.join(timeout=5)
        return False
