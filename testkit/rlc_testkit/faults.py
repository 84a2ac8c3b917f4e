"""Network faults for cross-service tests: a TCP proxy in front of a real server (the S3 server,
say) that the test can stop and start again on the same port, or have stop by itself part-way
through a transfer, while the server behind it keeps its data.

Stopping closes the listening socket and resets every open connection (SO_LINGER 0), as a
crashed server would: clients see connection refused or reset, never a clean reply.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from rlc_testkit.plugin import free_port


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._cut_after: int | None = None
        #: Set when a cut (``stop_after``) has happened.
        self.cut = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
            self._cut_after = None
        self.cut.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            _reset(conn)

    def stop_after(self, upstream_bytes: int) -> None:
        """Stop once one connection has carried ``upstream_bytes`` towards the server: a server
        that goes away in the middle of a request's body."""
        with self._lock:
            self._cut_after = upstream_bytes

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _reset(client)
                    _reset(server)
                    return
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        carried = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upstream and self._cut_after is not None:
                    room = self._cut_after - carried
                    if len(data) >= room:
                        sink.sendall(data[: max(room, 0)])
                        self.cut.set()
                        self.stop()
                        return
                sink.sendall(data)
                carried += len(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _reset(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # SHUT_RD wakes a thread blocked in recv() without sending a FIN; close() then sends the RST.
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        conn.close()
