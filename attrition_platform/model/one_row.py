"""One row's margin and top factors: the live request's path through a bundle's model.

Why a path of its own: batch code pays a numpy call per step once for a million rows; a live
request pays it for one row, and a hundred such calls are the whole 100 µs budget. Everything
per model is prepared here once (the trees' per-pattern tables, the linear part spread over
the factor groups, the groups themselves), so one row costs about twenty numpy calls, with or
without factors. The numbers are the batch path's: the margin bit for bit (XGBoost's float32
sum of the trees plus the same linear margin), the factor contributions to float32 rounding
(a test compares both on many rows).

Which trees path: decision-pattern tables (`tree_patterns`) when every leaf's path has at most
eight splits (trees up to depth 8, the recipe's and deeper) and the tables fit their budget;
else the per-leaf TreeSHAP tables (`tree_shap`); else XGBoost itself (`booster_calls`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from attrition_platform.model import booster_calls, tree_patterns
from attrition_platform.model.explanations import FactorTable, _Groups, factor_groups, feature_groups, rank_row
from attrition_platform.model.linear_margin import LinearMargin
from attrition_platform.model.tree_shap import EntryGrouping, ShapTables


@dataclass(frozen=True)
class RowModel:
    booster: xgb.Booster
    groups: _Groups
    patterns: tree_patterns.TreePatterns | None
    tables: ShapTables | None
    grouping: EntryGrouping | None
    # F x (G + 1) float64: each linear weight in its factor group's column, then the weights
    # themselves: one product gives the linear part's factor contributions and its margin.
    linear_grouped: np.ndarray | None
    linear_grouped_center: np.ndarray | None  # G + 1 float64: the centre's share, -offset last

    @classmethod
    def build(
        cls,
        booster: xgb.Booster,
        tables: ShapTables | None,
        feature_names: Sequence[str],
        linear: LinearMargin | None,
    ) -> "RowModel":
        groups = factor_groups(feature_names)
        grouping = tables.grouping(feature_groups(feature_names)) if tables is not None else None
        patterns = tree_patterns.build(tables, grouping) if tables is not None and grouping is not None else None
        lin_grouped = lin_center = None
        if linear is not None:
            matrix = groups.matrix.astype(np.float64)
            lin_grouped = np.column_stack([linear.weights[:, None] * matrix, linear.weights])
            lin_center = np.append((linear.center * linear.weights) @ matrix, -linear.offset)
        return cls(booster, groups, patterns, tables, grouping, lin_grouped, lin_center)

    def margin(self, x: np.ndarray, maybe_missing: bool) -> np.ndarray:
        """[1] float64: the model's margin of the one float32 row of `x` (1 x F)."""
        if self.patterns is not None:
            trees = self.patterns.margin(self.patterns.rows(x[0], maybe_missing))
        elif self.tables is not None:
            trees = self.tables.margin_one(x[0])
        else:
            trees = booster_calls.margin(self.booster, x)
        if self.linear_grouped is None or self.linear_grouped_center is None:
            return trees.astype(np.float64)
        return trees + self._linear(x)[-1]  # the product `explain` makes: the same margin

    def _linear(self, x: np.ndarray) -> np.ndarray:
        """[G + 1] float64: the linear part's contribution per factor group, then its margin."""
        assert self.linear_grouped is not None and self.linear_grouped_center is not None
        return x[0].astype(np.float64) @ self.linear_grouped - self.linear_grouped_center

    def explain(
        self, x: np.ndarray, maybe_missing: bool, k: int, row: Sequence[float]
    ) -> tuple[np.ndarray, FactorTable]:
        """(margin [1] float64, the top-k factors) of the one row of `x`; `row` is the same
        row as plain floats (to name each field by the level it holds)."""
        if self.patterns is not None:
            picked = self.patterns.rows(x[0], maybe_missing)
            trees, grouped = self.patterns.margin(picked), self.patterns.grouped(picked)
        elif self.tables is not None and self.grouping is not None:
            trees, grouped = self.tables.grouped_one(x[0], self.grouping)
        else:
            trees = booster_calls.margin(self.booster, x)
            grouped = booster_calls.contributions(self.booster, x, 1)[0, :-1] @ self.groups.matrix
        if self.linear_grouped is not None and self.linear_grouped_center is not None:
            linear = self._linear(x)
            margin = trees + linear[-1]  # float32 trees + a float64 scalar: float64, as `margin`
            grouped = grouped + linear[:-1]
        else:
            margin = trees.astype(np.float64)
        values = grouped.astype(np.float32).tolist()
        k = max(0, min(int(k), len(values)))
        return margin, rank_row(values, self.groups, k, row)
