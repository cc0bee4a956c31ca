"""The HTTP app: POST /v1/infer, GET /healthz, GET /metrics (Prometheus), with optional micro-batching.

Inference runs on one dedicated thread (a Session is not re-entrant), so the event loop keeps answering health and
metrics checks while a model runs. With --max-batch > 1, requests that arrive within --max-wait-ms of the first one
are concatenated along the batch dimension (up to --max-batch rows) and answered from one run. Every refused request
gets a 4xx status and {"error": "one line"}; nothing a client sends makes the server answer 500 or stop.
"""


import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np

from edgepick.core.errors import first_line
from edgepick.serve.model import BadRequest, Served, check_outputs, parse_request

_LATENCY_BUCKETS = (5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class ServeOptions:
    max_batch: int = 1  # rows per model run; > 1 turns micro-batching on
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for others
    max_request_bytes: int = 8 * 2**20
    max_rows: int = 64  # rows one request may carry (dynamic-batch models)
    body_timeout_s: float = 30.0  # a whole body within this long, or 408 (a stalled upload holds no slot forever)
    token: str | None = None  # when set, /v1/infer and /metrics need "Authorization: Bearer TOKEN"


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()  # one per app: several apps in one process never share counters
        self.requests = Counter("edgepick_requests", "Requests by HTTP status", ["code"], registry=self.registry)
        self.latency = Histogram("edgepick_request_latency_seconds", "Answered /v1/infer requests, read to reply",
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.inference = Histogram("edgepick_inference_seconds", "One model run (prepare, run, to_numpy)",
                                   buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("edgepick_queue_depth", "Requests waiting for or in a model run", registry=self.registry)
        self.batch_rows = Histogram("edgepick_batch_rows", "Rows per model run", buckets=(1, 2, 4, 8, 16, 32, 64, 128),
                                    registry=self.registry)


class Batcher:
    def __init__(self, served: Served, options: ServeOptions, metrics: Metrics):
        self.served, self.options, self.metrics = served, options, metrics
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="edgepick-infer")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        self.executor.shutdown(wait=False)

    async def submit(self, inputs: dict[str, np.ndarray], rows: int) -> list[np.ndarray]:
        future = asyncio.get_running_loop().create_future()
        self.metrics.queue_depth.inc()
        try:
            await self.queue.put((inputs, rows, future))
            return await future
        finally:
            self.metrics.queue_depth.dec()

    async def _gather(self, first) -> tuple[list, object]:
        """The first request plus those that arrive within max_wait_ms, up to max_batch rows; and a carry-over."""
        items, rows = [first], first[1]
        if self.options.max_batch <= 1 or not self.served.batch_dynamic:
            return items, None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.max_wait_ms / 1e3
        while rows < self.options.max_batch:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                item = await asyncio.wait_for(self.queue.get(), left)
            except asyncio.TimeoutError:
                break
            if rows + item[1] > self.options.max_batch:
                return items, item
            items.append(item)
            rows += item[1]
        return items, None

    async def _loop(self) -> None:
        carry = None
        while True:
            first = carry or await self.queue.get()
            items, carry = await self._gather(first)
            items = [it for it in items if not it[2].done()]  # a client that went away is not answered
            if items:
                await self._run(items)

    async def _run(self, items: list) -> None:
        rows = sum(it[1] for it in items)
        inputs = items[0][0] if len(items) == 1 else {
            name: np.concatenate([it[0][name] for it in items]) for name in items[0][0]}
        self.metrics.batch_rows.observe(rows)
        t0 = time.perf_counter()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.served.infer, inputs)
        except Exception as e:  # the runtime refused validated inputs: every request of the batch hears why
            for it in items:
                if not it[2].done():
                    it[2].set_exception(e)
            return
        self.metrics.inference.observe(time.perf_counter() - t0)
        offset = 0
        for _, n, future in items:
            if not future.done():
                future.set_result(outputs if len(items) == 1 else
                                  [o[offset:offset + n] if o.ndim and o.shape[0] == rows else o for o in outputs])
            offset += n


async def _read_body(request, options: ServeOptions) -> bytes:
    try:
        return await asyncio.wait_for(_read_limited(request, options.max_request_bytes), options.body_timeout_s)
    except asyncio.TimeoutError:
        raise BadRequest(408, f"the request body did not arrive within {options.body_timeout_s:g} s") from None


def _authorized(request, token: str | None) -> bool:
    import hmac

    if token is None:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _error_handlers(app, metrics: Metrics) -> None:
    """Every refusal has one shape, {"error": "one line"}: FastAPI's 404/405/422 ({"detail": ...}) and a bug's 500."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        metrics.requests.labels(code=str(e.status_code)).inc()
        return JSONResponse({"error": f"{request.method} {request.url.path}: {e.detail}"}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        return JSONResponse({"error": f"invalid request: {first_line(str(e.errors()[:1]), 200)}"}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request, e: Exception):
        metrics.requests.labels(code="500").inc()
        return JSONResponse({"error": f"internal error: {type(e).__name__}"}, status_code=500)


async def _read_limited(request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "bad Content-Length header")
        if int(declared) > limit:
            raise BadRequest(413, f"request body of {int(declared)} bytes is over this server's limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():  # a chunked body has no Content-Length: count as it arrives
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"request body is over this server's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(served: Served, options: ServeOptions | None = None):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    options = options or ServeOptions()
    metrics = Metrics()
    batcher = Batcher(served, options, metrics)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title=f"edgepick: {served.key}", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.metrics, app.state.options = metrics, options
    _error_handlers(app, metrics)

    def unauthorized():
        return JSONResponse({"error": "this server needs a token: send Authorization: Bearer TOKEN"}, status_code=401,
                            headers={"www-authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "run": served.run_id, "candidate": served.key, "runtime": served.runtime,
                "threads": served.threads, "inputs": served.describe_inputs(), "max_batch": options.max_batch,
                "max_wait_ms": options.max_wait_ms, "max_rows": options.max_rows,
                "max_request_bytes": options.max_request_bytes}

    @app.get("/metrics")
    async def prometheus(request: Request):
        if not _authorized(request, options.token):
            return unauthorized()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/infer")
    async def infer(request: Request):
        t0 = time.perf_counter()
        if not _authorized(request, options.token):
            metrics.requests.labels(code="401").inc()
            return unauthorized()
        try:
            body = await _read_body(request, options)
            inputs, rows = parse_request(body, served.signature, options.max_rows)
            outputs = await batcher.submit(inputs, rows)
            check_outputs(outputs)  # this request's rows only: a batch-mate's overflow is not its answer
        except BadRequest as e:
            metrics.requests.labels(code=str(e.status)).inc()
            return JSONResponse({"error": e.message}, status_code=e.status)
        except Exception as e:  # the runtime failed on inputs that passed validation: a server-side fault, one line
            metrics.requests.labels(code="500").inc()
            first = first_line(e, 300, empty="")
            return JSONResponse({"error": f"{type(e).__name__} in the runtime: {first}"}, status_code=500)
        metrics.requests.labels(code="200").inc()
        text = json.dumps({"outputs": [o.tolist() for o in outputs], "rows": rows})
        metrics.latency.observe(time.perf_counter() - t0)
        return Response(text, media_type="application/json")

    return app
