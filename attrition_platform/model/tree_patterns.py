"""One row's margin and factor contributions from per-tree decision tables: a live request's path.

Why: the TreeSHAP tables (`tree_shap.ShapTables`) explain one row in about fifty numpy calls
over every (leaf, path slot) entry: ~50 µs for the recipe's model, half of a live request's
whole 100 µs budget. But the recipe's trees are shallow (depth 1 or 2: at most three splits
each), and everything a tree gives a row, the leaf it reaches and its TreeSHAP value for every
factor, depends on the row only through which way each of the tree's own splits sends it. A
tree with m splits has 2^m such decision patterns, so all of its answers fit in a table built
once per model from the ShapTables themselves. Scoring one row is then: decide every split
(one comparison per split), read each tree's pattern number off its splits' bits, and add up
the rows those numbers pick: about ten numpy calls for any number of trees.

The margin is the reached leaves added in float32, tree after tree from the base margin: the
same values in the same order as `ShapTables.margin_one`, so XGBoost's margin to the bit.
Contributions are summed per factor group (a field's one-hot columns together, see
`explanations`) in float64. `build` checks both against the ShapTables on rows that visit
both sides of every split; deeper models (more than `MAX_SPLITS_PER_TREE` splits in a tree)
or tables over the memory budget get None, and the caller keeps the ShapTables path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attrition_platform.model.tree_shap import TOLERANCE, EntryGrouping, ShapTables, _probe_rows

# 2^7 patterns per tree covers every tree of depth 3; depth 4 (up to 15 splits) would need
# 32,768 rows per tree, where the ShapTables' per-leaf path is the better trade.
MAX_SPLITS_PER_TREE = 7
# Largest table (float64 patterns x factor groups) built; the recipe's model needs ~0.1 MB.
BUDGET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TreePatterns:
    """Per tree, per decision pattern of its splits: the leaf value and the factor contributions.

    A tree's row in the tables is the sum, over its splits, of the weight of the way the row
    goes (`weight_left` or `weight_right`): 2^(the split's position in its tree) for left, 0
    for right, plus the tree's first table row on its first split. A tree without a split gets
    one dummy split with its first row on both sides, so every tree has a split to sum.
    """

    node_feature: np.ndarray  # intp [splits]: every split's feature, tree after tree
    node_threshold: np.ndarray  # float32 [splits]: goes left when x < threshold
    node_default_left: np.ndarray  # bool [splits]: where a missing value goes
    weight_left: np.ndarray  # intp [splits]
    weight_right: np.ndarray  # intp [splits]
    tree_split_starts: np.ndarray  # intp [trees]: each tree's first split (reduceat offsets)
    # float32 [patterns]: the leaf a pattern reaches; the first tree's values already hold
    # the base margin, added in float32 as XGBoost adds it (base + first tree).
    leaf_value: np.ndarray
    contributions: np.ndarray  # float64 [patterns, groups]: that pattern's TreeSHAP values

    def rows(self, row: np.ndarray, maybe_missing: bool = True) -> np.ndarray:
        """The table row of each tree for one float32 model row (missing values take each
        split's default direction, as in XGBoost; `maybe_missing=False` when the caller
        knows the row has none)."""
        values = row.take(self.node_feature)
        left = values < self.node_threshold
        if maybe_missing and np.isnan(np.add.reduce(values)):
            left = np.where(np.isnan(values), self.node_default_left, left)
        return np.add.reduceat(np.where(left, self.weight_left, self.weight_right), self.tree_split_starts)

    def margin(self, rows: np.ndarray) -> np.ndarray:
        """[1] float32: XGBoost's margin, the reached leaves added tree after tree."""
        return np.add.accumulate(self.leaf_value.take(rows))[-1:]

    def grouped(self, rows: np.ndarray) -> np.ndarray:
        """[groups] float64: the trees' TreeSHAP values summed per factor group."""
        return np.add.reduce(self.contributions.take(rows, axis=0), axis=0)


def build(tables: ShapTables, grouping: EntryGrouping, budget_bytes: int = BUDGET_BYTES) -> TreePatterns | None:
    """Per-tree tables from `tables` (checked against them); None when a tree has more than
    `MAX_SPLITS_PER_TREE` splits or the tables would exceed `budget_bytes`."""
    n_leaves = len(tables.leaf_value)
    n_trees = len(tables.tree_starts)
    depth = tables.depth
    leaf_tree = np.repeat(np.arange(n_trees), np.diff(np.append(tables.tree_starts, n_leaves)))
    real = (tables.bit_if_left | tables.bit_if_right).reshape(depth, n_leaves) != 0
    path_node = tables.path_node.reshape(depth, n_leaves)
    # Global split ids are numbered tree after tree (`tree_shap._leaves`), so a tree's splits
    # are one contiguous range; a splitless tree has none.
    split_tree = np.full(len(tables.node_feature), -1, dtype=np.intp)
    split_tree[path_node[real]] = np.broadcast_to(leaf_tree, (depth, n_leaves))[real]
    if (split_tree < 0).any() or (np.diff(split_tree) < 0).any():
        return None  # a split on no leaf's path, or trees interleaved: not the layout we know
    counts = np.bincount(split_tree, minlength=n_trees)
    if counts.max(initial=0) > MAX_SPLITS_PER_TREE:
        return None
    first_split = np.concatenate(([0], np.cumsum(counts)[:-1]))
    local = np.arange(len(split_tree)) - first_split[split_tree]
    sizes = 2**counts
    base = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    n_groups = grouping.n_groups
    if int(sizes.sum()) * max(n_groups, 1) * 8 > budget_bytes:
        return None

    # Per table entry (leaf, slot): its factor group and its tree.
    entry_group = np.empty(len(grouping.order), dtype=np.intp)
    for g, start, stop in zip(
        grouping.used.tolist(),
        grouping.starts.tolist(),
        np.append(grouping.starts[1:], len(grouping.order)).tolist(),
        strict=True,
    ):
        entry_group[start:stop] = g
    width = tables.table.shape[1]
    entry_tree = leaf_tree[grouping.order // width]

    leaf_value = np.zeros(int(sizes.sum()), dtype=np.float32)
    contributions = np.zeros((int(sizes.sum()), n_groups), dtype=np.float64)
    for p in range(2 ** int(counts.max(initial=0))):
        left = ((p >> local) & 1) == 1  # every tree's splits decided by the bits of p
        broken = np.where(left[tables.path_node], tables.bit_if_left, tables.bit_if_right)
        failed = np.bitwise_or.reduce(broken.reshape(depth, -1), axis=0)
        pattern = tables.full_mask ^ failed
        values = tables.table.take(tables.leaf_offset + pattern, axis=0).ravel().take(grouping.order)
        trees = np.flatnonzero(p < sizes)  # trees that have a pattern number p
        target = base + p
        per_tree = np.zeros((n_trees, n_groups), dtype=np.float64)
        np.add.at(per_tree, (entry_tree, entry_group), values.astype(np.float64))
        contributions[target[trees]] = per_tree[trees]
        reached = np.flatnonzero(failed == 0)  # one leaf per tree: where its splits lead
        tree_of = leaf_tree[reached]
        keep = p < sizes[tree_of]
        leaf_value[base[tree_of[keep]] + p] = tables.leaf_value[reached[keep]]
    leaf_value[: sizes[0]] = tables.base_margin + leaf_value[: sizes[0]]  # float32 + float32
    # Splits tree after tree, a dummy one (feature 0, both ways alike) for a splitless tree.
    feature, threshold, default_left, w_left, w_right, starts = [], [], [], [], [], []
    for t in range(n_trees):
        starts.append(len(feature))
        splits = range(int(first_split[t]), int(first_split[t] + counts[t]))
        if not len(splits):
            feature.append(0), threshold.append(0.0), default_left.append(True)
            w_left.append(int(base[t])), w_right.append(int(base[t]))
            continue
        for j in splits:
            first = int(base[t]) if j == splits[0] else 0
            feature.append(int(tables.node_feature[j]))
            threshold.append(float(tables.node_threshold[j]))
            default_left.append(bool(tables.node_default_left[j]))
            w_left.append(first + (1 << int(local[j])))
            w_right.append(first)
    patterns = TreePatterns(
        node_feature=np.asarray(feature, dtype=np.intp),
        node_threshold=np.asarray(threshold, dtype=np.float32),
        node_default_left=np.asarray(default_left, dtype=bool),
        weight_left=np.asarray(w_left, dtype=np.intp),
        weight_right=np.asarray(w_right, dtype=np.intp),
        tree_split_starts=np.asarray(starts, dtype=np.intp),
        leaf_value=leaf_value,
        contributions=contributions,
    )
    return patterns if _agrees(patterns, tables, grouping) else None


def _agrees(patterns: TreePatterns, tables: ShapTables, grouping: EntryGrouping) -> bool:
    """Margins bit for bit and contributions within `TOLERANCE` of the ShapTables' own."""
    probe = _probe_rows(tables.node_feature, tables.node_threshold, tables.n_features)
    for row in probe:
        rows = patterns.rows(row)
        margin, grouped = tables.grouped_one(row, grouping)
        if not np.array_equal(patterns.margin(rows), margin):
            return False
        if not np.allclose(patterns.grouped(rows), grouped, rtol=0, atol=TOLERANCE):
            return False
    return True
