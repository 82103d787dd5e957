"""Warnings that may repeat once per received line (a noisy serial link): at most a few per window,
then one line saying how many were left out, so that a flood of bad lines cannot flood the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

WARNINGS_PER_WINDOW = 5
WINDOW_S = 10.0


class LimitedWarnings:
    """`warning()` like a logger's, at most `per_window` records per `window_s`; the rest counted."""

    def __init__(self, logger: logging.Logger, per_window: int = WARNINGS_PER_WINDOW, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.per_window, self.window_s, self.clock = logger, per_window, window_s, clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._shown = 0
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        with self._lock:
            now = self.clock()
            if now - self._window_start >= self.window_s:
                self._flush_locked()
                self._window_start, self._shown = now, 0
            if self._shown >= self.per_window:
                self.suppressed += 1
                return
            self._shown += 1
        self.logger.warning(message, *args)

    def flush(self) -> None:
        """Say how many were left out (if any) now, e.g. when the link closes."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self.suppressed:
            self.logger.warning("%d more such warnings left out (at most %d per %g s)", self.suppressed,
                                self.per_window, self.window_s)
            self.suppressed = 0
