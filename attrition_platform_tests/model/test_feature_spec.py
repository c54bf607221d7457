from __future__ import annotations

import numpy as np
import pytest

from attrition_platform.model.feature_spec import RECIPE_VERSION, FeatureSpec
from attrition_platform_tests.hris.factories import static_rows


def test_matrix_is_the_same_from_a_dataframe_and_from_plain_lists() -> None:
    rows = static_rows(50)
    spec = FeatureSpec.fit(rows)
    as_lists = {c: rows[c].tolist() for c in spec.inputs}
    assert np.array_equal(spec.matrix(rows), spec.matrix(as_lists))


def test_unknown_category_encodes_as_all_zeros_for_that_field() -> None:
    rows = static_rows(50)
    spec = FeatureSpec.fit(rows)
    changed = rows.head(1).copy()
    changed["JobRole"] = "Data Scientist"
    x = spec.matrix(changed)[0]
    role_cols = [i for i, n in enumerate(spec.feature_names) if n.startswith("JobRole=")]
    assert role_cols and not x[role_cols].any()


def test_missing_input_is_named() -> None:
    rows = static_rows(20)
    spec = FeatureSpec.fit(rows)
    with pytest.raises(KeyError, match="OverTime"):
        spec.matrix(rows.drop(columns="OverTime"))


def test_gender_is_never_a_model_input() -> None:
    spec = FeatureSpec.fit(static_rows(20))
    assert not any(n.startswith("Gender") for n in spec.feature_names)


def test_income_vs_level_uses_the_fitted_medians_not_the_scored_rows() -> None:
    rows = static_rows(200)
    spec = FeatureSpec.fit(rows)
    j = spec.feature_names.index("income_vs_level")
    one = rows.head(1)
    alone = spec.matrix(one)[0, j]
    with_others = spec.matrix(rows)[0, j]
    assert alone == with_others
    level = str(int(one["JobLevel"].iloc[0]))
    assert alone == pytest.approx(one["MonthlyIncome"].iloc[0] / spec.income_level_medians[level], rel=1e-6)


def test_spec_of_another_recipe_version_is_refused() -> None:
    data = FeatureSpec.fit(static_rows(20)).to_dict()
    data["recipe_version"] = RECIPE_VERSION + 1
    with pytest.raises(ValueError, match="recipe version"):
        FeatureSpec.from_dict(data)


def test_no_input_is_nullable_unless_the_spec_says_so_and_older_specs_still_load() -> None:
    data = FeatureSpec.fit(static_rows(20)).to_dict()
    assert data["nullable"] == []
    del data["nullable"]  # a spec saved before the field existed
    assert FeatureSpec.from_dict(data).nullable == []
