"""A warning that would repeat on every request while a store is down,
logged at most once every ``every`` seconds with the count of those held
back: thousands of identical lines a second hide the rest of the log."""

from __future__ import annotations

import logging


class RepeatedWarning:
    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self.logger = logger
        self.every = every
        self.held_back = 0
        self._logged_at: float | None = None

    def warning(self, now: float, message: str, *args: object) -> None:
        """Logs ``message % args``, unless one was logged less than ``every``
        seconds before ``now``; the next one logged says how many were not."""
        last = self._logged_at
        if last is not None and 0 <= now - last < self.every:  # a clock set back starts afresh
            self.held_back += 1
            return
        if self.held_back and last is not None:
            message += " (and %d more like it in the %.0f s before, not logged)"
            args = (*args, self.held_back, now - last)
        self.logger.warning(message, *args, stacklevel=3)  # the line that asked, in the log record
        self._logged_at, self.held_back = now, 0
