"""Can the Ray head be reached at all? Asked before Ray is: a closed or unroutable port fails in one line in seconds.

`ray.init` (and `ray start --address`) against a port nothing answers on retried for minutes, printed Ray's warnings
over the screen and ignored SIGTERM; `device join` waited 300 s and ended in a traceback. A plain TCP connect with a
timeout answers the question first: EDGEPICK_CONNECT_TIMEOUT (seconds, default 5) or --connect-timeout sets it.
"""

from __future__ import annotations

import math
import os
import socket

from edgepick.core.errors import UserError

DEFAULT_S = 5.0


def connect_timeout(given: float | None = None) -> float:
    """--connect-timeout if given, else EDGEPICK_CONNECT_TIMEOUT, else 5 s; a bad value is one line."""
    raw = given if given is not None else os.environ.get("EDGEPICK_CONNECT_TIMEOUT", DEFAULT_S)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 600):
        source = "--connect-timeout" if given is not None else "EDGEPICK_CONNECT_TIMEOUT"
        raise UserError(f"bad {source} {raw!r}: give seconds, more than 0 and at most 600")
    return value


def split_address(address: str) -> tuple[str, int]:
    text = address.strip().removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"bad cluster address '{address}': give the head's HOST:PORT, e.g. 127.0.0.2:6380")
    return host, int(port)


def require_reachable(address: str, timeout_s: float) -> None:
    """One line (UserError) unless a TCP connection to the head's HOST:PORT opens within timeout_s."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            if os.environ.get("RAY_USE_TLS", "0") in ("0", "") and not _speaks_grpc(sock):
                raise UserError(f"something answers at {address} but it is not a Ray head (it does not speak gRPC); "
                                "give the HOST:PORT `edgepick cluster start` printed")
            return
    except TimeoutError:
        why = f"no answer within {timeout_s:g} s"
    except OSError as e:
        why = e.strerror or type(e).__name__
    raise UserError(f"cannot reach the Ray head at {address}: {why}; is `edgepick cluster start` running there "
                    "(and the port open)? Connect timeout: --connect-timeout or EDGEPICK_CONNECT_TIMEOUT")


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


def _speaks_grpc(sock: socket.socket) -> bool:
    """Ray's head (GCS) is a gRPC server: to HTTP/2's client preface it answers with a SETTINGS frame (type 4).
    Another service on the port (an HTTP/1 server, a database) answers otherwise or not at all: ray.init against
    it waited for minutes."""
    try:
        sock.sendall(_H2_PREFACE)
        head = b""
        while len(head) < 9:
            chunk = sock.recv(9 - len(head))
            if not chunk:
                return False
            head += chunk
    except OSError:  # a timeout included: a gRPC server answers the preface at once
        return False
    return head[3] == 0x04
