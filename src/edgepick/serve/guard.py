"""What stands between `edgepick serve` and a careless or hostile client: connection slots, timeouts, one error shape.

uvicorn's own guards fall short in two ways this module fixes:
- a connection that sends half a request head and stalls holds a slot forever (uvicorn times out only idle
  keep-alive connections, and any byte resets that timer), and its limit_concurrency counts such connections, so
  ~256 stalled sockets made every other client get 503. Here a request head must arrive whole within
  `head_timeout_s` of the connection (or of the previous response), and when the server holds `max_connections`
  (or one client address holds `max_per_client`), a new connection evicts the oldest one that is waiting for a head
  (never one whose request is running), preferring connections that never completed a request;
- uvicorn's own refusals are plain text (400 for malformed HTTP, 503 over capacity): here every refusal is
  {"error": "one line"} with a 4xx/5xx status, like the app's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Limits:
    head_timeout_s: float = 10.0  # a whole request head within this long, or the connection is closed
    body_timeout_s: float = 30.0  # a whole request body within this long (read by the app), or 408
    max_connections: int = 512  # open connections; past it the oldest waiting one is closed
    max_per_client: int = 64  # open connections of one client address; past it its oldest waiting one is closed
    max_inflight: int = 256  # requests being answered at once; past it 503 at once instead of queueing


def json_error(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": message}).encode()
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], body


def protocol_class(limits: Limits) -> type:
    """uvicorn's h11 protocol with these limits (uvicorn builds one protocol object per connection from the class)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


class GuardedH11Protocol(H11Protocol):
    limits = Limits()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.completed = 0  # responses sent on this connection: a client that completed one is kept longer
        self.head_timer = None
        self._wait_for_head()
        self._evict_if_full()

    def connection_lost(self, exc) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.busy:  # a whole head arrived: the request runs under the app's body timeout, not the head timer
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        self.completed += 1
        if not self.transport.is_closing():
            self._wait_for_head()  # armed before uvicorn reads a pipelined head, which then cancels it
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: the JSON error shape of every other refusal (uvicorn sends text/plain)."""
        headers, body = json_error(400, f"malformed HTTP request ({msg.rstrip('.').lower()})")
        for event in (h11.Response(status_code=400, headers=[*headers, (b"connection", b"close")]),
                      h11.Data(data=body), h11.EndOfMessage()):
            try:
                self.transport.write(self.conn.send(event))
            except h11.LocalProtocolError:  # the connection's state allows no response any more: just close
                break
        self.transport.close()

    @property
    def busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _wait_for_head(self) -> None:
        self._cancel_head_timer()
        self.waiting_since = self.loop.time()
        self.head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if not self.busy and not self.transport.is_closing():
            self.transport.close()  # a stalled head: no response, the client never finished asking

    def _evict_if_full(self) -> None:
        """Past a limit, close the oldest connection waiting for a head (of this client first); never a running one."""
        mine = [c for c in self.connections if getattr(c, "client", None) and self.client
                and c.client[0] == self.client[0]]
        for group, limit in ((mine, self.limits.max_per_client), (list(self.connections), self.limits.max_connections)):
            if len(group) > limit:
                victim = _oldest_waiting([c for c in group if c is not self])
                if victim is not None:
                    victim.transport.close()
                    self.connections.discard(victim)


def _oldest_waiting(connections: list) -> GuardedH11Protocol | None:
    waiting = [c for c in connections if isinstance(c, GuardedH11Protocol) and not c.busy
               and not c.transport.is_closing()]
    # never-served connections go first (a stalled half-head), then idle keep-alives; oldest first within each
    return min(waiting, key=lambda c: (c.completed > 0, c.waiting_since), default=None)


class InflightLimit:
    """ASGI middleware: at most `limit` HTTP requests answered at once; past it a JSON 503 at once."""

    def __init__(self, app, limit: int):
        self.app, self.limit, self.inflight = app, limit, 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.inflight >= self.limit:
            headers, body = json_error(503, f"the server is answering {self.limit} requests; retry shortly")
            await send({"type": "http.response.start", "status": 503, "headers": [*headers, (b"retry-after", b"1")]})
            await send({"type": "http.response.body", "body": body})
            return None
        self.inflight += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
