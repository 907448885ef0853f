"""A Git host that never answers: accepts TCP connections on loopback, reads what
the client sends (a TLS hello) and never sends a byte back. What a firewalled or
overloaded host looks like to git once the connection is made."""

from __future__ import annotations

import selectors
import socket
import threading


class BlackHole:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.accepted = 0  # connections ever accepted
        self.open: set[socket.socket] = set()  # connections the client still holds
        self.changed = threading.Condition()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> BlackHole:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.sock:
                    conn, _ = self.sock.accept()
                    conn.setblocking(False)
                    self._sel.register(conn, selectors.EVENT_READ)
                    with self.changed:
                        self.accepted += 1
                        self.open.add(conn)
                        self.changed.notify_all()
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the client gave up (or was killed)
                    self._sel.unregister(sock)
                    sock.close()
                    with self.changed:
                        self.open.discard(sock)
                        self.changed.notify_all()

    def wait(self, predicate, timeout: float, what: str) -> None:
        """Until ``predicate(self)`` holds, woken by every change (timeout: failure bound)."""
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"black hole: timed out waiting for {what} "
                                     f"(accepted {self.accepted}, open {len(self.open)})")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._sel.close()
