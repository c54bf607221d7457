"""When live scoring counts as down, and when answers switch to the nightly cached scores.

The plan's rule: if live predictions are unavailable for longer than a window (5 minutes by
default), serve the cached scores. "Unavailable" is no model at all, or a streak of scoring
failures on valid input. With no model ever loaded there is nothing to wait for, so the switch
is immediate. Inside the window callers get 503 with Retry-After: a short blip is better
surfaced than papered over with yesterday's number. Recovery needs no operator: a successful
load or a successful live score ends the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from serving import metrics

log = logging.getLogger("attrition.serving")


class Availability:
    def __init__(
        self, window_seconds: float, error_streak: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window_seconds
        self.streak = error_streak
        self._clock = clock
        self._lock = threading.Lock()
        self._errors = 0
        self._down_since: float | None = clock()  # down until a model loads
        self._ever_loaded = False
        self._cached = False
        self._reason = "no model has been loaded yet"

    # -- events ------------------------------------------------------------------------------
    def model_loaded(self) -> None:
        with self._lock:
            self._ever_loaded = True
            self._recover("a model was loaded")

    def scoring_ok(self) -> None:
        if self._down_since is None and self._errors == 0:
            return  # the hot path: nothing to change, no lock
        with self._lock:
            self._recover("live scoring succeeded again")

    def scoring_failed(self) -> None:
        with self._lock:
            self._errors += 1
            if self._errors >= self.streak and self._down_since is None:
                self._down_since = self._clock()
                self._reason = f"{self._errors} consecutive live scoring failures"
                log.error("live scoring marked unavailable: %s", self._reason)

    # -- questions ---------------------------------------------------------------------------
    @property
    def live_down(self) -> bool:
        return self._down_since is not None

    @property
    def reason(self) -> str | None:
        return self._reason if self._down_since is not None else None

    def use_cache(self) -> bool:
        """True when answers must come from the nightly export (and say so, once, in the log)."""
        down = self._down_since
        if down is None:
            return False
        cached = (not self._ever_loaded) or (self._clock() - down >= self.window)
        if cached and not self._cached:
            with self._lock:
                if not self._cached:
                    self._cached = True
                    metrics.FALLBACK_ACTIVE.set(1)
                    log.warning("fallback mode on: answering from nightly cached scores (%s)", self._reason)
        return cached

    def retry_after(self) -> int:
        """Seconds until the cached scores take over (for a 503's Retry-After)."""
        down = self._down_since
        if down is None:
            return 1
        return max(1, int(self.window - (self._clock() - down)) + 1)

    def _recover(self, why: str) -> None:
        self._errors = 0
        if self._down_since is not None:
            self._down_since = None
            self._reason = ""
            if self._cached:
                log.warning("fallback mode off: %s", why)
        self._cached = False
        metrics.FALLBACK_ACTIVE.set(0)
