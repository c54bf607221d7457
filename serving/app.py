"""The HTTP layer: Litestar routes, auth guard, error mapping, OpenAPI and metrics.

Handlers are synchronous and run on the event loop (`sync_to_thread=False`): scoring one record
takes tens of microseconds, far less than a thread hop. Only the action endpoint, which waits for
its Delta append, runs in a worker thread.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import JSONBody, Parameter
from litestar.plugins.prometheus import PrometheusController
from litestar.status_codes import HTTP_201_CREATED

from attrition_platform.contract_columns import COLUMNS, KEY
from serving import metrics
from serving.auth import AuthError, Authenticator, Principal
from serving.config import ServingSettings
from serving.http_metrics import RequestMetrics
from serving.schemas import (
    ActionRequest,
    ActionResponse,
    BatchItem,
    BatchRequest,
    BatchResponse,
    EmployeeInput,
    Health,
    ModelInfo,
    Prediction,
)
from serving.service import OPTED_OUT, InvalidInput, LiveUnavailable, Service

log = logging.getLogger("attrition.serving")
PREDICT, ACTIONS, ADMIN = "attrition:predict", "attrition:actions", "attrition:admin"
API_VERSION = "1.0.0"


# -- auth ----------------------------------------------------------------------------------------
async def _authenticate(request: Request) -> None:
    # A before-request hook rather than a Litestar guard: a guard is handed a copy of the route
    # handler on every request (`copy(handler)`, ~5 % of a prediction's CPU here). It runs
    # before the body is read, so an unauthenticated request is a 401 whatever its body holds.
    # async: a sync hook would run on the loop anyway; verifying a token is microseconds of CPU
    # (cached after the first use).
    scope = request.route_handler.opt.get("scope")
    if scope is None:
        return
    auth: Authenticator = request.app.state.authenticator
    request.state.principal = auth.authenticate(request.headers.get("authorization"), scope)


def _caller(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.subject


def _auth_error(_: Request, exc: AuthError) -> Response:
    headers = {"WWW-Authenticate": exc.www_authenticate} if getattr(exc, "www_authenticate", None) else {}
    return Response({"status_code": exc.status, "detail": exc.message}, status_code=exc.status, headers=headers)


def _unavailable(_: Request, exc: LiveUnavailable) -> Response:
    return Response(
        {"status_code": 503, "detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)}
    )


def _invalid(_: Request, exc: InvalidInput) -> Response:
    return Response(
        {"status_code": 422, "detail": "input cannot be scored",
         "extra": [{"key": e.field, "message": e.problem} for e in exc.errors]},
        status_code=422,
    )


_QUOTED = re.compile(r"'[^']*'")


def _safe_message(key: str | None, message: str) -> str:
    """msgspec's message without the value it quotes ("Invalid enum value 'yes'")."""
    if message.startswith("Invalid enum value"):
        col = COLUMNS.get(key or "")
        return f"must be one of {', '.join(col.categories)}" if col is not None and col.categories else "is not an allowed value"
    return _QUOTED.sub("(value)", message)


def _validation(_: Request, exc: ValidationException) -> Response:
    """400 naming each field and its problem; never the value, never the request path (it can
    carry an id)."""
    extra = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            key = item.get("key")
            extra.append({"key": key, "message": _safe_message(key, str(item.get("message", ""))),
                          "source": item.get("source")})
    return Response({"status_code": 400, "detail": "Validation failed", "extra": extra}, status_code=400)


def _internal(request: Request, exc: Exception) -> Response:
    # Never a traceback or a value on the wire; the log line has the type only (no request data).
    if isinstance(exc, HTTPException):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    log.error("internal error on %s: %s", request.scope.get("path_template", "?"), type(exc).__name__)
    return Response({"status_code": 500, "detail": "internal error"}, status_code=500)


def _service(request: Request) -> Service:
    return request.app.state.service


def _reject_opted_out(service: Service, employee_id: int | None) -> None:
    if employee_id is not None and service.employees.is_opted_out(employee_id):
        metrics.REJECTED_INPUTS.labels("opted_out").inc()
        raise _opted_out()


def _opted_out() -> HTTPException:
    return HTTPException(status_code=403, detail="this employee opted out of risk scoring: not scored, not logged")


def _one(service: Service, request: Request, record: dict[str, Any], employee_id: int | None) -> Prediction:
    outcome = service.score([record], _caller(request), [employee_id])[0]
    if outcome.errors:
        if outcome.errors[0].problem == OPTED_OUT:
            raise _opted_out()
        metrics.REJECTED_INPUTS.labels("domain").inc()
        raise InvalidInput(outcome.errors)
    assert outcome.prediction is not None
    return outcome.prediction


# -- routes --------------------------------------------------------------------------------------
# Litestar checks path parameters with its own Parameter bounds, not msgspec's Meta.
PathEmployeeId = Annotated[int, Parameter(ge=1, le=2**53, description="The HRIS EmployeeNumber.")]

@post("/v1/predict", sync_to_thread=False, opt={"scope": PREDICT}, tags=["predictions"],
      summary="Score one employee given in the contract's fields", status_code=200)
def predict(request: Request, data: JSONBody[EmployeeInput]) -> Prediction:  # type: ignore[valid-type]
    """Probability of a voluntary exit within the horizon, its risk band and the top factors
    (SHAP contributions in log-odds, named in business words). `source` is `cached` when live
    scoring is down and the nightly score answers instead."""
    record = msgspec.structs.asdict(data)
    employee_id = record.pop(KEY)
    service = _service(request)
    _reject_opted_out(service, employee_id)
    return _one(service, request, record, employee_id)


@get("/v1/employees/{employee_id:int}/risk", sync_to_thread=False, opt={"scope": PREDICT},
     tags=["predictions"], summary="Score an employee by id from the latest feature snapshot")
def employee_risk(request: Request, employee_id: PathEmployeeId) -> Prediction:
    """The portal sends only the id: the inputs come from the latest `employee_features`
    snapshot, so no personal data crosses the wire and training and serving share one path."""
    service = _service(request)
    _reject_opted_out(service, employee_id)
    record = service.employees.record(employee_id)
    if record is not None:
        return _one(service, request, record, employee_id)
    # Not in the latest snapshot (or no snapshot loaded): only a cached score in fallback mode
    # may answer; otherwise the id is unknown.
    if service.availability.use_cache() and service.cached_score(employee_id) is not None:
        outcome = service.cached_outcome(employee_id, _caller(request))
        assert outcome.prediction is not None
        return outcome.prediction
    if len(service.employees) == 0:
        raise HTTPException(status_code=503, detail="the employee feature snapshot is not loaded",
                            headers={"Retry-After": str(int(service.settings.poll_seconds) + 1)})
    raise NotFoundException(detail="no employee with this id in the latest feature snapshot")


@post("/v1/predict/batch", sync_to_thread=False, opt={"scope": PREDICT}, tags=["predictions"],
      summary="Score many employees in one call", status_code=200)
def predict_batch(request: Request, data: JSONBody[BatchRequest]) -> BatchResponse:
    """Rows are answered one by one: a row that breaks the contract gets its field errors and
    the others are still scored. The maximum batch size is ATTRITION_BATCH_MAX."""
    service = _service(request)
    limit = service.settings.batch_max
    if len(data.employees) > limit:
        raise HTTPException(
            status_code=413, detail=f"'employees' has {len(data.employees)} items; the maximum is {limit}"
        )
    records, ids = [], []
    for item in data.employees:
        rec = msgspec.structs.asdict(item)
        ids.append(rec.pop(KEY))
        records.append(rec)
    outcomes = service.score(records, _caller(request), ids)
    results = [BatchItem(i, o.prediction, o.errors) for i, o in enumerate(outcomes)]
    scored = sum(1 for o in outcomes if o.prediction is not None)
    live = service.models.current
    version = live.version if live is not None else (service.cached.index.model_version if service.cached.index else "")
    return BatchResponse(model_version=version, scored=scored, rejected=len(outcomes) - scored, results=results)


@get("/v1/scores/{employee_id:int}", sync_to_thread=False, opt={"scope": PREDICT}, tags=["predictions"],
     summary="The nightly cached score of an employee")
def cached_score(request: Request, employee_id: PathEmployeeId) -> Prediction:
    service = _service(request)
    _reject_opted_out(service, employee_id)
    hit = service.cached_score(employee_id)
    if hit is None:
        raise NotFoundException(detail="no nightly score for this employee")
    return service.answer_cached(hit, _caller(request))


@post("/v1/actions", sync_to_thread=True, opt={"scope": ACTIONS}, tags=["actions"],
      summary="Record a manager's action on a prediction", status_code=HTTP_201_CREATED)
def record_action(request: Request, data: JSONBody[ActionRequest]) -> ActionResponse:
    """A human stays in the loop: every action needs a non-empty reason, and is written to
    `action_log` before this returns."""
    if not data.reason.strip():
        raise ValidationException(detail="Validation failed", extra=[{"key": "reason", "message": "must not be blank"}])
    service = _service(request)
    _reject_opted_out(service, data.employee_id)
    rec = service.record_action(_caller(request), data.employee_id, data.prediction_id, data.action, data.reason.strip())
    return ActionResponse(rec.action_id, rec.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


@get("/v1/model", sync_to_thread=False, opt={"scope": PREDICT}, tags=["model"], summary="The model being served")
def model_info(request: Request) -> ModelInfo:
    service = _service(request)
    live = service.models.current
    cached = service.cached.index
    if live is None:
        return ModelInfo(
            model_version=cached.model_version if cached else None, source="cached" if cached else None,
            published_at=None, promoted_by=None, reason=None, loaded_at=None, threshold=None,
            risk_bands=None, metrics=None, training_data_versions=None, features=None,
            fallback_scores=len(service.cached), fallback_scored_at=cached.scored_at if cached else None,
            feature_snapshot=service.employees.snapshot_date,
        )
    meta = live.bundle.metadata
    return ModelInfo(
        model_version=live.version,
        source="cached" if service.availability.use_cache() else "live",
        published_at=live.pointer.published_at,
        promoted_by=live.pointer.promoted_by,
        reason=live.pointer.reason,
        loaded_at=live.loaded_at,
        threshold=live.bundle.threshold,
        risk_bands=meta.get("risk_bands"),
        metrics={k: v for k, v in (("evaluation", meta.get("evaluation_metrics")),
                                   ("validation", meta.get("validation_metrics"))) if v},
        training_data_versions=meta.get("delta_versions") or meta.get("training_data_versions"),
        features=live.bundle.spec.inputs,
        fallback_scores=len(service.cached),
        fallback_scored_at=cached.scored_at if cached else None,
        feature_snapshot=service.employees.snapshot_date,
    )


@get("/healthz", sync_to_thread=False, tags=["operations"], summary="Liveness")
def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", sync_to_thread=False, tags=["operations"], summary="Readiness: a model or the fallback is loaded")
def readyz(request: Request) -> Response[Health]:
    service = _service(request)
    live = service.models.current
    if not service.ready:
        return Response(Health(status="not ready", detail="no model and no cached scores loaded"), status_code=503)
    mode = "cached" if (live is None or service.availability.use_cache()) else "live"
    return Response(Health(status="ready", model_version=live.version if live else None, mode=mode))


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


# -- the app -------------------------------------------------------------------------------------
def create_app(
    settings: ServingSettings,
    authenticator: Authenticator,
    service: Service | None = None,
    on_ready: Callable[[Service], None] | None = None,
) -> Litestar:
    service = service or Service(settings)
    openapi = OpenAPIConfig(
        title="Attrition risk API",
        version=API_VERSION,
        description=(
            "Employee attrition risk for the HR portal. Scores support a conversation, never an "
            "automated decision about a person. OAuth2 bearer tokens with scopes attrition:predict, "
            "attrition:actions, attrition:admin."
        ),
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT",
                                     description="A JWT with the scope the endpoint names."),
        }),
        security=[{"bearer": []}],
    )

    def on_startup(app: Litestar) -> None:
        if settings.gil_switch_ms > 0:  # per process: each server worker runs this once
            sys.setswitchinterval(settings.gil_switch_ms / 1000)
        try:  # fetch the JWKS now rather than on the first request; a down IdP is retried later
            authenticator.warm()
        except Exception as exc:
            log.error("could not fetch the signing keys at start (%s); will retry on demand", type(exc).__name__)
        service.start()
        if on_ready is not None:
            on_ready(service)

    def on_shutdown(app: Litestar) -> None:
        service.stop()

    app = Litestar(
        route_handlers=[predict, employee_risk, predict_batch, cached_score, record_action, model_info,
                        healthz, readyz, MetricsController],
        before_request=_authenticate,
        exception_handlers={
            AuthError: _auth_error,
            LiveUnavailable: _unavailable,
            InvalidInput: _invalid,
            ValidationException: _validation,
            Exception: _internal,
        },
        middleware=[RequestMetrics],
        openapi_config=openapi,
        request_max_body_size=settings.max_body_bytes,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
        logging_config=None,  # the process's own logging (serving.server); Litestar's queue handler
        # loses the last lines when uvicorn re-raises SIGTERM after a graceful shutdown
    )
    app.state.service = service
    app.state.authenticator = authenticator
    _declare_closed_bodies(app)
    return app


def _declare_closed_bodies(app: Litestar) -> None:
    """Say in the OpenAPI document what the Structs enforce: no unknown fields. Litestar omits
    `additionalProperties: false` for `forbid_unknown_fields`, so clients and fuzzers would
    believe extra fields are fine."""
    schemas = app.openapi_schema.components.schemas or {}
    for name, schema in schemas.items():
        if name in ("EmployeeInput", "BatchRequest", "ActionRequest"):
            schema.additional_properties = False
