from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from attrition_platform.contracts.fallback_export import (
    CachedScore,
    ExportError,
    FallbackIndex,
    check_export,
    encode_export,
)

SCORED_AT = datetime(2026, 11, 30, 2, 15, 30, 123456, tzinfo=UTC)
NAMES = [
    ("OverTime", "Works overtime"),
    ("JobSatisfaction", "Job satisfaction"),
    ("MonthlyIncome", "Monthly income"),
]


def _rows(
    n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[tuple[str, str, float]]]]:
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(10_000, 10_000 + 3 * n))[:n]
    probs = rng.random(n)
    bands = np.where(probs >= 0.4, "high", np.where(probs >= 0.2, "medium", "low"))
    factors = [
        [(f, label, float(rng.normal())) for f, label in NAMES[: i % 4]]  # 0 to 3 factors per row
        for i in range(n)
    ]
    return ids, probs, bands, factors


def test_export_round_trip_is_equal_field_by_field():
    ids, probs, bands, factors = _rows(1000)
    index = FallbackIndex.from_bytes(encode_export(ids, "12", probs, bands, factors, SCORED_AT))
    assert len(index) == 1000
    assert index.model_version == "12"
    assert index.scored_at == "2026-11-30T02:15:30.123456+00:00"
    for i in range(1000):
        assert index.get(int(ids[i])) == CachedScore(
            employee_id=int(ids[i]),
            model_version="12",
            probability=float(probs[i]),
            risk_band=str(bands[i]),
            top_factors=tuple(factors[i]),
            scored_at="2026-11-30T02:15:30.123456+00:00",
        )
    assert index.get(-1) is None
    assert int(ids[0]) in index


def test_scored_at_in_another_zone_is_stored_as_the_same_instant_in_utc():
    ids, probs, bands, factors = _rows(3)
    local = SCORED_AT.astimezone(timezone(timedelta(hours=2)))
    index = FallbackIndex.from_bytes(encode_export(ids, "1", probs, bands, factors, local))
    assert index.scored_at == SCORED_AT.isoformat()


def test_hundred_thousand_rows_load():
    ids, probs, bands, _ = _rows(100_000, seed=1)
    factors = [[("OverTime", "Works overtime", 0.25)]] * 100_000
    data = encode_export(ids, "3", probs, bands, factors, SCORED_AT)
    index = FallbackIndex.from_bytes(data)
    assert len(index) == 100_000
    last = index.get(int(ids[-1]))
    assert last is not None and last.probability == float(probs[-1])


def test_empty_export_loads_as_an_empty_index():
    empty = np.array([], dtype=np.int64)
    index = FallbackIndex.from_bytes(
        encode_export(empty, "1", np.array([]), np.array([], dtype=str), [], SCORED_AT)
    )
    assert len(index) == 0 and index.get(1) is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: (np.array([1, 1, 2]), *r[1:]), "employee_id"),
        (lambda r: (r[0], np.array([0.1, 1.5, 0.2]), *r[2:]), "probability"),
        (lambda r: (r[0], np.array([0.1, np.nan, 0.2]), *r[2:]), "probability"),
        (lambda r: (*r[:2], np.array(["low", "severe", "high"]), r[3]), "risk_band"),
        (lambda r: (*r[:3], r[3][:2]), "top_factors"),
    ],
)
def test_invalid_rows_are_refused_naming_the_column(change, named):
    ids, probs, bands, factors = change(_rows(3))
    with pytest.raises(ExportError, match=named):
        encode_export(ids, "1", probs, bands, factors, SCORED_AT)


def test_naive_scored_at_is_refused():
    ids, probs, bands, factors = _rows(3)
    with pytest.raises(ValueError, match="timezone"):
        encode_export(ids, "1", probs, bands, factors, SCORED_AT.replace(tzinfo=None))


def test_bytes_that_are_not_an_export_are_refused():
    with pytest.raises(ExportError, match="not a readable Arrow IPC"):
        FallbackIndex.from_bytes(b"PAR1 not arrow")
    with pytest.raises(ExportError, match="not a readable Arrow IPC"):
        check_export(b"")


def test_a_file_without_a_contract_column_is_refused_naming_it():
    import io

    from arro3.core import Array, Table
    from arro3.io import write_ipc

    buf = io.BytesIO()
    write_ipc(Table.from_arrays([Array.from_numpy(np.array([1, 2]))], names=["employee_id"]), buf)
    with pytest.raises(ExportError, match="model_version"):
        check_export(buf.getvalue())


def test_factor_arrays_encode_to_the_same_export_as_factor_lists():
    from attrition_platform.contracts.arrow_columns import top_factors_from_arrays
    from attrition_platform.model.explanations import FactorTable

    rng = np.random.default_rng(3)
    n, k = 500, 3
    names = ("OverTime=Yes", "JobSatisfaction", "MonthlyIncome", "JobRole")
    table = FactorTable(
        features=rng.integers(0, len(names), size=(n, k)).astype(np.int32),
        contributions=rng.normal(size=(n, k)).astype(np.float32),
        names=names,
    )
    table.contributions[::7, -1] = 0.0  # a feature no tree used: left out by both builders
    ids, probs, bands, _ = _rows(n)
    as_lists = [[(f.feature, f.label, f.contribution) for f in row] for row in table.rows()]
    from_lists = FallbackIndex.from_bytes(encode_export(ids, "3", probs, bands, as_lists, SCORED_AT))
    arrays = top_factors_from_arrays(table.features, table.contributions, table.names, table.labels)
    from_arrays = FallbackIndex.from_bytes(encode_export(ids, "3", probs, bands, arrays, SCORED_AT))
    for i in range(n):
        assert from_arrays.get(int(ids[i])) == from_lists.get(int(ids[i]))
    assert len(from_arrays.get(int(ids[0])).top_factors) == k - 1  # row 0 had its zero dropped
    from attrition_platform.model.explanations import factor_label

    feature, label, _ = from_arrays.get(int(ids[1])).top_factors[0]
    assert label == factor_label(feature)  # business words travel with each factor
