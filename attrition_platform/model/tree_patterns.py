"""One row's margin and factor contributions from decision-pattern tables: a live request's path.

Why: the TreeSHAP tables (`tree_shap.ShapTables`) explain one row with numpy passes over every
(leaf, path slot) entry: ~50 µs for the recipe's model and ~170 µs for 300 trees of depth 4,
most of a live request's whole 100 µs budget. But what a leaf gives a row, whether it is the
leaf reached and its TreeSHAP value for every factor, depends on the row only through which
way each split on that leaf's path sends it. So a group of leaves whose paths use m splits in
all has only 2^m answers, and a table built once per model holds them.

The groups ("units"): a whole tree when it has at most `MAX_SPLITS_PER_UNIT` splits (the
recipe's shallow trees); else each child subtree with the splits above it, recursively (a
depth-4 tree of 15 splits becomes two units of 8: the root plus one half). Scoring one row is
then: decide every split of every unit (one comparison each), read each unit's pattern number
off its splits' bits, and add up the rows those numbers pick: about ten numpy calls for any
number of trees, over a few thousand entries instead of tens of thousands.

The margin is the reached leaves added in float32, unit after unit, tree after tree, from the
base margin; a unit the row does not reach adds an exact 0. So it is the same sum in the same
order as `ShapTables.margin_one`: XGBoost's margin to the bit. Contributions are summed per
factor group (a field's one-hot columns together, see `explanations`) in float64. `build`
checks both against the ShapTables on rows that visit both sides of every split; a path
longer than a unit's limit, or tables over the memory budget, give None, and the caller keeps
the ShapTables path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attrition_platform.model.tree_shap import TOLERANCE, EntryGrouping, ShapTables, _probe_rows, arrays_nbytes

# 2^8 patterns per unit: a depth-3 tree (7 splits) is one unit, a depth-4 tree two units of
# the root and one half. Measured on 300 trees of depth 4 (one row with factors): 8 splits per
# unit gives the fewest entries per row for tables of tens of MB.
MAX_SPLITS_PER_UNIT = 8
SLOTS = 8  # split slots per unit: one byte of decision bits (`np.packbits`)
# Largest contribution table built (float64, patterns x SLOTS): the recipe's model needs
# ~0.02 MB, 300 trees of depth 4 (599 units of 256 patterns) ~10 MB.
BUDGET_BYTES = 96 * 1024 * 1024


@dataclass(frozen=True)
class TreePatterns:
    """Per unit, per decision pattern of its splits: the leaf value and the factor contributions.

    Every unit has `SLOTS` split slots (its splits, then dummies that always go right), so one
    `np.packbits` turns a row's decisions into every unit's pattern number (bit i = split i
    went left); unit u's patterns are rows u * 2^width onwards of the tables. A unit's splits
    hold at most `SLOTS` distinct features, so its contributions are at most `SLOTS` values,
    each for the factor group in `slot_group`. A split above several units appears in each.
    """

    width: int  # the most splits in a unit: 2^width table rows per unit
    node_feature: np.ndarray  # intp [units * SLOTS]: every unit's splits' features, unit after unit
    node_threshold: np.ndarray  # float32 [units * SLOTS]: goes left when x < threshold
    node_default_left: np.ndarray  # bool [units * SLOTS]: where a missing value goes
    unit_base: np.ndarray  # intp [units]: the unit's first table row
    # float32 [units * 2^width]: the leaf a pattern reaches, or 0 when it leaves the unit; the
    # first unit's values already hold the base margin, added in float32 as XGBoost adds it.
    leaf_value: np.ndarray
    slot_group: np.ndarray  # intp [units * SLOTS]: the factor group of each contribution slot
    contributions: np.ndarray  # float64 [units * 2^width, SLOTS]: that pattern's TreeSHAP values
    n_groups: int

    @property
    def nbytes(self) -> int:
        return arrays_nbytes(self)

    def rows(self, row: np.ndarray, maybe_missing: bool = True) -> np.ndarray:
        """The table row of each unit for one float32 model row (missing values take each
        split's default direction, as in XGBoost; `maybe_missing=False` when the caller
        knows the row has none)."""
        values = row.take(self.node_feature)
        left = values < self.node_threshold  # NaN compares False: right unless defaulted left
        if maybe_missing and np.isnan(np.add.reduce(row)):
            left = np.where(np.isnan(values), self.node_default_left, left)
        # SLOTS = 8 decisions per unit, one byte each: flat packing (8x faster than per axis).
        return self.unit_base + np.packbits(left, bitorder="little")

    def margin(self, rows: np.ndarray) -> np.ndarray:
        """[1] float32: XGBoost's margin, the reached leaves added tree after tree."""
        return np.add.accumulate(self.leaf_value.take(rows))[-1:]

    def grouped(self, rows: np.ndarray) -> np.ndarray:
        """[groups] float64: the trees' TreeSHAP values summed per factor group."""
        picked = self.contributions.take(rows, axis=0).reshape(-1)
        return np.bincount(self.slot_group, weights=picked, minlength=self.n_groups)


@dataclass(frozen=True)
class _Units:
    """How the leaves fall into units; every array over leaves is in the ShapTables' order."""

    leaf_unit: np.ndarray  # intp [leaves]
    path_local: np.ndarray  # intp [depth, leaves]: the path split's bit in the leaf's unit (0 for padding)
    splits: list[list[int]]  # per unit, its global split ids, bit 0 first


def _units(tables: ShapTables, limit: int) -> _Units | None:
    """Split every tree into units of at most `limit` splits (None if a path alone is longer)."""
    n_leaves = len(tables.leaf_value)
    depth = tables.depth
    real = (tables.bit_if_left | tables.bit_if_right).reshape(depth, n_leaves) != 0
    path_node = tables.path_node.reshape(depth, n_leaves)
    paths = [path_node[real[:, leaf], leaf].tolist() for leaf in range(n_leaves)]
    if any(len(p) > limit for p in paths):
        return None
    ends = np.append(tables.tree_starts, n_leaves).tolist()
    leaf_unit = np.zeros(n_leaves, dtype=np.intp)
    path_local = np.zeros((depth, n_leaves), dtype=np.intp)
    splits: list[list[int]] = []

    def place(leaves: list[int], level: int) -> None:
        # The leaves of one subtree whose root is at `level`: they share their paths' first
        # `level` splits. One unit when the union of their splits fits, else one per child.
        used = sorted({n for leaf in leaves for n in paths[leaf]})
        if len(used) <= limit:  # always so for one leaf: no path is longer than `limit`
            bit = {n: i for i, n in enumerate(used)}
            for leaf in leaves:
                leaf_unit[leaf] = len(splits)
                for d, n in enumerate(paths[leaf]):
                    path_local[d, leaf] = bit[n]
            splits.append(used)
            return
        children: dict[object, list[int]] = {}
        for leaf in leaves:  # a leaf child of this subtree's root ends its path at `level`
            key = paths[leaf][level + 1] if len(paths[leaf]) > level + 1 else ("leaf", leaf)
            children.setdefault(key, []).append(leaf)
        for child in children.values():
            place(child, level + 1)

    for t in range(len(ends) - 1):
        place(list(range(ends[t], ends[t + 1])), 0)
    return _Units(leaf_unit, path_local, splits)


def build(
    tables: ShapTables,
    grouping: EntryGrouping,
    budget_bytes: int = BUDGET_BYTES,
    max_splits: int = MAX_SPLITS_PER_UNIT,
) -> TreePatterns | None:
    """Per-unit tables from `tables` (checked against them); None when a leaf's path has more
    than `max_splits` splits or the tables would exceed `budget_bytes`."""
    units = _units(tables, min(max_splits, SLOTS))
    if units is None:
        return None
    n_units = len(units.splits)
    width = max((len(used) for used in units.splits), default=0)
    n_rows = n_units << width
    n_groups = grouping.n_groups
    if n_rows * SLOTS * 8 > budget_bytes:
        return None

    # Per table entry (leaf, slot): its factor group and its unit.
    entry_group = np.empty(len(grouping.order), dtype=np.intp)
    for g, start, stop in zip(
        grouping.used.tolist(),
        grouping.starts.tolist(),
        np.append(grouping.starts[1:], len(grouping.order)).tolist(),
        strict=True,
    ):
        entry_group[start:stop] = g
    entry_unit = units.leaf_unit[grouping.order // tables.table.shape[1]]
    # Each unit's factor groups in its slots (its splits hold at most SLOTS features, so at
    # most SLOTS groups); unused slots name group 0 and hold 0.
    pairs = np.unique(entry_unit * max(n_groups, 1) + entry_group)
    pair_unit, pair_group = np.divmod(pairs, max(n_groups, 1))
    pair_slot = np.arange(len(pairs)) - np.searchsorted(pair_unit, pair_unit)
    slot_group = np.zeros((n_units, SLOTS), dtype=np.intp)
    real_slot = np.zeros((n_units, SLOTS), dtype=bool)
    slot_group[pair_unit, pair_slot] = pair_group
    real_slot[pair_unit, pair_slot] = True
    depth = tables.depth
    bit_if_left = tables.bit_if_left.reshape(depth, -1)
    bit_if_right = tables.bit_if_right.reshape(depth, -1)
    unit_base = np.arange(n_units, dtype=np.intp) << width

    leaf_value = np.zeros(n_rows, dtype=np.float32)
    contributions = np.zeros((n_rows, SLOTS), dtype=np.float64)
    for p in range(1 << width):
        # Every unit's splits decided by the bits of p; padding slots break nothing either way.
        left = ((p >> units.path_local) & 1) == 1
        failed = np.bitwise_or.reduce(np.where(left, bit_if_left, bit_if_right), axis=0)
        pattern = tables.full_mask ^ failed
        values = tables.table.take(tables.leaf_offset + pattern, axis=0).ravel().take(grouping.order)
        per_unit = np.zeros((n_units, n_groups), dtype=np.float64)
        np.add.at(per_unit, (entry_unit, entry_group), values.astype(np.float64))
        contributions[unit_base + p] = np.where(real_slot, np.take_along_axis(per_unit, slot_group, axis=1), 0.0)
        reached = np.flatnonzero(failed == 0)  # at most one leaf per unit: where its splits lead
        leaf_value[unit_base[units.leaf_unit[reached]] + p] = tables.leaf_value[reached]
    first = slice(0, 1 << width)
    leaf_value[first] = tables.base_margin + leaf_value[first]  # float32 + float32
    # SLOTS split slots per unit: its splits, then dummies no value goes left of.
    feature = np.zeros((n_units, SLOTS), dtype=np.intp)
    threshold = np.full((n_units, SLOTS), -np.inf, dtype=np.float32)
    default_left = np.zeros((n_units, SLOTS), dtype=bool)
    for u, used in enumerate(units.splits):
        feature[u, : len(used)] = tables.node_feature[used]
        threshold[u, : len(used)] = tables.node_threshold[used]
        default_left[u, : len(used)] = tables.node_default_left[used]
    patterns = TreePatterns(
        width=width,
        node_feature=feature.reshape(-1),
        node_threshold=threshold.reshape(-1),
        node_default_left=default_left.reshape(-1),
        unit_base=unit_base,
        leaf_value=leaf_value,
        slot_group=slot_group.reshape(-1),
        contributions=contributions,
        n_groups=n_groups,
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
