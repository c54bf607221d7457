"""The service's moving parts in one object: live model, cached scores, employee index,
availability and audit, plus the poll thread that keeps the first three current.

Kept apart from the HTTP layer (serving/app.py) so the behaviour — which answer a request gets —
can be read without the framework around it.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec

from attrition_platform.contracts.audit_logs import ActionRecord, PredictionRecord, find_prediction
from attrition_platform.contracts.fallback_export import CachedScore
from attrition_platform.contracts.published import store_from_uri
from attrition_platform.model.bundle import risk_band
from attrition_platform.model.scoring_input import ScoringInputError
from serving import metrics
from serving.audit import AuditWriter
from serving.availability import Availability
from serving.cached_scores import CachedScores
from serving.config import ServingSettings
from serving.drift_status import DriftStatusReader
from serving.employee_index import EmployeeIndex
from serving.model_source import LiveModel, ModelSource
from serving.schemas import Factor, FieldError, Prediction

log = logging.getLogger("attrition.serving")


class LiveUnavailable(Exception):
    """Live scoring is down and the cached scores cannot answer (yet, or for this employee)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OptedOut(Exception):
    """The employee opted out of risk scoring: not scored, not logged."""


class InvalidInput(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"'{e.field}' {e.problem}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Outcome:
    """One row's answer in a batch: a prediction or the problems of its fields."""

    prediction: Prediction | None = None
    errors: list[FieldError] | None = None


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex


def _factors(raw: Any) -> list[Factor]:
    out = []
    for f in raw or ():
        c = float(f.contribution)
        out.append(Factor(f.feature, f.label, round(c, 6), "raises" if c >= 0 else "lowers"))
    return out


def _cached_factors(raw: Any) -> list[Factor]:
    out = []
    for feature, label, contribution in raw or ():
        c = float(contribution)
        out.append(Factor(feature, label, round(c, 6), "raises" if c >= 0 else "lowers"))
    return out


class Service:
    def __init__(self, settings: ServingSettings) -> None:
        self.settings = settings
        store = store_from_uri(settings.serving_uri, settings.storage_options)
        self.models = ModelSource(store, settings.cache_dir, settings.top_factors)
        self.cached = CachedScores(store)
        self.employees = EmployeeIndex(settings.lake_root, settings.storage_options)
        self.drift = DriftStatusReader.for_lake(settings.lake_root, settings.storage_options)
        self.availability = Availability(settings.fallback_after_seconds, settings.error_streak)
        self.audit = AuditWriter(
            settings.lake_root,
            settings.storage_options,
            queue_size=settings.audit_queue_size,
            batch_size=settings.audit_batch_size,
            flush_seconds=settings.audit_flush_seconds,
        )
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        # prediction id -> employee id of recent answers: an action can cite a prediction whose
        # audit record is still in the writer; older ones are looked up in prediction_log. The
        # writer holds at most `audit_queue_size` records, so twice that covers every record
        # still in it, with room for refused ones in between, at ~200 bytes each (a bound of
        # 100,000 held ~20 MB and pushed a busy service over its 250 MB goal).
        self._recent: OrderedDict[str, int | None] = OrderedDict()
        self._recent_limit = 2 * settings.audit_queue_size
        self._recent_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        self.models.sweep_stale_downloads()
        self.refresh()  # the first load is synchronous: ready means ready
        self.audit.start()
        self._poller = threading.Thread(target=self._poll, name="published-poller", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        lost = self.audit.close()
        if lost:
            log.error("shutdown: %d audit record(s) could not be written", lost)
        else:
            log.info("shutdown: audit queue flushed")

    def refresh(self) -> None:
        loaded = self.models.refresh()
        if loaded:
            self.availability.model_loaded()
        self.cached.refresh(self.models.last_pointer)
        self.drift.refresh()  # never raises: a bad status must not stop the model's poll
        if self.employees.refresh() or loaded:
            _freeze_long_lived()


    def _poll(self) -> None:
        while not self._stop.wait(self.settings.poll_seconds):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any one bad poll
                log.exception("refresh failed")

    @property
    def ready(self) -> bool:
        return self.models.current is not None or self.cached.loaded

    # -- scoring -----------------------------------------------------------------------------
    def score(self, records: list[dict[str, Any]], caller: str, employee_ids: list[int | None]) -> list[Outcome]:
        """Score records (model inputs only) as one batch; live when possible, else cached."""
        outcomes: list[Outcome | None] = [None] * len(records)
        todo = []
        for i, eid in enumerate(employee_ids):
            if eid is not None and self.employees.is_opted_out(eid):
                outcomes[i] = Outcome(errors=[FieldError("EmployeeNumber", OPTED_OUT)])
                metrics.REJECTED_INPUTS.labels("opted_out").inc()
            else:
                todo.append(i)
        if not todo:
            return outcomes  # type: ignore[return-value]
        live = self.models.current
        if live is not None:
            # Live is tried even in fallback mode: the first success ends the outage by itself.
            try:
                self._score_live(live, records, employee_ids, todo, outcomes, caller)
                self.availability.scoring_ok()
                return outcomes  # type: ignore[return-value]
            except ScoringInputError as exc:
                raise InvalidInput([FieldError("(record)", str(exc))]) from None
            except Exception as exc:  # the type only: a message could carry input values
                metrics.PREDICTION_ERRORS.inc()
                self.availability.scoring_failed()
                log.error("live scoring failed: %s", type(exc).__name__)
        if not self.availability.use_cache():
            raise LiveUnavailable("live scoring is unavailable", self.availability.retry_after())
        for i in todo:
            outcomes[i] = self.cached_outcome(employee_ids[i], caller)
        return outcomes  # type: ignore[return-value]

    def _score_live(
        self,
        live: LiveModel,
        records: list[dict[str, Any]],
        employee_ids: list[int | None],
        todo: list[int],
        outcomes: list[Outcome | None],
        caller: str,
    ) -> None:
        started = time.perf_counter()
        batch = [records[i] for i in todo]
        result = live.bundle.score(batch, explain=self.settings.top_factors)
        metrics.SCORING_SECONDS.observe(time.perf_counter() - started)
        probabilities = result.probabilities.tolist()
        threshold = live.bundle.threshold
        by_row = result.errors_by_row() if result.errors else {}
        ts = now_iso()
        for j, i in enumerate(todo):
            if not result.valid[j]:
                problems = [_split(m) for m in by_row.get(j, ["(record) cannot be scored"])]
                outcomes[i] = Outcome(errors=problems)
                metrics.REJECTED_INPUTS.labels("domain").inc()
                continue
            p = probabilities[j]
            factors = _factors(result.factors[j]) if result.factors is not None else []
            band = risk_band(p, threshold)
            pred = Prediction(new_id(), employee_ids[i], round(p, 6), band, live.version, "live", factors, ts)
            outcomes[i] = Outcome(prediction=pred)
            metrics.PREDICTIONS.labels(pred.risk_band, "live").inc()
            self._log_prediction(pred, caller, records[i], p)

    def cached_outcome(self, employee_id: int | None, caller: str) -> Outcome:
        """The nightly score as the answer (fallback mode); 503 when there is none to give."""
        hit = self.cached_score(employee_id) if employee_id is not None else None
        if hit is None:
            why = self.availability.reason or "no model is loaded"
            detail = "live scoring is unavailable"
            if employee_id is None:
                detail += " and a cached score needs the EmployeeNumber"
            else:
                detail += " and this employee has no cached score"
            raise LiveUnavailable(f"{detail} ({why})", self.availability.retry_after())
        return Outcome(prediction=self.answer_cached(hit, caller))

    def answer_cached(self, hit: CachedScore, caller: str) -> Prediction:
        """A cached score as an answer: counted, logged (who looked at whose score) and given
        a prediction id like a live one, so an action can refer to it."""
        pred = Prediction(
            new_id(), hit.employee_id, round(float(hit.probability), 6), hit.risk_band, hit.model_version,
            "cached", _cached_factors(hit.top_factors), hit.scored_at,
        )
        metrics.PREDICTIONS.labels(pred.risk_band, "cached").inc()
        self._log_prediction(pred, caller, None, float(hit.probability))
        return pred

    def cached_score(self, employee_id: int) -> CachedScore | None:
        if self.cached.index is None or self.employees.is_opted_out(employee_id):
            return None
        return self.cached.index.get(employee_id)

    def _log_prediction(self, pred: Prediction, caller: str, inputs: dict[str, Any] | None, p: float) -> None:
        with self._recent_lock:
            self._recent[pred.prediction_id] = pred.employee_id
            if len(self._recent) > self._recent_limit:
                self._recent.popitem(last=False)
        self.audit.submit(
            PredictionRecord(
                prediction_id=pred.prediction_id,
                ts=dt.datetime.now(dt.UTC),
                caller=caller,
                employee_id=pred.employee_id,
                model_version=pred.model_version,
                source=pred.source,
                inputs=msgspec.json.encode(inputs).decode() if inputs is not None else None,
                probability=p,
                risk_band=pred.risk_band,
                top_factors=tuple((f.feature, f.label, f.contribution) for f in pred.top_factors),
            )
        )

    def prediction_owner(self, prediction_id: str) -> tuple[bool, int | None]:
        """(found, employee id) of a prediction this service made."""
        with self._recent_lock:
            if prediction_id in self._recent:
                return True, self._recent[prediction_id]
        return find_prediction(self.settings.lake_root, prediction_id, self.settings.storage_options)

    def record_action(self, caller: str, employee_id: int, prediction_id: str, action: str, reason: str) -> ActionRecord:
        found, owner = self.prediction_owner(prediction_id)
        if not found:
            raise InvalidInput([FieldError("prediction_id", "does not name a prediction this service made")])
        if owner is not None and owner != employee_id:
            raise InvalidInput([FieldError("prediction_id", "names a prediction about another employee")])
        record = ActionRecord(
            action_id=new_id(),
            ts=dt.datetime.now(dt.UTC),
            caller=caller,
            employee_id=employee_id,
            prediction_id=prediction_id,
            action=action,
            reason=reason,
        )
        self.audit.write_now(record)
        return record


def _freeze_long_lived() -> None:
    """Move what a load left behind out of the garbage collector's reach.

    A full collection walks every tracked object: after start-up (Litestar, deltalake, the
    bundle, the indexes) that is hundreds of thousands, and one runs every ~700 requests, a
    pause that lands on whichever request triggered it (the p99 at 32 clients). Objects that
    live as long as the process, or until the next load, need no scanning; `gc.freeze` parks
    them in a permanent generation, so collections see only what requests allocate. Frozen
    objects are still freed by reference counting when a reload drops them; only a reference
    cycle among them would outlive its use.
    """
    gc.collect()
    gc.freeze()


OPTED_OUT = "belongs to an employee who opted out of risk scoring"


def _split(message: str) -> FieldError:
    """"'Age' is missing" -> FieldError("Age", "is missing")."""
    if message.startswith("'") and "' " in message[1:]:
        name, _, problem = message[1:].partition("' ")
        return FieldError(name, problem)
    return FieldError("(record)", message)
