"""The live model: loaded from the published location, hot-swapped when `CURRENT` moves.

A new bundle is loaded, verified (every file's SHA-256 against the manifest, then the bundle's
own format checks), checked against the API's input fields and warmed with a real score before
one reference assignment makes it current. Requests read that reference once, so a request in
flight finishes on the model it started with and none fails during a swap. A bundle that fails
any step is refused: the old model keeps serving, and a log line and a metric say why.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attrition_platform.contract_columns import COLUMNS
from attrition_platform.contracts.published import Pointer, PublicationError, Store, fetch_bundle, read_pointer
from attrition_platform.model.bundle import BundleError, ModelBundle
from serving import metrics
from serving.schemas import MODEL_INPUTS

log = logging.getLogger("attrition.serving")


@dataclass(frozen=True)
class LiveModel:
    bundle: ModelBundle
    pointer: Pointer
    loaded_at: str

    @property
    def version(self) -> str:
        return self.pointer.model_version


def _pointer_key(p: Pointer) -> tuple[str, str]:
    return (p.model_version, p.bundle_path)


def warm_record(bundle: ModelBundle) -> dict[str, Any]:
    """A record inside every domain the bundle knows (mid-range numbers, a trained category):
    scoring it exercises validation, encoding, prediction and explanation once before a swap."""
    rec: dict[str, Any] = {}
    for name in bundle.spec.numeric:
        col = COLUMNS.get(name)
        low = col.low if col is not None and col.low is not None else 0
        high = col.high if col is not None and col.high is not None else low + 10
        rec[name] = int((low + high) // 2)
    for name in bundle.spec.categorical:
        rec[name] = bundle.spec.vocabularies[name][0]
    return rec


# A download directory this old belongs to no load in progress (loads take seconds).
STALE_DOWNLOAD_SECONDS = 600.0


class ModelSource:
    def __init__(self, store: Store, cache_dir: Path, top_factors: int) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.top_factors = top_factors
        self.current: LiveModel | None = None
        self.last_pointer: Pointer | None = None
        self.last_refusal: str | None = None
        self._refused: tuple[str, str] | None = None
        self._lock = threading.Lock()  # one load at a time; readers never take it

    def sweep_stale_downloads(self, older_than_seconds: float = STALE_DOWNLOAD_SECONDS) -> int:
        """Remove download directories a killed process left behind (kill -9 mid-load skips the
        clean-up). Only old ones: a sibling process sharing the cache may be loading right now,
        and a load takes seconds. Returns how many were removed."""
        if not self.cache_dir.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.cache_dir.iterdir():
            try:
                if entry.is_dir() and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            except OSError:
                continue  # gone already (a sibling swept it)
        if removed:
            log.info("removed %d stale model download(s) from %s", removed, self.cache_dir)
        return removed

    def refresh(self) -> bool:
        """Look at CURRENT; load and swap if it names another bundle. True when swapped."""
        with self._lock:
            try:
                pointer = read_pointer(self.store)
            except PublicationError as exc:
                self._refuse(None, f"the pointer is unreadable: {exc}")
                return False
            self.last_pointer = pointer
            if pointer is None:
                return False
            key = _pointer_key(pointer)
            if self.current is not None and _pointer_key(self.current.pointer) == key:
                if self.current.pointer != pointer:  # same model, new scores or reason
                    self.current = LiveModel(self.current.bundle, pointer, self.current.loaded_at)
                return False
            if self._refused == key:
                return False  # already refused: do not reload (and re-log) it every poll
            return self._load(pointer)

    def _load(self, pointer: Pointer) -> bool:
        # A private download directory per load (two processes may share the cache), removed
        # once loaded: the bundle lives in memory from then on, and nothing piles up on disk.
        dest = self.cache_dir / f"{_safe(pointer.model_version)}-{uuid.uuid4().hex[:8]}"
        try:
            return self._load_from(pointer, dest)
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def _load_from(self, pointer: Pointer, dest: Path) -> bool:
        try:
            bundle = fetch_bundle(self.store, pointer, dest)
            missing = [f for f in bundle.spec.inputs if f not in MODEL_INPUTS]
            if missing:
                raise BundleError(f"the bundle needs input(s) the API does not accept: {', '.join(missing)}")
            result = bundle.score([warm_record(bundle)], explain=self.top_factors)
            p = float(result.probabilities[0])
            if not result.ok or not (0.0 <= p <= 1.0) or math.isnan(p):
                raise BundleError("the bundle could not score a valid warm-up record")
        except (PublicationError, BundleError, ValueError, OSError) as exc:
            self._refuse(pointer, str(exc))
            return False
        except Exception as exc:  # xgboost errors on a corrupt booster, etc.: refuse, keep serving
            self._refuse(pointer, f"{type(exc).__name__} while loading")
            return False
        self.current = LiveModel(bundle, pointer, _now())
        self._refused = None
        self.last_refusal = None
        metrics.RELOADS.labels("loaded").inc()
        metrics.MODEL_LOADED.set(1)
        metrics.MODEL_INFO.info({"version": pointer.model_version, "published_at": pointer.published_at})
        log.info(
            "model %s loaded and serving (published %s by %s)",
            pointer.model_version, pointer.published_at, pointer.promoted_by,
        )
        return True

    def _refuse(self, pointer: Pointer | None, why: str) -> None:
        self._refused = _pointer_key(pointer) if pointer is not None else None
        self.last_refusal = why
        metrics.RELOADS.labels("refused").inc()
        serving = self.current.version if self.current else "none"
        name = pointer.model_version if pointer is not None else "?"
        log.error("refused model %s: %s; still serving %s", name, why, serving)


def _safe(version: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version)[:64] or "model"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
