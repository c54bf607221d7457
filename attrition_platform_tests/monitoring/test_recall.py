"""The rules of realised recall, on hand-made rows with hand-computed answers."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from attrition_platform.contract import KEY
from attrition_platform.model.training_data import voluntary_exits
from attrition_platform.monitoring import recall as rc

D = dt.date
MODELS = {"1": rc.ModelFacts(threshold=0.5, horizon_days=60)}
KNOWN_UNTIL = D(2026, 6, 30)


def scores(rows: list[tuple[int, dt.date, float]], version: str = "1", source: str = "nightly") -> pd.DataFrame:
    return pd.DataFrame(
        {
            rc.EMPLOYEE: [r[0] for r in rows],
            rc.SCORE_DATE: pd.to_datetime([r[1] for r in rows]),
            rc.SCORED_AT: pd.to_datetime([dt.datetime.combine(r[1], dt.time(2)) for r in rows], utc=True),
            rc.MODEL_VERSION: version,
            rc.PROBABILITY: [r[2] for r in rows],
            rc.SOURCE: source,
        }
    )


def terminations(rows: list[tuple[int, dt.date, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            KEY: [r[0] for r in rows],
            "termination_date": [r[1] for r in rows],
            "termination_type": [r[2] for r in rows],
        }
    )


# employee, score date, probability (model 1: threshold 0.5, horizon 60 days)
SCORES = [
    (1, D(2026, 1, 5), 0.9),  # leaves 2026-02-10: flagged leaver (caught)
    (2, D(2026, 1, 5), 0.3),  # leaves 2026-02-20: missed leaver
    (3, D(2026, 1, 5), 0.7),  # stays: flagged, not a leaver
    (4, D(2026, 1, 5), 0.2),  # dismissed 2026-02-01: involuntary, not a leaver
    *[(5, D(2026, 1, d), 0.1) for d in range(1, 30)],  # scored 30 times in January ...
    (5, D(2026, 1, 30), 0.8),  # ... the latest score counts: leaves 2026-03-15, caught
    (7, D(2026, 2, 1), 0.9),  # leaves 2026-04-02 = score date + 60 days: inside the window
    (8, D(2026, 2, 1), 0.9),  # leaves 2026-02-01, the score date itself: outside the window
    (3, D(2026, 5, 10), 0.6),  # window ends 2026-07-09, after KNOWN_UNTIL: maturing
    (6, D(2026, 5, 15), 0.1),  # leaves 2026-06-20 but its window is still open: not a miss yet
]
EXITS = [
    (1, D(2026, 2, 10), "voluntary"),
    (2, D(2026, 2, 20), "voluntary"),
    (4, D(2026, 2, 1), "involuntary"),
    (5, D(2026, 3, 15), "voluntary"),
    (7, D(2026, 4, 2), "voluntary"),
    (8, D(2026, 2, 1), "voluntary"),
    (6, D(2026, 6, 20), "voluntary"),
]


def monthly(rows=SCORES, exits=EXITS, models=MODELS, known_until=KNOWN_UNTIL) -> pd.DataFrame:
    chosen = rc.one_score_per_month(scores(rows))
    labelled = rc.label_scores(chosen, voluntary_exits(terminations(exits)), models, known_until)
    return rc.monthly_recall(labelled)


def test_per_month_numbers_match_a_hand_computation_row_by_row() -> None:
    expected = pd.DataFrame.from_dict(
        {
            # Jan: judged 1,2,3,4,5; leavers 1,2,5; flagged 1,3,5; caught 1,5
            "2026-01": [5, 0, 3, 3, 2, 2 / 3, 2 / 3, True, "1"],
            # Feb: judged 7,8; leaver 7 (8 left on the score date); flagged both; caught 7
            "2026-02": [2, 0, 1, 2, 1, 1.0, 0.5, True, "1"],
            # May: both windows still open on 2026-06-30
            "2026-05": [0, 2, 0, 0, 0, math.nan, math.nan, False, ""],
        },
        orient="index",
        columns=list(rc.MONTH_COLUMNS),
    )
    expected.index.name = rc.MONTH
    pd.testing.assert_frame_equal(monthly(), expected, check_dtype=False)


def test_an_immature_score_is_not_judged_even_when_its_employee_has_already_left() -> None:
    labelled = rc.label_scores(
        rc.one_score_per_month(scores(SCORES)), voluntary_exits(terminations(EXITS)), MODELS, KNOWN_UNTIL
    )
    six = labelled[labelled[rc.EMPLOYEE] == 6].iloc[0]
    assert six["left"] and not six["matured"]  # the exit is known, the window is not closed
    # Once exits are known past its window end, the same score is judged, as a miss.
    later = monthly(known_until=D(2026, 7, 14)).loc["2026-05"]
    assert (later["scored"], later["leavers"], later["caught"], later["complete"]) == (2, 1, 0, True)


def test_involuntary_exits_are_not_leavers() -> None:
    as_voluntary = [(e, d, "voluntary") for e, d, _ in EXITS]
    assert monthly().loc["2026-01", "leavers"] == 3
    assert monthly(exits=as_voluntary).loc["2026-01", "leavers"] == 4  # employee 4 now counts


def test_an_employee_scored_thirty_times_in_a_month_counts_once_with_the_latest_score() -> None:
    chosen = rc.one_score_per_month(scores(SCORES))
    five = chosen[chosen[rc.EMPLOYEE] == 5]
    assert len(five) == 1 and five.iloc[0][rc.PROBABILITY] == 0.8


def test_the_later_score_of_a_day_wins_whatever_its_source() -> None:
    nightly = scores([(9, D(2026, 3, 3), 0.1)])
    live = scores([(9, D(2026, 3, 3), 0.9)], source="live")
    live[rc.SCORED_AT] = live[rc.SCORED_AT] + pd.Timedelta(hours=8)
    for frame in (pd.concat([nightly, live]), pd.concat([live, nightly])):
        chosen = rc.one_score_per_month(frame)
        assert chosen[rc.PROBABILITY].tolist() == [0.9] and chosen[rc.SOURCE].tolist() == ["live"]


def test_each_score_is_judged_by_the_threshold_and_horizon_of_the_model_that_made_it() -> None:
    rows = pd.concat(
        [scores([(1, D(2026, 1, 5), 0.6)], version="1"), scores([(2, D(2026, 1, 5), 0.6)], version="2")]
    )
    models = {**MODELS, "2": rc.ModelFacts(threshold=0.7, horizon_days=10)}
    exits = voluntary_exits(terminations([(1, D(2026, 2, 1), "voluntary"), (2, D(2026, 2, 1), "voluntary")]))
    labelled = rc.label_scores(rc.one_score_per_month(rows), exits, models, KNOWN_UNTIL).set_index(rc.EMPLOYEE)
    assert labelled.loc[1, "flagged"] and labelled.loc[1, "left"]  # 0.6 >= 0.5; exit within 60 days
    assert not labelled.loc[2, "flagged"] and not labelled.loc[2, "left"]  # 0.6 < 0.7; 27 days > 10


def test_scores_of_an_unknown_model_are_left_out() -> None:
    rows = pd.concat([scores([(1, D(2026, 1, 5), 0.6)]), scores([(2, D(2026, 1, 5), 0.6)], version="9")])
    labelled = rc.label_scores(rc.one_score_per_month(rows), voluntary_exits(terminations([])), MODELS, KNOWN_UNTIL)
    assert labelled[rc.EMPLOYEE].tolist() == [1]


def test_without_an_exit_extract_nothing_matures() -> None:
    table = monthly(known_until=None)
    assert table["scored"].sum() == 0 and not table["complete"].any()


def test_the_verdict_uses_the_latest_complete_month_with_enough_leavers() -> None:
    table = monthly()
    verdict = rc.judge(table, evaluation_recall=0.8, min_leavers=3)
    assert verdict.enough_data and verdict.months == ("2026-01",)
    assert verdict.realised_recall == pytest.approx(2 / 3)
    assert verdict.drop_pp == pytest.approx((0.8 - 2 / 3) * 100, abs=1e-4)
    assert verdict.exceeds(0.05)
    latest = rc.judge(table, evaluation_recall=0.8, min_leavers=1)
    assert latest.months == ("2026-02",) and latest.drop_pp == pytest.approx(-20.0)
    assert not latest.exceeds(0.05)


def test_pooled_months_add_leavers_and_a_drop_of_exactly_the_limit_does_not_exceed_it() -> None:
    verdict = rc.judge(monthly(), evaluation_recall=0.8, min_leavers=1, months=2)
    assert verdict.months == ("2026-01", "2026-02") and verdict.leavers == 4
    assert verdict.realised_recall == pytest.approx(3 / 4)
    assert verdict.drop_pp == pytest.approx(5.0) and not verdict.exceeds(0.05)


@pytest.mark.parametrize(
    ("min_leavers", "evaluation"), [(4, 0.8), (1, None)], ids=["too-few-leavers", "no-evaluation-recall"]
)
def test_no_verdict_without_enough_leavers_or_an_evaluation_recall(min_leavers: int, evaluation: float | None) -> None:
    verdict = rc.judge(monthly(), evaluation_recall=evaluation, min_leavers=min_leavers)
    assert not verdict.enough_data
    assert verdict.drop_pp is None and verdict.realised_recall is None and not verdict.exceeds(0.05)


def test_no_scores_give_no_months_and_no_verdict() -> None:
    table = rc.monthly_recall(
        rc.label_scores(rc.one_score_per_month(rc.empty_scores()), voluntary_exits(terminations([])), MODELS, KNOWN_UNTIL)
    )
    assert table.empty and not rc.judge(table, 0.8, 1).enough_data
    assert rc.month_table(table, 0.8, ()).empty and rc.month_records(table) == {}


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"evaluation_metrics": {"recall": 0.7}, "validation_metrics": {"recall": 0.9}}, (0.7, "evaluation_metrics")),
        ({"validation_metrics": {"recall": 0.9, "precision": 0.4}}, (0.9, "validation_metrics")),
        ({"evaluation_metrics": {"pr_auc": 0.5}, "validation_metrics": {"recall": float("nan")}}, (None, "none")),
    ],
    ids=["evaluation-first", "validation-fallback", "none"],
)
def test_evaluation_recall_prefers_the_evaluation_window(metadata: dict, expected: tuple) -> None:
    assert rc.evaluation_recall(metadata) == expected
