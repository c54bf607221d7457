"""The nightly fallback export, held in memory so a cached answer costs a dictionary lookup.

It follows `scores_path` and `scores_revision` in `CURRENT`: when the graph publishes a new
export, or rewrites one in place (an erasure), the next poll loads it (a failed load keeps the
previous one). The export is personal data like the logs, so it is
only ever read here, never copied to disk by the service.
"""

from __future__ import annotations

import logging

from attrition_platform.contracts.fallback_export import FallbackIndex
from attrition_platform.contracts.published import Pointer, Store
from serving import metrics

log = logging.getLogger("attrition.serving")


class CachedScores:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.index: FallbackIndex | None = None
        self.path: str | None = None
        self._loaded: tuple[str, str | None] | None = None  # (path, revision) in memory
        self._failed: tuple[str, str | None] | None = None

    @property
    def loaded(self) -> bool:
        return self.index is not None

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else 0

    def refresh(self, pointer: Pointer | None) -> bool:
        path = pointer.scores_path if pointer is not None else None
        if not path or pointer is None:
            return False
        key = (path, pointer.scores_revision)
        if key == self._loaded or key == self._failed:
            return False
        try:
            data = self.store.read_bytes(path)
            if data is None:
                raise FileNotFoundError("file not found")
            index = FallbackIndex.from_bytes(data)
        except Exception as exc:  # a broken export must not take the service down
            self._failed = key
            log.error("cached scores at %s not loaded (%s); keeping the previous ones", path, exc)
            return False
        self.index, self.path, self._loaded, self._failed = index, path, key, None
        metrics.FALLBACK_ROWS.set(len(index))
        log.info("cached scores loaded: %d employees from %s", len(index), path)
        return True
