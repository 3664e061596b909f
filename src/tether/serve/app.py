"""``create_app``: the FastAPI server of one model, with guardrails and a durable log of every
prediction."""

from __future__ import annotations

import collections
import contextlib
import functools
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import polars as pl
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from tether.errors import InputError, TetherError, first_line
from tether.serve import logs, models
from tether.serve.http import Refused, RequestMiddleware, parsed, problem, read_json, unprocessable
from tether.serve.limits import Limits
from tether.serve.lineage import lineage_summary, prediction_lineage
from tether.serve.metrics import ServeMetrics
from tether.serve.scoring import Served, answer_fields, answer_lines
from tether.store import (
    DuplicateIdError,
    GroupCommitter,
    LabelRecord,
    PredictionBatch,
    PredictionRecord,
    PredictionStore,
    StoreError,
    json_frame,
    new_prediction_ids,
)

if TYPE_CHECKING:
    from tether.bundle import Bundle
    from tether.registry import Registry

API_VERSION = "v1"


@dataclass
class AppState:
    """Everything the endpoints share; ``served`` is replaced whole on reload, never mutated."""

    served: Served
    store: PredictionStore
    committer: GroupCommitter
    metrics: ServeMetrics
    limits: Limits
    token: str | None
    registry: Registry | None
    lineages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def serve(self, served: Served) -> None:
        """Answer with ``served`` from the next request on (in-flight ones keep theirs)."""
        for bundle in (served.bundle, served.challenger):
            if bundle is not None:
                self.lineages[bundle.version] = lineage_summary(bundle)
        self.served = served
        challenger = served.challenger.version if served.challenger is not None else None
        self.metrics.set_version(served.bundle.version, challenger)


def create_app(
    bundle: Bundle,
    *,
    model_name: str,
    store: PredictionStore,
    challenger: Bundle | None = None,
    registry: Registry | None = None,
    token: str | None = None,
    limits: Limits | None = None,
) -> FastAPI:
    """A FastAPI app serving ``bundle`` and logging every prediction to ``store``.

    Every record is checked against the bundle's contract (``reject`` rules refuse the request
    with HTTP 422 naming row, field, value and rule, and the rejected rows are still logged;
    ``flag`` rules answer with warnings), scored on the online path (one record) or the batch
    path (several), optionally scored in the shadow of ``challenger``, and committed to the
    store before the response is sent. Endpoints: ``POST /v1/predict``, ``POST /v1/labels``,
    ``POST /v1/explain``, ``GET /v1/predictions/{id}``, ``GET /v1/model``, ``GET /v1/health``,
    ``GET /v1/ready``, ``GET /metrics`` and ``POST /v1/admin/reload``.

    Parameters
    ----------
    bundle
        The model to serve.
    model_name
        Its registry name (logged with every prediction).
    store
        A :class:`tether.store.PredictionStore`; the app does not close it.
    challenger
        A bundle scored in shadow: logged, never returned; its failures only count in metrics.
    registry
        Where ``/v1/admin/reload`` loads refs from (reload is unavailable without one).
    token
        Bearer token of the admin endpoints; default ``$TETHER_TOKEN``. With neither, admin
        endpoints answer 403.
    limits
        Request size bounds (default :class:`Limits`).

    Example
    -------
    >>> import tempfile
    >>> import polars as pl
    >>> from fastapi.testclient import TestClient
    >>> from sklearn.linear_model import LogisticRegression
    >>> from tether.bundle import Bundle
    >>> from tether.store import open_store
    >>> frame = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 50, "y": [0, 0, 1, 1] * 50})
    >>> model = LogisticRegression().fit(frame.select("x"), frame["y"])
    >>> bundle = Bundle.build(model, train=frame, valid=frame, target="y", n_resamples=20)
    >>> store = open_store(tempfile.mkdtemp() + "/t.db")
    >>> with TestClient(create_app(bundle, model_name="demo", store=store)) as client:
    ...     answer = client.post("/v1/predict", json={"records": [{"x": 3.0}], "ids": ["p1"]})
    ...     refused = client.post("/v1/predict", json={"records": [{"x": "three"}]})
    >>> answer.json()["predictions"][0]["prediction"], refused.status_code
    (1, 422)
    >>> store.get("p1")["status"]
    'ok'
    """
    limits = limits or Limits()
    if token is None:
        token = os.environ.get("TETHER_TOKEN")
    token = token or None  # an empty token would let an empty header in
    metrics = ServeMetrics(model_name)
    state = AppState(
        served=Served(bundle, model_name, challenger),
        store=store,
        # no waiting for company: under load, requests arriving during a commit share the next
        # one anyway, and an idle server should not add the wait to every answer
        committer=GroupCommitter(store, max_wait_ms=0.0),
        metrics=metrics,
        limits=limits,
        token=token,
        registry=registry,
    )
    state.serve(state.served)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _warm_up(state.served)
        logs.log(logging.INFO, "serving", model=model_name, version=bundle.version)
        try:
            yield
        finally:
            state.committer.close()

    app = FastAPI(
        title=f"tether: {model_name}",
        description="Predictions with data-contract guardrails; every prediction is logged.",
        lifespan=lifespan,
    )
    app.state.tether = state
    app.add_middleware(RequestMiddleware, metrics=metrics)
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.include_router(_routes())
    _document_bodies(app)
    return app


def get_state(request: Request) -> AppState:
    """Dependency: the app's shared state (bundle, store, metrics, limits)."""
    state: AppState = request.app.state.tether
    return state


State = Annotated[AppState, Depends(get_state)]


def require_admin(request: Request, state: State) -> None:
    """Dependency of admin endpoints: a ``Bearer`` token equal to the configured one."""
    if state.token is None:
        raise Refused(
            403, {"detail": "admin endpoints are disabled: start the server with TETHER_TOKEN set"}
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), state.token.encode()
    ):
        raise Refused(
            401,
            {"detail": "missing or wrong bearer token"},
            headers={"WWW-Authenticate": "Bearer"},
        )


def _warm_up(served: Served) -> None:
    try:
        served.warm_up()
    except Exception as exc:  # a cold first request is slow, not wrong: serve anyway
        logs.log(logging.WARNING, "warm-up failed", error=f"{type(exc).__name__}: {exc}")


def _refused(_: Request, exc: Refused) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    kinds: dict[int, type[BaseModel]] = {
        401: models.MessageResponse,
        403: models.MessageResponse,
        404: models.MessageResponse,
        409: models.ConflictResponse,
        413: models.MessageResponse,
        415: models.MessageResponse,
        422: models.ErrorResponse,
        500: models.ServerErrorResponse,
        503: models.MessageResponse,
    }
    return {status: {"model": kinds[status]} for status in (*statuses, 500)}


_BODY = (413, 415, 422)
_BODY_MODELS: tuple[type[BaseModel], ...] = (
    models.PredictRequest,
    models.LabelsRequest,
    models.ExplainRequest,
    models.ReloadRequest,
)
"""Bodies the endpoints read themselves (strictly), so FastAPI does not document them."""


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint reading ``model`` (one of :data:`_BODY_MODELS`)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _document_bodies(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # also cached in app.openapi_schema, completed here in place
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS:
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _routes() -> APIRouter:
    router = APIRouter(prefix=f"/{API_VERSION}")

    @router.post(
        "/predict",
        response_model=models.PredictResponse,
        responses=_errors(*_BODY, 409, 503),
        openapi_extra=_body(models.PredictRequest),
    )
    async def predict(request: Request, state: State) -> Response:
        """Predictions for 1..max_records records, committed to the store before the answer."""
        start = time.perf_counter()
        served = state.served
        body = _predict_request(await read_json(request, state.limits))
        records = body.records
        _check_count("records", len(records), state.limits.max_records)
        ids = _ids(body.ids, len(records))
        request_id: str = request.state.request_id
        request.state.log["version"] = served.bundle.version
        return await _predict(state, served, records, ids, request_id, start, request.state.log)

    @router.post(
        "/labels",
        response_model=models.LabelsResponse,
        responses=_errors(*_BODY),
        openapi_extra=_body(models.LabelsRequest),
    )
    async def labels(request: Request, state: State) -> Response:
        """Join realized outcomes to stored predictions by id."""
        body = parsed(models.LabelsRequest, await read_json(request, state.limits))
        _check_count("labels", len(body.labels), state.limits.max_records)
        rows = [
            LabelRecord(label.id, label.label, _utc(label.labeled_at, row))
            for row, label in enumerate(body.labels)
        ]
        try:
            result = await anyio.to_thread.run_sync(state.store.add_labels, rows)
        except InputError as exc:
            raise unprocessable(problem("labels", "bad_label", str(exc))) from None
        return JSONResponse(
            {
                "accepted": result.accepted,
                "unchanged": result.unchanged,
                "updated": result.updated,
                "unknown": list(result.unknown),
            }
        )

    @router.post(
        "/explain",
        response_model=models.ExplainResponse,
        responses=_errors(*_BODY),
        openapi_extra=_body(models.ExplainRequest),
    )
    async def explain(request: Request, state: State) -> Response:
        """The largest feature contributions of each record (contract-checked, not logged)."""
        served = state.served
        body = parsed(models.ExplainRequest, await read_json(request, state.limits))
        _check_count(
            "records", len(body.records), state.limits.max_explain_records, "max_explain_records"
        )
        rejections = _rejections(served.check(body.records))
        if rejections:
            raise unprocessable(*rejections)
        bundle = served.bundle
        frame = served.frame(bundle, body.records)
        try:
            explanation = await anyio.to_thread.run_sync(bundle.explain, frame)
        except (InputError, ValueError) as exc:  # ValueError: scikit-learn refusing values
            raise unprocessable(problem("records", "model_refused", str(exc))) from None
        top = explanation.top(body.top)
        grouped: dict[int, list[dict[str, Any]]] = {}
        for row, feature, contribution in top.iter_rows():
            grouped.setdefault(row, []).append({"feature": feature, "contribution": contribution})
        return JSONResponse(
            {
                "model": served.name,
                "version": bundle.version,
                "units": explanation.units,
                "method": explanation.method,
                "base_value": float(explanation.base_value),
                "explanations": [
                    {"row": i, "output": float(out), "top": grouped.get(i, [])}
                    for i, out in enumerate(explanation.output)
                ],
            }
        )

    @router.get(
        "/predictions/{prediction_id}",
        response_model=models.StoredPrediction,
        responses=_errors(404),
    )
    async def prediction(prediction_id: str, state: State) -> models.StoredPrediction:
        """A logged prediction with its label and the lineage of the version that made it."""
        found = None
        # an id that no prediction can have is not looked up: PostgreSQL refuses NUL in a query
        if len(prediction_id) <= models.MAX_ID_LENGTH and "\x00" not in prediction_id:
            found = await anyio.to_thread.run_sync(
                functools.partial(
                    prediction_lineage,
                    state.store,
                    prediction_id,
                    registry=state.registry,
                    known=state.lineages,
                )
            )
        if found is None:
            raise Refused(404, {"detail": f"no prediction with id {prediction_id[:100]!r}"})
        return models.StoredPrediction.model_validate(found)

    @router.get("/model", response_model=models.ModelInfo, responses=_errors())
    async def model(state: State) -> dict[str, Any]:
        """The model being served: version, task, features, owner, latency budget, lineage."""
        served = state.served
        bundle = served.bundle
        meta = bundle.metadata
        return {
            "name": served.name,
            "version": bundle.version,
            "task": bundle.task,
            "features": bundle.features,
            "classes": bundle.classes,
            "online_path": bundle.online_path,
            "owner": meta.get("owner"),
            "on_call": meta.get("on_call"),
            "latency_budget_ms": served.budget_ms,
            "created_at": meta.get("created_at"),
            "challenger": served.challenger.version if served.challenger else None,
            "lineage": state.lineages[bundle.version],
        }

    @router.get("/health", response_model=models.Health)
    async def health() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @router.get("/ready", response_model=models.Ready, responses=_errors(503))
    async def ready(state: State) -> Response:
        """The model is loaded and the store answers (503 otherwise)."""
        served = state.served
        try:
            store_ready = await anyio.to_thread.run_sync(state.store.ready)
        except Exception as exc:  # a store that cannot answer is not ready, whatever it raised
            logs.log(logging.WARNING, "store not ready", error=first_line(exc))
            store_ready = False
        body = {"ready": store_ready, "model": served.name, "version": served.bundle.version}
        return JSONResponse(body, status_code=200 if store_ready else 503)

    @router.post(
        "/admin/reload",
        response_model=models.ReloadResponse,
        responses=_errors(401, 403, 413, 415, 422, 503),
        openapi_extra=_body(models.ReloadRequest),
        dependencies=[Depends(require_admin)],
    )
    async def reload(request: Request, state: State) -> dict[str, str]:
        """Load a registry ref and serve it from the next request on; in-flight requests finish
        with the bundle they started with."""
        body = parsed(models.ReloadRequest, await read_json(request, state.limits))
        registry = state.registry
        if registry is None:
            raise Refused(503, {"detail": "reload needs a registry; this server has none"})
        served = state.served
        try:
            name, version = registry.resolve(body.ref)
            if name != served.name:
                raise InputError(f"ref {body.ref!r} names model {name!r}, not {served.name!r}")
            bundle = await anyio.to_thread.run_sync(registry.load, f"{name}@{version}")
        except TetherError as exc:
            state.metrics.reloads.labels("refused").inc()
            raise unprocessable(
                problem("ref", "bad_ref", first_line(exc), value=body.ref)
            ) from None
        fresh = Served(bundle, name, served.challenger)
        await anyio.to_thread.run_sync(_warm_up, fresh)
        state.serve(fresh)
        state.metrics.reloads.labels("ok").inc()
        logs.log(
            logging.WARNING, "reloaded", ref=body.ref, previous=served.bundle.version,
            version=bundle.version,
        )  # fmt: skip
        return {"model": name, "previous": served.bundle.version, "version": bundle.version}

    async def metrics(state: State) -> Response:
        """Prometheus metrics of this server."""
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    # served at the root, where Prometheus looks by default
    root = APIRouter()
    root.add_api_route("/metrics", metrics, methods=["GET"], response_class=Response)
    root.include_router(router)
    return root


async def _predict(
    state: AppState,
    served: Served,
    records: list[dict[str, Any]],
    ids: list[str] | None,
    request_id: str,
    start: float,
    log_fields: dict[str, Any],
) -> Response:
    metrics = state.metrics
    bundle = served.bundle
    created_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    log_fields["timings_ms"] = timings
    tick = time.perf_counter()
    problems = served.check(records)
    timings["validate"] = _ms(tick)
    rejected = [i for i, found in enumerate(problems) if _rejects(found)]
    if rejected:
        timings["total"] = _ms(start)
        rows = [
            _record(served, fresh, records[i], None, "rejected", problems[i], timings,
                    created_at, request_id)
            for fresh, i in zip(new_prediction_ids(len(rejected)), rejected, strict=True)
        ]  # fmt: skip
        # fresh ids: a client that fixes the rows may resend them under the ids it chose
        await _log(state, rows, timings)
        metrics.rows.labels("rejected").inc(len(rows))
        for i in rejected:
            metrics.problems(metrics.rejections, problems[i], served.known)
        log_fields["rejected"] = len(rejected)
        raise Refused(422, {"detail": _rejections(problems), "logged": [r.id for r in rows]})

    if len(records) == 1:
        clean = not problems[0]
        scored = _score(served, lambda b: served.predict(b, records, clean=clean), timings)
        inputs = None
    else:
        scored, inputs = await anyio.to_thread.run_sync(_score_batch, served, records, timings)
    outputs, shadow = scored
    if outputs is None:
        reason = shadow["error"] if shadow else "the model refused the records"
        timings["total"] = _ms(start)
        refusal = {"column": None, "value": None, "rule": "model_refused", "policy": "reject",
                   "message": reason}  # fmt: skip
        rows = [
            _record(served, fresh, record, None, "rejected", [*found, refusal], timings,
                    created_at, request_id)
            for fresh, record, found in zip(
                new_prediction_ids(len(records)), records, problems, strict=True
            )
        ]  # fmt: skip
        await _log(state, rows, timings)
        metrics.rows.labels("rejected").inc(len(rows))
        raise Refused(
            422,
            {
                "detail": [problem("records", "model_refused", reason)],
                "logged": [r.id for r in rows],
            },
        )
    if shadow is not None and "error" in shadow:
        metrics.shadow_failures.inc()
        logs.log(logging.WARNING, "shadow failed", request_id=request_id, error=shadow["error"])
    ids = ids or new_prediction_ids(len(records))
    status = ["flagged" if found else "ok" for found in problems]
    # the stored total is the time to answer but for the commit, which it cannot include
    timings["total"] = _ms(start)
    if isinstance(outputs, pl.DataFrame):
        logged: list[PredictionRecord | PredictionBatch] = _batch(
            served, ids, records, inputs, outputs, status, problems, shadow, timings,
            created_at, request_id,
        )  # fmt: skip
    else:
        logged = [
            _record(served, ids[i], record, out, status[i], found, timings, created_at,
                    request_id, _row_shadow(shadow, i))
            for i, (record, found, out) in enumerate(zip(records, problems, outputs, strict=True))
        ]  # fmt: skip
    await _log(state, logged, timings)
    timings["total"] = _ms(start)
    flagged = sum(1 for found in problems if found)
    metrics.rows.labels("ok").inc(len(records) - flagged)
    if flagged:
        metrics.rows.labels("flagged").inc(flagged)
        for found in problems:
            metrics.problems(metrics.flags, found, served.known)
    metrics.outputs(bundle.task, outputs)
    for stage, ms in timings.items():
        metrics.stages.labels(stage).observe(ms / 1000)
    # the bundle's budget is for one record: a batch may take that long per record
    budget_ms = None if served.budget_ms is None else served.budget_ms * len(records)
    if budget_ms is not None and timings["total"] > budget_ms:
        metrics.budget_violations.inc()
        logs.log(
            logging.WARNING, "latency budget exceeded", request_id=request_id,
            budget_ms=budget_ms, total_ms=timings["total"], records=len(records),
        )  # fmt: skip
    if isinstance(outputs, pl.DataFrame):
        return _batch_answer(served, outputs, ids, status, problems)
    answers = [
        {"id": ids[i], **answer_fields(out), "status": status[i],
         "warnings": [_warning(p) for p in problems[i]]}
        for i, out in enumerate(outputs)
    ]  # fmt: skip
    return JSONResponse({"model": served.name, "version": bundle.version, "predictions": answers})


def _batch_answer(
    served: Served,
    outputs: pl.DataFrame,
    ids: list[str],
    status: list[str],
    problems: list[list[dict[str, Any]]],
) -> Response:
    """The JSONResponse of the record path, its rows encoded by polars (answer_lines)."""
    warnings = [_ANSWER.encode([_warning(p) for p in found]) if found else "[]"
                for found in problems]  # fmt: skip
    head = _ANSWER.encode({"model": served.name, "version": served.bundle.version})[:-1]
    lines = ",".join(answer_lines(outputs, ids, status, warnings))
    return Response(f'{head},"predictions":[{lines}]}}'.encode(), media_type="application/json")


# As JSONResponse writes a body: UTF-8 text, no NaN, no spaces.
_ANSWER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


Scored = tuple[Any, dict[str, Any] | None]


def _score(served: Served, predict: Callable[[Bundle], Any], timings: dict[str, float]) -> Scored:
    """The champion's outputs (None when the model refused the records, with the reason in the
    second value) and the challenger's shadow outputs (or its error), both as ``predict`` gives
    them."""
    tick = time.perf_counter()
    try:
        outputs = predict(served.bundle)
    except (InputError, ValueError) as exc:  # ValueError: what scikit-learn raises on bad values
        timings["predict"] = _ms(tick)
        return None, {"error": first_line(exc)}
    timings["predict"] = _ms(tick)
    challenger = served.challenger
    if challenger is None:
        return outputs, None
    tick = time.perf_counter()
    shadow: dict[str, Any] = {"version": challenger.version}
    try:
        shadow["outputs"] = predict(challenger)
    except Exception as exc:  # a challenger failure must never fail the champion's answer
        shadow["error"] = f"{type(exc).__name__}: {first_line(exc)}"
    timings["shadow"] = _ms(tick)
    return outputs, shadow


def _score_batch(
    served: Served, records: list[dict[str, Any]], timings: dict[str, float]
) -> tuple[Scored, pl.DataFrame | None]:
    """:func:`_score` on the batch path (outputs as frames), and the records as the frame they
    are stored from (None when they do not fit one, see :func:`tether.store.json_frame`)."""
    inputs = json_frame(records)
    return _score(served, lambda b: served.predict_frame(b, records, inputs), timings), inputs


def _batch(
    served: Served,
    ids: list[str],
    records: list[dict[str, Any]],
    inputs: pl.DataFrame | None,
    outputs: pl.DataFrame,
    status: list[str],
    problems: list[list[dict[str, Any]]],
    shadow: dict[str, Any] | None,
    timings: dict[str, float],
    created_at: datetime,
    request_id: str,
) -> list[PredictionRecord | PredictionBatch]:
    """What logs a batch: one :class:`PredictionBatch`, or a record per row when the inputs do not
    fit a frame."""
    shadow_outputs = None if shadow is None else shadow.get("outputs")
    if inputs is None:
        rows = outputs.to_dicts()
        shadows = [shadow] * len(records)  # None, or the challenger's error
        if shadow_outputs is not None:
            shadows = [{"version": shadow["version"], "outputs": out}  # type: ignore[index]
                       for out in shadow_outputs.to_dicts()]  # fmt: skip
        return [
            _record(served, ids[i], record, rows[i], status[i], problems[i], timings, created_at,
                    request_id, shadows[i])
            for i, record in enumerate(records)
        ]  # fmt: skip
    return [
        PredictionBatch(
            ids,
            served.name,
            served.bundle.version,
            created_at,
            inputs,
            outputs,
            status,
            problems=problems if any(problems) else None,
            latency_ms=dict(timings),
            shadow=None if shadow is None else {k: v for k, v in shadow.items() if k != "outputs"},
            shadow_outputs=shadow_outputs,
            request_id=request_id,
        )
    ]


async def _log(
    state: AppState, rows: Sequence[PredictionRecord | PredictionBatch], timings: dict[str, float]
) -> None:
    tick = time.perf_counter()
    try:
        await state.committer.log_async(rows)
    except DuplicateIdError as exc:
        raise Refused(409, {"detail": first_line(exc), "ids": list(exc.ids)}) from None
    except InputError as exc:  # a value the store's rules refuse (checked there, not twice)
        raise unprocessable(problem("records", "unstorable", first_line(exc))) from None
    except StoreError as exc:  # no answer without its log line: the client may retry
        logs.log(logging.ERROR, "store failed", error=first_line(exc))
        raise Refused(503, {"detail": f"the prediction store failed: {first_line(exc)}"}) from None
    timings["log"] = _ms(tick)


def _record(
    served: Served,
    prediction_id: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    status: str,
    found: list[dict[str, Any]],
    timings: dict[str, float],
    created_at: datetime,
    request_id: str,
    shadow: dict[str, Any] | None = None,
) -> PredictionRecord:
    return PredictionRecord(
        id=prediction_id,
        model=served.name,
        version=served.bundle.version,
        created_at=created_at,
        inputs=inputs,
        outputs=outputs,
        status=status,
        problems=found,
        latency_ms=dict(timings),
        shadow=shadow,
        request_id=request_id,
    )


def _row_shadow(shadow: dict[str, Any] | None, i: int) -> dict[str, Any] | None:
    if shadow is None:
        return None
    if "error" in shadow:
        return shadow
    return {"version": shadow["version"], "outputs": shadow["outputs"][i]}


def _rejects(found: list[dict[str, Any]]) -> bool:
    return any(p["policy"] == "reject" for p in found)


def _warning(found: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "field": found["column"],
        "value": found["value"],
        "rule": found["rule"],
        "message": found["message"],
    }


def _rejections(problems: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The 422 entries of every ``reject`` problem, by row."""
    return [
        {"row": row, **_warning(p)}
        for row, found in enumerate(problems)
        for p in found
        if p["policy"] == "reject"
    ]


def _predict_request(value: Any) -> models.PredictRequest:
    """``value`` as a :class:`~tether.serve.models.PredictRequest`: taken as it is when it surely
    is one (records that are objects, no other member, ids that are strings of allowed length),
    which spares pydantic's copy of every record; validated by pydantic, and refused as it
    words it, otherwise."""
    if type(value) is dict and value.keys() <= {"records", "ids"}:
        records, ids = value.get("records"), value.get("ids")
        if (
            type(records) is list
            and records
            and set(map(type, records)) == {dict}
            and (
                ids is None
                or (
                    type(ids) is list
                    and all(type(i) is str and 0 < len(i) <= models.MAX_ID_LENGTH for i in ids)
                )
            )
        ):
            return models.PredictRequest.model_construct(records=records, ids=ids)
    return parsed(models.PredictRequest, value)


def _check_count(field_name: str, count: int, limit: int, rule: str = "max_records") -> None:
    if count > limit:
        raise unprocessable(
            problem(
                field_name,
                rule,
                f"{field_name}: {count} items is more than the limit of {limit} per request "
                f"({rule}); split the request",
            )
        )


def _ids(ids: list[str] | None, count: int) -> list[str] | None:
    if ids is None:
        return None
    if len(ids) != count:
        raise unprocessable(
            problem("ids", "ids_length", f"ids: {len(ids)} ids for {count} records; send one each")
        )
    repeated = sorted(i for i, n in collections.Counter(ids).items() if n > 1)
    if repeated:
        raise Refused(409, {"detail": "ids repeat within the request", "ids": repeated})
    return ids


def _utc(moment: datetime | None, row: int) -> datetime | None:
    """``labeled_at`` of label ``row`` in UTC (a time without a zone is taken as UTC), or a 422
    when UTC would fall outside the years 1 to 9999 that a datetime holds."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        name = f"labels.{row}.labeled_at"
        when = moment.isoformat()
        message = f"{name}: {when} is before year 1 or after year 9999 in UTC"
        raise unprocessable(problem(name, "out_of_range", message, row=row, value=when)) from None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 4)
