"""What every entry point does with a user's mistake: one line on stderr, exit status 2.

The CLI, the model server, the distributed trainer and ``make run`` share it, so a bad
setting or an unreachable database reads the same everywhere and never as a traceback.
Anything that is not a user's mistake is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from pydantic import ValidationError

from customer_classifier.errors import CustomerClassifierError

USER_ERROR = 2
"""Exit status of a run stopped by a user's mistake (as ``argparse`` and typer use it)."""


class CurrentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes to whatever ``sys.stderr`` (or ``sys.stdout``) is when
    a record is emitted, not to the stream of the moment it was installed.

    Entry points also run in-process (tests, notebooks, ``make run``), where the standard
    streams are swapped for captures and closed again; a handler holding the stream of
    the first run would then fail on every later record with "I/O operation on closed
    file" and print a traceback into the next run's error output."""

    def __init__(self, name: str = "stderr") -> None:
        super().__init__()
        self._name = name

    @property
    def stream(self) -> TextIO:
        return getattr(sys, self._name)  # type: ignore[no-any-return]

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The base class sets the stream it was given; the current one is read instead."""


def settings_problems(exc: ValidationError) -> str:
    """A pydantic error as the environment variables a user would set to fix it."""
    parts = []
    for error in exc.errors():
        location = [str(p) for p in error["loc"]]
        name = "CC_" + "__".join(location).upper() if location else "settings"
        parts.append(f"{name}: {error['msg']}")
    return "invalid settings (CC_* environment variables): " + "; ".join(parts)


def user_message(exc: BaseException) -> str | None:
    """The one line to show for a user's mistake; None for anything else (a bug)."""
    if isinstance(exc, CustomerClassifierError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return settings_problems(exc)
    return None


@contextmanager
def exit_on_user_error(
    stream: TextIO | None = None, show: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Run the body; a user's mistake prints ``error: MESSAGE`` and exits with status 2."""
    try:
        yield
    except (CustomerClassifierError, ValidationError) as exc:
        message = user_message(exc) or str(exc)
        if show is not None:
            show(message)
        else:
            print(f"error: {message}", file=stream or sys.stderr, flush=True)
        raise SystemExit(USER_ERROR) from None
