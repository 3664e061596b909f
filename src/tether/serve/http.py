"""The HTTP plumbing under every endpoint: refusals, strict body reading, and the middleware that
gives each request an id, a log line, its metrics and a JSON 500 instead of a crash."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.serve import logs
from tether.serve.limits import JSONLimitError, Limits, parse_json
from tether.serve.metrics import ServeMetrics

M = TypeVar("M", bound=pydantic.BaseModel)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Refused(Exception):
    """A request answered with an error status and a JSON body (never a traceback)."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = dict(body)
        self.headers = headers


def problem(
    field: str, rule: str, message: str, *, row: int | None = None, value: Any = None
) -> dict[str, Any]:
    """One entry of a 422 body (see :class:`tether.serve.models.RowProblem`)."""
    shown = None if value is None else str(value)[:100]
    return {"row": row, "field": field, "value": shown, "rule": rule, "message": message}


def unprocessable(*problems: dict[str, Any]) -> Refused:
    """A 422 refusal listing ``problems``."""
    return Refused(422, {"detail": list(problems)})


async def read_json(request: Request, limits: Limits) -> Any:
    """The request body as strict JSON within ``limits``: 415 for another content type, 413 for
    too many bytes (stopped reading as soon as they are over), 422 for anything else wrong."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(
            415,
            {"detail": f"content type {kind[:100] or 'none'!r} is not supported; send JSON"},
        )
    too_big = Refused(
        413, {"detail": f"body is larger than max_body_bytes={limits.max_body_bytes}"}
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise too_big
        chunks.append(chunk)
    try:
        return parse_json(b"".join(chunks), limits)
    except JSONLimitError as exc:
        raise unprocessable(problem("body", exc.rule, str(exc))) from None


def parsed(model: type[M], value: Any) -> M:
    """``value`` as ``model``, or a 422 naming every field that does not fit.

    Example
    -------
    >>> from tether.serve.models import PredictRequest
    >>> try:
    ...     parsed(PredictRequest, {"records": [{"x": 1}, 2]})
    ... except Refused as refused:
    ...     first = refused.body["detail"][0]
    ...     print(refused.status, first["field"], first["row"])
    422 records.1 1
    """
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_context=False):
            loc = error["loc"]
            row = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
            field = ".".join(str(part) for part in loc) or "body"
            problems.append(problem(field, error["type"], f"{field}: {error['msg']}", row=row))
        raise unprocessable(*problems) from None


class RequestMiddleware:
    """Gives each request an id (the client's ``X-Request-ID`` when well formed, else a new
    one, echoed in the response), counts and times it, writes its JSON log line, and turns an
    exception no handler caught into a JSON 500 carrying the id, so the server keeps serving.

    Handlers add fields to the log line through ``request.state.log`` (a dict).
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        fields: dict[str, Any] = {}
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["log"] = fields
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logs.LOGGER.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not started:
                body = json.dumps(
                    {"detail": "internal error; the server logged it", "request_id": request_id}
                ).encode()
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - start
        route = scope.get("route")
        endpoint = getattr(route, "path", "(unmatched)")
        self.metrics.request(endpoint, status, seconds)
        level = logging.ERROR if status >= 500 else logging.INFO
        logs.log(
            level,
            "request",
            request_id=request_id,
            method=scope["method"],
            endpoint=endpoint,
            status=status,
            ms=round(seconds * 1000, 3),
            **fields,
        )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex
