"""Log records of in-process entry points reach the stderr of the moment."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from customer_classifier.entrypoint import CurrentStreamHandler


def test_a_handler_follows_stderr_after_the_first_capture_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logger = logging.getLogger("customer_classifier.tests.current_stream")
    logger.propagate = False
    handler = CurrentStreamHandler()
    logger.addHandler(handler)
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        logger.warning("first run")
        assert first.getvalue() == "first run\n"
        first.close()

        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logger.warning("second run")
        assert second.getvalue() == "second run\n"
        assert "Logging error" not in second.getvalue()
    finally:
        logger.removeHandler(handler)


def test_stdout_is_followed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert CurrentStreamHandler("stdout").stream is out
