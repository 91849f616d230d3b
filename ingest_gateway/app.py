"""The gateway's HTTP surface (Starlette): capture endpoints, SDK start-up calls, health."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ingest_gateway import errors
from ingest_gateway.payload import Request as Captured
from ingest_gateway.payload import decode_body, parse_request
from ingest_gateway.producer import EventProducer
from product_analytics.config import Settings
from product_analytics.metrics import Metrics

log = logging.getLogger("ingest_gateway")

BATCH_BODY_LIMIT = 20 * 1024 * 1024
EVENT_BODY_LIMIT = 2 * 1024 * 1024
"""Body limits as PostHog capture sets them: 20 MB for /batch/, 2 MB for single-event paths."""

DRAIN_LIMIT = 64 * 1024 * 1024
"""An oversized body is still read, and dropped, up to this size before the 413: browsers and
most HTTP clients send the whole body before they read an answer, and a connection closed
under them looks like a network failure, which they retry instead of dropping the batch."""

KAFKA_RECORD_LIMIT = 1_000_000
"""librdkafka's default message.max.bytes (and near the broker's default): a larger event can
never be produced, so it is refused as too large instead of failing as a retryable 503."""

KAFKA_RECORD_OVERHEAD = 1_024
"""Room for the record's key, headers and framing inside KAFKA_RECORD_LIMIT."""

RETRY_AFTER_S = 5
READY_CACHE_S = 2.0

CAPTURE_PATHS = ["/e", "/i/v0/e", "/capture", "/track", "/engage"]
_encoder = msgspec.json.Encoder()


def _error_response(exc: errors.GatewayError) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.retryable else None
    return JSONResponse(
        {"error": exc.kind.name.lower(), "message": exc.message}, exc.status, headers=headers
    )


def _records(parsed: Captured) -> list[tuple[str, bytes]]:
    records = []
    for index, event in enumerate(parsed.events):
        value = _encoder.encode(event)
        if len(value) + len(event.distinct_id.encode()) + KAFKA_RECORD_OVERHEAD > KAFKA_RECORD_LIMIT:
            raise errors.too_large(
                f"event {index} ({event.event[:64]!r}) is {len(value)} bytes encoded; one event "
                f"must stay under {KAFKA_RECORD_LIMIT - KAFKA_RECORD_OVERHEAD} bytes"
            )
        records.append((event.distinct_id, value))
    return records


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback too.
    log.error("unhandled error path=%s error=%r", request.url.path, exc)
    return JSONResponse({"error": "internal", "message": "the gateway failed on this request; "
                         "retry, and report it if it persists"}, 500)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    declared_size = int(declared) if declared and declared.isdigit() else 0
    too_large = errors.too_large(f"body larger than {limit} bytes: send smaller batches")
    if declared_size > DRAIN_LIMIT:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > DRAIN_LIMIT:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit or declared_size > limit:
        raise too_large
    return b"".join(chunks)


def build_app(settings: Settings, producer: EventProducer | None = None) -> Starlette:
    metrics = Metrics("pa_gateway")
    state: dict[str, object] = {"producer": producer, "ready_at": 0.0, "ready": False}

    def _producer() -> EventProducer:
        current = state["producer"]
        assert isinstance(current, EventProducer)
        return current

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if state["producer"] is None:
            state["producer"] = EventProducer(settings.kafka_bootstrap, settings.events_topic)
        log.info("gateway ready topic=%s bootstrap=%s", settings.events_topic,
                 settings.kafka_bootstrap)
        yield
        _producer().close()

    # Declared up front so dashboards see zeros, not missing series, before the first event.
    metrics.inc("events_accepted_total", 0, help="Events acknowledged by Kafka")
    metrics.inc("request_seconds_total", 0, help="Time spent answering capture requests")

    async def capture(request: Request) -> Response:
        if request.method == "OPTIONS":  # not a CORS preflight (the middleware answers those)
            return Response(status_code=200)
        limit = BATCH_BODY_LIMIT if request.url.path.startswith("/batch") else EVENT_BODY_LIMIT
        started = time.perf_counter()
        try:
            body = await _read_body(request, limit)
            params = dict(request.query_params)
            content_type = request.headers.get("content-type", "").lower()
            if request.headers.get("content-encoding", "").lower() == "gzip":
                params.setdefault("compression", "gzip")
            obj = decode_body(body, content_type, params)
            parsed = parse_request(obj, params, datetime.now(UTC), settings.api_keys)
            await _producer().send_all(_records(parsed))
        except errors.GatewayError as exc:
            metrics.inc("requests_total", help="Capture requests by status",
                        status=str(exc.status))
            if exc.retryable:
                log.warning("capture unavailable path=%s reason=%s", request.url.path, exc.message)
            return _error_response(exc)
        metrics.inc("requests_total", help="Capture requests by status", status="200")
        metrics.inc("events_accepted_total", len(parsed.events))
        metrics.inc("request_seconds_total", time.perf_counter() - started)
        if request.query_params.get("beacon") == "1":
            return Response(status_code=204)  # sendBeacon never reads the answer
        return JSONResponse({"status": 1})

    async def flags(request: Request) -> Response:
        return JSONResponse(
            {
                "flags": {},
                "featureFlags": {},
                "featureFlagPayloads": {},
                "errorsWhileComputingFlags": False,
                "requestId": str(uuid.uuid4()),
                **_remote_config(),
            }
        )

    async def remote_config(request: Request) -> Response:
        token = request.path_params["token"]
        config = {"token": token, **_remote_config()}
        if request.url.path.endswith(".js"):
            js = (f"(window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{{}})"
                  f"[{_encoder.encode(token).decode()}]="
                  f"{{config:{_encoder.encode(config).decode()},siteApps:[]}};")
            return Response(js, media_type="application/javascript")
        return JSONResponse(config)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(_request: Request) -> Response:
        now = time.monotonic()
        if now - float(state["ready_at"]) > READY_CACHE_S:  # type: ignore[arg-type]
            import anyio

            state["ready"] = await anyio.to_thread.run_sync(_producer().ready)
            state["ready_at"] = now
        if state["ready"]:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "kafka unavailable"}, 503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    async def prometheus(_request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def sdk_bundle(_request: Request) -> Response:
        path = settings.sdk_dist / "analytics.js"
        if not path.is_file():
            return JSONResponse({"error": "not_found",
                                 "message": "browser SDK not built: run make sdk-build"}, 404)
        return FileResponse(path, media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    methods = ["GET", "POST"]
    capture_methods = [*methods, "OPTIONS"]
    routes = []
    for path in ["/batch", *CAPTURE_PATHS]:
        routes += [Route(path, capture, methods=capture_methods),
                   Route(path + "/", capture, methods=capture_methods)]
    routes += [
        Route("/decide/", flags, methods=methods),
        Route("/decide", flags, methods=methods),
        Route("/flags/", flags, methods=methods),
        Route("/flags", flags, methods=methods),
        Route("/array/{token}/config", remote_config),
        Route("/array/{token}/config.js", remote_config),
        Route("/_health", health),
        Route("/_ready", ready),
        Route("/metrics", prometheus),
        Route("/static/analytics.js", sdk_bundle),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origin_regex=".*",
            allow_credentials=True,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Retry-After"],
            # Browsers ask before a public page may call a gateway on a private address.
            allow_private_network=True,
            max_age=86_400,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers={Exception: _internal_error})


def _remote_config() -> dict[str, object]:
    # Everything but event capture is off: no recordings, autocapture or surveys to serve.
    return {
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "sessionRecording": False,
        "autocapture_opt_out": True,
        "capturePerformance": False,
        "heatmaps": False,
        "surveys": False,
        "siteApps": [],
        "defaultIdentifiedOnly": True,
    }
