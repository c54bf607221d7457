"""Training-data profile stored in the bundle: the reference that drift monitoring compares to.

Numeric inputs keep decile edges and the share of training rows per bin; categorical inputs keep
their level shares. That is all a PSI needs, so the raw training rows never leave the lake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attrition_platform.model.feature_spec import FeatureSpec


def profile(columns: Mapping[str, Any], spec: FeatureSpec, bins: int = 10) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in spec.numeric:
        values = np.asarray(columns[name], dtype=np.float64)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        counts, _ = np.histogram(values, bins=edges)
        out[name] = {
            "kind": "numeric",
            "edges": edges.tolist(),
            "shares": (counts / max(len(values), 1)).tolist(),
            "mean": float(values.mean()),
        }
    for name in spec.categorical:
        values = np.asarray(columns[name], dtype=object).astype(str)
        levels, counts = np.unique(values, return_counts=True)
        out[name] = {
            "kind": "categorical",
            "shares": {str(k): float(c / len(values)) for k, c in zip(levels, counts)},
        }
    return out
