#!/usr/bin/env python
"""Model quality of the recipe against the earlier trees-only recipe and the logistic baseline.

    .venv/bin/python benchmarks/recipe.py                       # both generated exports, 5x3 / 5x1 folds
    .venv/bin/python benchmarks/recipe.py --export my.csv --folds 5 --repeats 3

The same protocol as `attrition cv` (`attrition_platform.model.cv.cross_validate`): outer folds
grouped by employee, every choice made on inner validation rows. Prints one markdown table
(mean ± std over folds of ROC AUC, PR AUC, Brier, and the largest recall gap between Gender
groups and age bands at each model's threshold), the table docs/model-card.md quotes. Asserts
nothing: the tests prove the recipe beats the baseline; this measures by how much.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attrition_platform import contract
from attrition_platform.hris.export import write_synthetic_export
from attrition_platform.hris.file_source import read_export
from attrition_platform.hris.synthetic import SyntheticConfig
from attrition_platform.model import training_data as td
from attrition_platform.model.cv import cross_validate
from attrition_platform.model.recipe import RecipeParams
from attrition_platform.resources.hris import exits_known_by

TREES_ONLY = RecipeParams(linear_base=False, max_depths=(2, 3), balance_classes=True)


def labelled(path: Path, horizon_days: int = 180):  # type: ignore[no-untyped-def]
    table = read_export(path)
    if not contract.is_time_aware(table):
        return td.label_static(table)
    known = max(table[contract.SNAPSHOT_DATE])
    table = table[~table["opt_out"].astype(bool)]
    return td.label_time_aware(table, exits_known_by(table, known), horizon_days, known)


def cell(result: dict, metric: str) -> str:
    m = result[metric]
    return f"{m['mean']:.3f} ± {m['std']:.3f}"


def gap(result: dict) -> str:
    g = result["fairness"]["largest_recall_gap_pp"]
    return "n/a" if g["mean"] is None else f"{g['mean']:.1f} ± {g['std']:.1f}"


def measure(name: str, path: Path, folds: int, repeats: int) -> list[str]:
    rows = labelled(path)
    y = rows[td.LABEL].to_numpy()
    started = time.perf_counter()
    recipe = cross_validate(rows, y, folds=folds, repeats=repeats, params=RecipeParams())
    trees = cross_validate(rows, y, folds=folds, repeats=repeats, params=TREES_ONLY)
    took = time.perf_counter() - started
    caption = f"{name} ({len(rows):,} rows, {int(y.sum()):,} leavers, {folds}x{repeats} folds, {took:.0f} s)"
    out = []
    for label, result in (
        ("recipe (linear margin + depth-1/2 trees)", recipe["recipe"]),
        ("trees only (the earlier recipe)", trees["recipe"]),
        ("logistic baseline", recipe["baseline"]),
    ):
        out.append(
            f"| {caption} | {label} | {cell(result, 'roc_auc')} | {cell(result, 'pr_auc')} | "
            f"{result['brier']['mean']:.4f} | {gap(result)} |"
        )
        caption = ""
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, help="an export to measure instead of the generated ones")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=None, help="default: 3 for static, 1 for time-aware")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated exports")
    args = parser.parse_args()
    print("| export | model | ROC AUC | PR AUC | Brier | largest recall gap (pp) |")
    print("|---|---|---|---|---|---|")
    if args.export:
        for line in measure(args.export.name, args.export, args.folds, args.repeats or 3):
            print(line, flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        static = Path(tmp) / "static.csv"
        write_synthetic_export(SyntheticConfig(employees=1470, seed=args.seed), static, static=True)
        for line in measure("generated static (IBM-sized)", static, args.folds, args.repeats or 3):
            print(line, flush=True)
        timed = Path(tmp) / "company.parquet"
        write_synthetic_export(SyntheticConfig(employees=1500, months=24, seed=args.seed), timed, static=False)
        for line in measure("generated time-aware (1,500 x 24 months)", timed, args.folds, args.repeats or 1):
            print(line, flush=True)


if __name__ == "__main__":
    main()
