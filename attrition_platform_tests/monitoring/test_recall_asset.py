"""`recall_monitor` and `recall_within_limit` on real Delta tables and a real published location.

Scores are written with nightly_scores' own row builder and the lake's partition write,
served answers with serving's `append_predictions`, exits as hris_terminations lands them, and
models are published bundles: the asset reads exactly what the platform writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from attrition_platform.contract import KEY, SNAPSHOT_DATE
from attrition_platform.contracts.audit_logs import PredictionRecord, append_predictions
from attrition_platform.contracts.published import publish_bundle, store_from_uri
from attrition_platform.defs.hris_assets import TERMINATIONS_TABLE
from attrition_platform.defs.recall_assets import recall_monitor, recall_within_limit
from attrition_platform.defs.scoring_assets import SCORES_TABLE, scores_table
from attrition_platform.model.bundle import ModelBundle
from attrition_platform.model.explanations import FactorTable
from attrition_platform.publication import ScoredEmployees
from attrition_platform.resources.lake import DeltaLake
from attrition_platform.resources.published import PublishedLocation
from attrition_platform_tests.serving.harness import make_bundle

JAN = dt.date(2026, 1, 1)
KNOWN_UNTIL = dt.date(2026, 6, 30)
HORIZON = 60
EVALUATION_RECALL = 0.9


@pytest.fixture(scope="module")
def trained() -> ModelBundle:
    return make_bundle(seed=5, rounds=20)


def publish_model(home: Path, bundle: ModelBundle, version: str, threshold: float, **metadata: Any) -> None:
    """A bundle at the published location (CURRENT follows the last one published)."""
    model = dataclasses.replace(bundle, threshold=threshold, metadata={**bundle.metadata, **metadata})
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "bundle")
        publish_bundle(store_from_uri(str(home / "serving")), Path(tmp) / "bundle", version,
                       promoted_by="test", reason="fixture")


def write_scores(home: Path, day: dt.date, probabilities: dict[int, float], version: str = "1") -> None:
    """One nightly_scores partition, built by the asset's own row builder."""
    ids = np.array(sorted(probabilities), dtype=np.int64)
    p = np.array([probabilities[i] for i in ids], dtype=np.float64)
    scored = ScoredEmployees(
        employee_id=ids,
        probability=p,
        risk_band=np.where(p >= 0.5, "high", "low"),
        factors=FactorTable(
            features=np.zeros((len(ids), 1), dtype=np.int32),
            contributions=np.full((len(ids), 1), 0.1, dtype=np.float32),
            names=("OverTime_Yes",),
        ),
        model_version=version,
        scored_at=dt.datetime.combine(day, dt.time(2), tzinfo=dt.UTC),
        rejected=0,
    )
    DeltaLake(root=str(home / "lake")).write_partition(SCORES_TABLE, scores_table(day, scored), day)


def write_exits(home: Path, exits: list[tuple[int, dt.date, str]], known_until: dt.date = KNOWN_UNTIL) -> None:
    """The hris_terminations partition of `known_until`: every exit known on that date."""
    df = pd.DataFrame(
        {
            KEY: pd.Series([e[0] for e in exits], dtype="int64"),
            "termination_date": pd.Series([e[1] for e in exits], dtype="object"),
            "termination_type": pd.Series([e[2] for e in exits], dtype="object"),
        }
    )
    df[SNAPSHOT_DATE] = known_until
    DeltaLake(root=str(home / "lake")).write_partition(TERMINATIONS_TABLE, df, known_until)


def run(home: Path, **config: Any) -> tuple[dg.ExecuteInProcessResult, dict[str, Any], dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [recall_monitor, recall_within_limit],
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "lake": DeltaLake(root=str(home / "lake")),
            "published": PublishedLocation(uri=str(home / "serving")),
        },
        run_config={"ops": {"recall_monitor": {"config": config}}} if config else None,
        raise_on_error=False,
    )
    assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("recall_monitor")[0].metadata.items()}
    (check,) = result.get_asset_check_evaluations()
    return result, metadata, check


def leavers_and_stayers(flagged_leavers: int, missed_leavers: int, stayers: int, flagged_stayers: int = 0) -> tuple[dict[int, float], list]:
    """Scores on JAN and the exits behind them: leavers exit on 2026-02-15, inside the horizon."""
    probabilities: dict[int, float] = {}
    exits = []
    employee = 100
    for kind, count in (("caught", flagged_leavers), ("missed", missed_leavers),
                        ("stayer", stayers - flagged_stayers), ("alarm", flagged_stayers)):
        for _ in range(count):
            employee += 1
            probabilities[employee] = 0.9 if kind in ("caught", "alarm") else 0.1
            if kind in ("caught", "missed"):
                exits.append((employee, dt.date(2026, 2, 15), "voluntary"))
    return probabilities, exits


def test_a_model_that_flags_every_leaver_has_recall_one_and_no_drop(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON,
                  evaluation_metrics={"recall": EVALUATION_RECALL, "precision": 0.4})
    probabilities, exits = leavers_and_stayers(flagged_leavers=20, missed_leavers=0, stayers=30, flagged_stayers=10)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    _, md, check = run(tmp_path)
    assert md["enough_data"] is True and md["latest_recall"] == 1.0
    assert md["recall_drop_pp"] == pytest.approx((EVALUATION_RECALL - 1.0) * 100) and md["recall_drop_pp"] <= 0
    assert md["evaluation_recall"] == EVALUATION_RECALL and md["evaluation_recall_source"] == "evaluation_metrics"
    assert md["verdict_months"] == "2026-01" and md["matured_scores"] == 50 and md["months"] == 1
    assert md["champion_model_version"] == "1" and md["retrain_recommended"] is False
    assert md["recall_per_month"] == {
        "2026-01": {"scored": 50, "maturing": 0, "leavers": 20, "flagged": 30, "caught": 20,
                    "recall": 1.0, "precision": 0.6667, "complete": True, "models": "1"}
    }
    assert "| 2026-01 |" in md["recall_by_month"] and md["recall_chart"].startswith("![")
    assert check.passed


def test_half_the_leavers_below_threshold_gives_recall_half_and_a_failing_check(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=12, missed_leavers=12, stayers=30, flagged_stayers=4)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    _, md, check = run(tmp_path)
    assert md["latest_recall"] == 0.5 and md["verdict_leavers"] == 24
    assert md["recall_drop_pp"] == pytest.approx((EVALUATION_RECALL - 0.5) * 100)
    assert md["retrain_recommended"] is True
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["recall_drop_pp"].value == pytest.approx(40.0)
    assert "2026-01" in check.description


def test_served_answers_count_and_the_latest_score_of_the_month_wins(tmp_path: Path, trained) -> None:
    """Leavers the nightly run missed but a later live answer flagged are caught; one of them
    looked up thirty times that month still counts once; an answer about no employee is ignored."""
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=10, missed_leavers=10, stayers=10)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    missed = [e for e, p in probabilities.items() if p < 0.5 and any(x[0] == e for x in exits)]
    records = [
        PredictionRecord(
            prediction_id=f"p-{e}-{k}", ts=dt.datetime(2026, 1, 10 + k % 5, 9, k, tzinfo=dt.UTC),
            caller="hr-portal", employee_id=e, model_version="1", source="live", inputs="{}",
            probability=0.8, risk_band="high", top_factors=(),
        )
        for e in missed[:5] for k in range(30 if e == missed[0] else 1)
    ]
    records.append(dataclasses.replace(records[0], prediction_id="p-anon", employee_id=None))
    append_predictions(str(tmp_path / "lake"), records)
    _, md, _ = run(tmp_path)
    assert md["matured_scores"] == 30  # 30 employees once each: the 30 look-ups of one add none
    assert md["latest_recall"] == pytest.approx(15 / 20)


def test_each_score_is_judged_by_its_own_models_threshold(tmp_path: Path, trained) -> None:
    """Model 1 (threshold 0.5) scored January, model 2 (threshold 0.95, the champion now)
    February: the same 0.9 is a flag in January and a miss in February."""
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": 0.5})
    publish_model(tmp_path, trained, "2", 0.95, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    jan, jan_exits = leavers_and_stayers(flagged_leavers=20, missed_leavers=0, stayers=5)
    write_scores(tmp_path, JAN, jan, version="1")
    feb = {e + 1000: p for e, p in jan.items()}
    write_scores(tmp_path, dt.date(2026, 2, 1), feb, version="2")
    feb_exits = [(e + 1000, dt.date(2026, 3, 1), kind) for e, _, kind in jan_exits]
    write_exits(tmp_path, jan_exits + feb_exits)
    _, md, check = run(tmp_path)
    assert md["verdict_months"] == "2026-02" and md["latest_recall"] == 0.0
    assert md["champion_model_version"] == "2" and md["recall_drop_pp"] == pytest.approx(90.0)
    january = md["recall_per_month"]["2026-01"]
    assert (january["recall"], january["caught"], january["models"]) == (1.0, 20, "1")
    assert not check.passed


def test_scores_whose_horizon_has_not_elapsed_are_not_judged(tmp_path: Path, trained) -> None:
    """A leaver already gone but scored less than a horizon before the exits' date is neither
    a hit nor a miss yet: the month waits, and no verdict is drawn from it."""
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=0, missed_leavers=25, stayers=5)
    write_scores(tmp_path, dt.date(2026, 6, 1), probabilities)
    write_exits(tmp_path, [(e, dt.date(2026, 6, 20), kind) for e, _, kind in exits])
    _, md, check = run(tmp_path)
    assert md["matured_scores"] == 0 and md["maturing_scores"] == 30
    assert md["enough_data"] is False and md["recall_drop_pp"] is None and check.passed
    # Exits known one horizon on: the same scores are judged, every leaver a miss.
    write_exits(tmp_path, [(e, dt.date(2026, 6, 20), kind) for e, _, kind in exits], known_until=dt.date(2026, 7, 31))
    _, md, check = run(tmp_path)
    assert md["matured_scores"] == 30 and md["latest_recall"] == 0.0 and not check.passed


def test_involuntary_exits_are_not_leavers(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=20, missed_leavers=20, stayers=0)
    write_scores(tmp_path, JAN, probabilities)
    missed = {e for e, p in probabilities.items() if p < 0.5}
    write_exits(tmp_path, [(e, d, "involuntary" if e in missed else kind) for e, d, kind in exits])
    _, md, _ = run(tmp_path)
    assert md["verdict_leavers"] == 20 and md["latest_recall"] == 1.0


def test_nothing_to_join_materialises_with_no_verdict(tmp_path: Path, trained) -> None:
    _, md, check = run(tmp_path)  # nothing published, no tables
    assert md["enough_data"] is False and md["champion_model_version"] is None
    assert md["matured_scores"] == 0 and md["months"] == 0 and "nothing is published" in md["summary"]
    assert check.passed
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    _, md, check = run(tmp_path)  # a champion, but no scores and no exits yet
    assert md["enough_data"] is False and "no verdict" in md["summary"] and check.passed


def test_a_month_with_fewer_leavers_than_configured_gives_no_verdict(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=0, missed_leavers=10, stayers=10)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    _, md, check = run(tmp_path)  # default: 20 leavers a month
    assert md["enough_data"] is False and md["matured_scores"] == 20 and check.passed
    _, md, check = run(tmp_path, min_leavers=10)
    assert md["enough_data"] is True and md["latest_recall"] == 0.0 and not check.passed


def test_validation_recall_is_the_fallback_and_is_named(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, validation_metrics={"recall": 0.6})
    probabilities, exits = leavers_and_stayers(flagged_leavers=20, missed_leavers=0, stayers=5)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    _, md, _ = run(tmp_path)
    assert md["evaluation_recall"] == 0.6 and md["evaluation_recall_source"] == "validation_metrics"


def test_a_tampered_bundle_fails_naming_the_file(tmp_path: Path, trained) -> None:
    publish_model(tmp_path, trained, "1", 0.5, horizon_days=HORIZON, evaluation_metrics={"recall": EVALUATION_RECALL})
    probabilities, exits = leavers_and_stayers(flagged_leavers=20, missed_leavers=0, stayers=5)
    write_scores(tmp_path, JAN, probabilities)
    write_exits(tmp_path, exits)
    metadata = tmp_path / "serving" / "bundles" / "1" / "metadata.json"
    metadata.write_text(metadata.read_text().replace('"threshold": 0.5', '"threshold": 0.05'))
    result = dg.materialize(
        [recall_monitor],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"lake": DeltaLake(root=str(tmp_path / "lake")),
                   "published": PublishedLocation(uri=str(tmp_path / "serving"))},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "bundles/1/metadata.json" in failure.step_failure_data.error.message
