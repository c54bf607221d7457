"""XGBoost's exact SHAP contributions from per-leaf tables: the same numbers, ~20× sooner.

Why: `pred_contribs` runs Lundberg's TreeSHAP recursion for every row, O(trees x leaves x
depth²), plus a DMatrix per call: ~1 ms for one row of a 300-tree depth-4 model on this VM,
ten times the whole scoring budget of a live request. Path-dependent TreeSHAP, though, depends
on a row only through one bit per (leaf, feature on the leaf's path): does the row satisfy the
path's conditions on that feature? So everything else can be computed once per model (this is
"Fast TreeSHAP v2", Yang 2021, arXiv:2109.09847): for leaf l with value v and the K distinct
features of its path, with z_j the product of the path's cover fractions on feature j and o_j
that bit, feature i receives

    v (o_i - z_i) sum_{S ⊆ A \\ {i}} |S|! (K - |S| - 1)! / K!  prod_{j ∉ S, j ≠ i} z_j

where A is the set of features with o_j = 1. There are only 2^K patterns of bits, so a table of
2^K x K values per leaf holds every answer; scoring a row is then a handful of numpy gathers:
decide every split once, form each leaf's bit pattern, look its row up, add per feature.

The margin comes from the same pass (the one leaf per tree whose pattern is all ones is the leaf
the row reaches), so a prediction with factors needs no second walk of the trees.

Trust, not faith: `build` checks the tables against XGBoost's own `pred_contribs` and margin on
rows built to visit both sides of every split, and returns None (callers then use XGBoost
directly) if any value differs by more than `TOLERANCE`, if the model has splits this does not
model (categorical splits, vector leaves, several targets), or if the tables would exceed the
memory budget. Tests compare the two on every model the recipe makes.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import xgboost as xgb

from attrition_platform.model import booster_calls

# Largest |difference| accepted between a table value and XGBoost's (both are float32 sums of
# hundreds of terms, so they differ in the last bits, never by more than this).
TOLERANCE = 1e-4
# Distinct features on one path above which the 2^K tables grow too fast to be worth it.
MAX_PATH_FEATURES = 8
# Elements per numpy pass in batch (rows x (path entries + table entries)): small enough for
# the temporaries to stay in cache. Measured here: 1M gives 15.7 µs/row on the demo model
# against 26.9 at 12M and 19.5 at 200k (300 trees of depth 4: 193 vs 308 and 275 µs/row).
_CHUNK_ELEMENTS = 1_000_000
BUDGET_ENV = "ATTRITION_SHAP_TABLE_MB"
DEFAULT_BUDGET_MB = 256.0


def arrays_nbytes(tables: object) -> int:
    """Bytes held by the numpy arrays among an object's attributes (what a table set costs)."""
    return int(sum(v.nbytes for v in vars(tables).values() if isinstance(v, np.ndarray)))


def table_budget_bytes() -> int:
    """$ATTRITION_SHAP_TABLE_MB (read at call time) in bytes; 0 turns the tables off."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_BUDGET_MB
    except ValueError:
        mb = DEFAULT_BUDGET_MB
    return int(max(mb, 0.0) * 1024 * 1024)


@dataclass(frozen=True)
class EntryGrouping:
    """Table entries ordered by feature group (see `ShapTables.grouping`)."""

    order: np.ndarray  # intp: flat (leaf, slot) entries, group after group
    starts: np.ndarray  # intp: where each used group starts in that order
    used: np.ndarray  # intp: the groups that occur in any split
    n_groups: int


@dataclass(frozen=True)
class ShapTables:
    """Everything per model that a row's contributions need; arrays only, read-only.

    Layout chosen by measurement: every gather is an `ndarray.take` on a flat index, paths are
    stored depth-major so the per-slot OR runs over contiguous rows, and a leaf's K values are
    one contiguous table row.
    """

    n_features: int
    depth: int
    node_feature: np.ndarray  # intp [nodes]: the split feature of every internal node
    node_threshold: np.ndarray  # float32 [nodes]: goes left when x < threshold
    node_default_left: np.ndarray  # bool [nodes]: where a missing value goes
    path_node: np.ndarray  # intp [depth * leaves]: the internal node at depth d of leaf l's path
    bit_if_left: np.ndarray  # uint8: 1 << slot of the node's feature where a row going left
    # breaks the leaf's path there, else 0 (and 0 for padding)
    bit_if_right: np.ndarray  # uint8: the same for a row going right
    full_mask: np.ndarray  # uint8 [leaves]: all the leaf's slots set
    leaf_offset: np.ndarray  # intp [leaves]: first row of the leaf's block in `table`
    table: np.ndarray  # float32 [leaves * 2^K, K]: contribution per (pattern, slot)
    table_by_slot: np.ndarray  # float32 [K, leaves * 2^K]: the same, slot-major (batches)
    entry_order: np.ndarray  # intp: the (leaf, slot) entries that hold a feature, by feature
    feature_starts: np.ndarray  # intp: where each used feature's entries start in that order
    used_features: np.ndarray  # intp: the features that occur in any split
    leaf_value: np.ndarray  # float32 [leaves], tree after tree
    tree_starts: np.ndarray  # intp [trees]: each tree's first leaf
    base_margin: np.float32  # where XGBoost's margin sum starts (base_score through the link)
    bias: float  # base margin + every tree's expected value: the contributions' last column

    @property
    def bias_row(self) -> np.ndarray:
        """A 1 x (F + 1) row of zeros with the bias last: copied for every one-row answer."""
        row = self.__dict__.get("_bias_row")
        if row is None:
            row = np.zeros((1, self.n_features + 1), dtype=np.float32)
            row[0, -1] = self.bias
            object.__setattr__(self, "_bias_row", row)
        return row

    @property
    def nbytes(self) -> int:
        return arrays_nbytes(self)

    def explain(self, x: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(margins [n] float32, contributions [n, F + 1] float32, bias last) for rows `x`.

        The margins are XGBoost's to the bit: the reached leaves added in float32, tree after
        tree, from the base margin, as its predictor adds them (checked on build). One row (a
        live request) takes a flat path; batches are processed transposed (features x rows) so
        that every gather copies whole contiguous rows. Both paths run the same operations in
        the same order; a test holds them, and XGBoost, to the same numbers.
        """
        if x.dtype != np.float32:
            x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"rows of shape {x.shape}: expected n x {self.n_features}")
        n = len(x)
        if n == 1:
            margin, used = self._explain_one(x[0])
            contribs = self.bias_row.copy()
            contribs[0, self.used_features] = used
            return margin, contribs
        contribs = np.zeros((n, self.n_features + 1), dtype=np.float32)
        contribs[:, -1] = self.bias
        margins = np.empty(n, dtype=np.float32)
        per_row = len(self.path_node) + self.table.shape[1] * len(self.leaf_value)
        step = max(2, _CHUNK_ELEMENTS // max(per_row, 1))

        def chunk(start: int) -> None:
            stop = min(n, start + step)
            m, c = self._explain_columns(np.ascontiguousarray(x[start:stop].T))
            margins[start:stop] = m
            contribs[start:stop, self.used_features] = c.T

        starts = range(0, n, step)
        if threads > 1 and len(starts) > 1:
            # numpy's gathers and reductions release the GIL: chunks run side by side.
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(chunk, starts))
        else:
            for start in starts:
                chunk(start)
        return margins, contribs

    def grouping(self, group_of: np.ndarray) -> EntryGrouping:
        """How to sum the entries straight into groups of features (`group_of[f]` is feature
        f's group, e.g. all one-hot columns of a field share one): for a live request's
        factors, which are per field, without per-feature sums and a matrix product."""
        counts = np.diff(np.append(self.feature_starts, len(self.entry_order)))
        feature_of_entry = np.repeat(self.used_features, counts)  # in entry_order's order
        groups = np.asarray(group_of)[feature_of_entry]
        by_group = np.argsort(groups, kind="stable")
        used, starts = np.unique(groups[by_group], return_index=True)
        return EntryGrouping(
            order=self.entry_order[by_group],
            starts=starts.astype(np.intp),
            used=used.astype(np.intp),
            n_groups=int(np.max(group_of)) + 1 if len(group_of) else 0,
        )

    def grouped_one(self, row: np.ndarray, grouping: EntryGrouping) -> tuple[np.ndarray, np.ndarray]:
        """(margin, contributions per group [G] float32) of one row: `_explain_one` summed by
        group instead of by feature (the same values, added in another order)."""
        pattern, margin = self._pattern_one(row)
        values = self.table.take(self.leaf_offset + pattern, axis=0).ravel().take(grouping.order)
        grouped = np.zeros(grouping.n_groups, dtype=np.float32)
        grouped[grouping.used] = np.add.reduceat(values, grouping.starts)
        return margin, grouped

    def margin_one(self, row: np.ndarray) -> np.ndarray:
        """XGBoost's margin of one row (float32, bit for bit), without the contributions, for a
        probability asked without factors."""
        return self._pattern_one(row)[1]

    def _left(self, values: np.ndarray, maybe_missing: bool) -> np.ndarray:
        """Which way each split sends the row(s): left when x < threshold, missing values by
        the split's default direction (XGBoost's rule)."""
        shape = (-1,) + (1,) * (values.ndim - 1)
        left = values < self.node_threshold.reshape(shape)
        if maybe_missing:
            missing = np.isnan(values)
            if missing.any():
                left = np.where(missing, self.node_default_left.reshape(shape), left)
        return left

    def _pattern_one(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per leaf, the bits of the slots whose conditions one row satisfies, and its margin
        (the leaves with every bit set are the ones it reaches, one per tree)."""
        left = self._left(row.take(self.node_feature), bool(np.isnan(np.add.reduce(row))))
        # Bits of the slots whose condition the row breaks somewhere on the leaf's path.
        broken = np.where(left.take(self.path_node), self.bit_if_left, self.bit_if_right)
        failed = np.bitwise_or.reduce(broken.reshape(self.depth, -1), axis=0)
        reached = self.leaf_value.take(np.flatnonzero(failed == 0))
        margin = np.add.accumulate(np.concatenate(([self.base_margin], reached)))[-1:]
        return self.full_mask ^ failed, margin  # the failed bits are a subset of the leaf's slots

    def _explain_one(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pattern, margin = self._pattern_one(row)
        values = self.table.take(self.leaf_offset + pattern, axis=0).ravel().take(self.entry_order)
        return margin, np.add.reduceat(values, self.feature_starts)

    def _explain_columns(self, xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`_explain_one` for features x rows: every intermediate is (something) x rows."""
        n = xt.shape[1]
        left = self._left(xt.take(self.node_feature, axis=0), True)  # nodes x n
        broken = np.where(
            left.take(self.path_node, axis=0), self.bit_if_left[:, None], self.bit_if_right[:, None]
        )
        failed = np.bitwise_or.reduce(broken.reshape(self.depth, -1, n), axis=0)  # leaves x n
        pattern = self.full_mask[:, None] ^ failed
        # One reached leaf per tree: the per-tree sums are exact, then added tree after tree.
        reached = np.where(pattern == self.full_mask[:, None], self.leaf_value[:, None], np.float32(0))
        per_tree = np.add.reduceat(reached, self.tree_starts, axis=0)
        per_tree[0] += self.base_margin  # base + first tree: XGBoost's first addition
        margins = np.add.accumulate(per_tree, axis=0)[-1]
        index = self.leaf_offset[:, None] + pattern  # leaves x n
        k = self.table.shape[1]
        slots = np.empty((len(self.leaf_value), k, n), dtype=np.float32)
        for s in range(k):
            slots[:, s, :] = self.table_by_slot[s].take(index)
        values = slots.reshape(-1, n).take(self.entry_order, axis=0)  # entries x n
        return margins, np.add.reduceat(values, self.feature_starts, axis=0)


def _model(booster: xgb.Booster) -> dict | None:
    """The booster's JSON learner, or None when it holds something the tables do not model."""
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    if int(learner["learner_model_param"].get("num_target", "1")) != 1:
        return None
    if int(learner["learner_model_param"].get("num_class", "0")) > 1:
        return None
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        return None
    trees = gb["model"]["trees"]
    for tree in trees:
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1 or any(tree["split_type"]):
            return None
    return learner


@dataclass
class _Leaf:
    nodes: list[int]  # global internal-node indexes on the path, root first
    left: list[bool]
    slots: list[int]
    features: list[int]  # distinct features, by slot
    zero: list[float]  # product of cover fractions per slot
    value: float
    cover_share: float  # leaf cover / root cover: its weight in the tree's expected value


def _leaves(
    trees: list[dict],
) -> tuple[list[_Leaf], list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Every leaf with its path, tree after tree (XGBoost's order of addition), and every
    internal node's split."""
    tree_starts: list[int] = []
    node_feature: list[int] = []
    node_threshold: list[float] = []
    node_default: list[bool] = []
    leaves: list[_Leaf] = []
    for tree in trees:
        tree_starts.append(len(leaves))
        lc, rc = tree["left_children"], tree["right_children"]
        feat, cond = tree["split_indices"], tree["split_conditions"]
        hess, dflt = tree["sum_hessian"], tree["default_left"]
        global_id: dict[int, int] = {}
        for nid in range(len(lc)):
            if lc[nid] != -1:
                global_id[nid] = len(node_feature)
                node_feature.append(int(feat[nid]))
                node_threshold.append(float(cond[nid]))
                node_default.append(bool(dflt[nid]))
        root_cover = float(hess[0])
        stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
        while stack:
            nid, path = stack.pop()
            if lc[nid] == -1:
                slots: list[int] = []
                features: list[int] = []
                zero: list[float] = []
                for node, went_left, fraction in path:
                    f = node_feature[global_id[node]]
                    if f in features:
                        s = features.index(f)
                        zero[s] *= fraction
                    else:
                        s = len(features)
                        features.append(f)
                        zero.append(fraction)
                    slots.append(s)
                leaves.append(
                    _Leaf(
                        nodes=[global_id[n] for n, _, _ in path],
                        left=[w for _, w, _ in path],
                        slots=slots,
                        features=features,
                        zero=zero,
                        value=float(cond[nid]),
                        cover_share=float(hess[nid]) / root_cover if root_cover > 0 else 0.0,
                    )
                )
                continue
            cover = float(hess[nid])
            for child, went_left in ((lc[nid], True), (rc[nid], False)):
                fraction = float(hess[child]) / cover if cover > 0 else 0.0
                stack.append((child, path + [(nid, went_left, fraction)]))
    return (
        leaves,
        tree_starts,
        np.asarray(node_feature, dtype=np.intp),
        np.asarray(node_threshold, dtype=np.float32),
        np.asarray(node_default, dtype=bool),
    )


def _tables_for(zero: np.ndarray, values: np.ndarray, k: int, width: int) -> np.ndarray:
    """[m, 2^width, width] contributions for m leaves that all have k distinct path features.

    Brute force over subsets, vectorised over the leaves: at most 2^k x k x 2^(k-1) numpy
    operations per k, once per model.
    """
    m = len(values)
    out = np.zeros((m, 2**width, width), dtype=np.float64)
    weight = [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    for pattern in range(2**k):
        ones = [j for j in range(k) if pattern >> j & 1]
        for i in range(k):
            others = [j for j in ones if j != i]
            total = np.zeros(m)
            for size in range(len(others) + 1):
                for subset in combinations(others, size):
                    term = np.full(m, weight[size])
                    for j in range(k):
                        if j != i and j not in subset:
                            term = term * zero[:, j]
                    total += term
            o_i = 1.0 if pattern >> i & 1 else 0.0
            out[:, pattern, i] = values * (o_i - zero[:, i]) * total
    return out


def build(booster: xgb.Booster, budget_bytes: int | None = None) -> ShapTables | None:
    """Tables for `booster`, checked against XGBoost; None when they cannot be used (see the
    module docstring), in which case callers keep XGBoost's own `pred_contribs`."""
    budget = table_budget_bytes() if budget_bytes is None else budget_bytes
    if budget <= 0:
        return None
    model = _model(booster)
    if model is None:
        return None
    leaves, tree_starts, node_feature, node_threshold, node_default = _leaves(
        model["gradient_booster"]["model"]["trees"]
    )
    if not leaves or not len(node_feature):
        return None
    width = max(len(leaf.features) for leaf in leaves)
    depth = max(len(leaf.nodes) for leaf in leaves)
    if width > MAX_PATH_FEATURES or len(leaves) * (2**width) * width * 4 > budget:
        return None
    n_leaves = len(leaves)
    table = np.zeros((n_leaves, 2**width, width), dtype=np.float32)
    by_k: dict[int, list[int]] = {}
    for index, leaf in enumerate(leaves):
        by_k.setdefault(len(leaf.features), []).append(index)
    for k, members in by_k.items():
        if k == 0:
            continue  # a stump-less tree: a single leaf contributes only to the bias
        idx = np.asarray(members)
        zero = np.asarray([leaves[i].zero for i in members], dtype=np.float64)
        vals = np.asarray([leaves[i].value for i in members], dtype=np.float64)
        table[idx] = _tables_for(zero, vals, k, width).astype(np.float32)
    path_node = np.zeros((depth, n_leaves), dtype=np.intp)
    path_left = np.zeros((depth, n_leaves), dtype=bool)
    path_bit = np.zeros((depth, n_leaves), dtype=np.uint8)
    slot_feature = np.full((n_leaves, width), -1, dtype=np.intp)
    for index, leaf in enumerate(leaves):
        for d, (node, went_left, slot) in enumerate(zip(leaf.nodes, leaf.left, leaf.slots, strict=True)):
            path_node[d, index] = node
            path_left[d, index] = went_left
            path_bit[d, index] = 1 << slot
        slot_feature[index, : len(leaf.features)] = leaf.features
    full_mask = np.asarray([(1 << len(leaf.features)) - 1 for leaf in leaves], dtype=np.uint8)
    # Pad entries (slots a leaf does not have) hold 0 and are dropped from the sum.
    flat_feature = slot_feature.ravel()
    real = np.flatnonzero(flat_feature >= 0)
    order = real[np.argsort(flat_feature[real], kind="stable")]
    used, starts = np.unique(flat_feature[order], return_index=True)
    expected = float(sum(leaf.value * leaf.cover_share for leaf in leaves))
    n_features = int(booster.num_features())
    if used.size and used.max() >= n_features:
        return None
    tables = ShapTables(
        n_features=n_features,
        depth=depth,
        node_feature=node_feature,
        node_threshold=node_threshold,
        node_default_left=node_default,
        path_node=path_node.ravel(),
        bit_if_left=np.where(path_left, 0, path_bit).astype(np.uint8).ravel(),
        bit_if_right=np.where(path_left, path_bit, 0).astype(np.uint8).ravel(),
        full_mask=full_mask,
        leaf_offset=np.arange(n_leaves, dtype=np.intp) * 2**width,
        table=table.reshape(n_leaves * 2**width, width),
        table_by_slot=np.ascontiguousarray(table.reshape(n_leaves * 2**width, width).T),
        entry_order=order.astype(np.intp),
        feature_starts=starts.astype(np.intp),
        used_features=used.astype(np.intp),
        leaf_value=np.asarray([leaf.value for leaf in leaves], dtype=np.float32),
        tree_starts=np.asarray(tree_starts, dtype=np.intp),
        base_margin=np.float32(0.0),
        bias=0.0,
    )
    probe = _probe_rows(node_feature, node_threshold, n_features)
    xgb_margin = booster_calls.margin(booster, probe)
    reference = booster_calls.contributions(booster, probe, 1)
    # The base margin (base_score through the objective's link) is the one number outside the
    # trees; XGBoost computes it in float32, so take the float32 nearest the link's value that
    # reproduces XGBoost's margins bit for bit (an ulp either way, if its log rounds otherwise).
    start = _base_margin(model)
    if start is None:
        return None
    for candidate in _neighbours(start):
        trial = replace(tables, base_margin=candidate, bias=float(candidate) + expected)
        margins, contribs = trial.explain(probe)
        if np.array_equal(margins, xgb_margin) and np.allclose(
            contribs, reference, rtol=0, atol=TOLERANCE
        ):
            return trial
    return None


def _base_margin(model: dict) -> np.float32 | None:
    """base_score in margin units for the objectives the bundle uses; None for others."""
    raw = str(model["learner_model_param"]["base_score"]).strip("[]").split(",")
    if len(raw) != 1:
        return None
    base = np.float32(float(raw[0]))
    objective = model["objective"]["name"]
    if objective in ("binary:logistic", "reg:logistic"):
        if not 0 < base < 1:
            return None
        return np.float32(-np.log(np.float32(1) / base - np.float32(1)))
    if objective in ("reg:squarederror", "binary:logitraw"):
        return base
    return None


def _neighbours(value: np.float32) -> list[np.float32]:
    out = [np.float32(value)]
    up = down = np.float32(value)
    for _ in range(2):
        up = np.nextafter(up, np.float32(np.inf), dtype=np.float32)
        down = np.nextafter(down, np.float32(-np.inf), dtype=np.float32)
        out += [up, down]
    return out


def _probe_rows(feature: np.ndarray, threshold: np.ndarray, n_features: int) -> np.ndarray:
    """Rows that send the splits both ways: each feature at values drawn around its thresholds
    (just below, at, just above), a few of them missing, so that every leaf is reached and
    most patterns of every leaf are seen."""
    rng = np.random.default_rng(20_261_130)
    rows = np.zeros((256, n_features), dtype=np.float32)
    for f in range(n_features):
        cuts = threshold[feature == f].astype(np.float64)
        if cuts.size == 0:
            continue
        step = np.abs(cuts) * 1e-3 + 1e-3
        candidates = np.concatenate([cuts - step, cuts, cuts + step]).astype(np.float32)
        rows[:, f] = rng.choice(candidates, size=len(rows))
    rows[rng.random(rows.shape) < 0.02] = np.nan
    return rows
