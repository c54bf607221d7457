"""Request and response bodies of the API, as strict msgspec Structs.

The employee record is generated from the HRIS contract's own column table and the feature
spec's input list, so the API's types and domains cannot drift from the ones training checks:
integers with the contract's inclusive bounds, closed categories as enumerations, unknown fields
rejected. msgspec's messages name the field and the expected type or bound, never the value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from attrition_platform.contract_columns import COLUMNS, KEY, OPEN_CATEGORIES
from attrition_platform.model.feature_spec import RAW_INPUTS

EmployeeId = Annotated[int, Meta(ge=1, le=2**53, description="The HRIS EmployeeNumber.")]
Source = Literal["live", "cached"]
RiskBand = Literal["low", "medium", "high"]
ACTIONS = (
    "stay_interview",
    "career_conversation",
    "compensation_review",
    "workload_review",
    "role_change",
    "no_action",
    "other",
)


def _field_type(name: str) -> Any:
    col = COLUMNS[name]
    doc = col.describe()
    if col.kind == "int":
        bounds = {k: int(v) for k, v in (("ge", col.low), ("le", col.high)) if v is not None}
        return Annotated[int, Meta(description=doc, **bounds)]
    if name in OPEN_CATEGORIES:  # a reorganisation may add values; the model decides if it knows them
        return Annotated[str, Meta(min_length=1, max_length=64, description=doc, examples=list(col.categories[:2]))]
    return Literal[tuple(col.categories)]  # type: ignore[valid-type]


def _employee_struct() -> type[msgspec.Struct]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [(name, _field_type(name)) for name in RAW_INPUTS]
    fields.append((KEY, EmployeeId | None, None))
    return msgspec.defstruct(
        "EmployeeInput",
        fields,
        forbid_unknown_fields=True,
        kw_only=True,
        module=__name__,
    )


EmployeeInput = _employee_struct()
EmployeeInput.__doc__ = (
    "One employee in the HRIS contract's fields (the model's inputs). EmployeeNumber is optional: "
    "give it to have a cached score answered when live scoring is down and to honour opt-out."
)
MODEL_INPUTS: tuple[str, ...] = RAW_INPUTS


class Factor(msgspec.Struct, frozen=True):
    """One reason behind a score: its SHAP contribution in log-odds (positive raises the risk)."""

    feature: str
    label: str
    contribution: float
    direction: Literal["raises", "lowers"]


class Prediction(msgspec.Struct):
    prediction_id: str
    employee_id: int | None
    probability: float
    risk_band: RiskBand
    model_version: str
    source: Source
    top_factors: list[Factor]
    scored_at: str


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    employees: Annotated[list[EmployeeInput], Meta(min_length=1)]  # type: ignore[valid-type]


class FieldError(msgspec.Struct):
    field: str
    problem: str


class BatchItem(msgspec.Struct):
    index: int
    prediction: Prediction | None = None
    errors: list[FieldError] | None = None


class BatchResponse(msgspec.Struct):
    model_version: str
    scored: int
    rejected: int
    results: list[BatchItem]


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A manager's decision on a prediction. The reason is required: a human stays in the loop."""

    employee_id: EmployeeId
    prediction_id: Annotated[str, Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    reason: Annotated[str, Meta(min_length=1, max_length=2000)]


class ActionResponse(msgspec.Struct):
    action_id: str
    ts: str


class ModelInfo(msgspec.Struct):
    model_version: str | None
    source: Source | None
    published_at: str | None
    promoted_by: str | None
    reason: str | None
    loaded_at: str | None
    threshold: float | None
    risk_bands: dict[str, list[float]] | None
    metrics: dict[str, Any] | None
    training_data_versions: dict[str, Any] | None
    features: list[str] | None
    fallback_scores: int
    fallback_scored_at: str | None
    feature_snapshot: str | None


class Health(msgspec.Struct):
    status: str
    model_version: str | None = None
    mode: str | None = None
    detail: str | None = None
