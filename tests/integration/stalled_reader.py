"""A raw HTTP/2 gRPC client that sends one request and then never takes a byte of the answer.

It announces an initial stream window of zero and never sends WINDOW_UPDATE, so the server cannot send
a single DATA frame of the response: exactly what a client that stopped reading looks like to the
server once the buffers between them are full. It still answers the connection's SETTINGS and PING
frames (the `h2` state machine does that), so the connection itself stays healthy.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class StalledReader:
    def __init__(self, target: str, method: str, request: bytes, *, window: int = 0) -> None:
        host, _, port = target.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.settimeout(None)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        self.events: list[tuple[float, h2.events.Event]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.conn.initiate_connection()
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            stream_id,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", target),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ],
        )
        self.conn.send_data(stream_id, b"\x00" + struct.pack(">I", len(request)) + request, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self._reader = threading.Thread(target=self._read, name="stalled-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                try:
                    received = self.conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    return  # the server went away (GOAWAY, then more frames)
                now = time.monotonic()
                self.events.extend((now, event) for event in received)
                outgoing = self.conn.data_to_send()
            if outgoing:
                try:
                    self.sock.sendall(outgoing)
                except OSError:
                    return

    def seen(self, kind: type[h2.events.Event]) -> bool:
        with self._lock:
            return any(isinstance(event, kind) for _, event in self.events)

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(timeout=5)
