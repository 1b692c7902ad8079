"""A warning repeated on every request (the store down) is logged at most
once every so often, by the clock passed in, with the count held back."""

from __future__ import annotations

import logging

from sessions.repeated_warnings import RepeatedWarning

NOW = 1_800_000_000.0


def test_one_warning_per_interval_and_the_next_counts_those_held_back(caplog):
    caplog.set_level(logging.WARNING, "test")
    warnings = RepeatedWarning(logging.getLogger("test"), every=10)
    for second in range(25):
        warnings.warning(NOW + second, "store down: %s", "ConnectionError")
    assert [r.getMessage() for r in caplog.records] == [
        "store down: ConnectionError",
        "store down: ConnectionError (and 9 more like it in the 10 s before, not logged)",
        "store down: ConnectionError (and 9 more like it in the 10 s before, not logged)",
    ]
    assert warnings.held_back == 4


def test_a_quiet_spell_logs_the_next_warning_without_a_count(caplog):
    caplog.set_level(logging.WARNING, "test")
    warnings = RepeatedWarning(logging.getLogger("test"), every=10)
    warnings.warning(NOW, "down")
    warnings.warning(NOW + 60, "down")
    warnings.warning(NOW + 30, "down")  # a clock set back: logged, never silent for long
    assert [r.getMessage() for r in caplog.records] == ["down", "down", "down"]
