"""Verification step: profile the source, judge it, keep the reference profile."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from customer_classifier.data.database import connect
from customer_classifier.data.profile import DataProfile, profile_database
from customer_classifier.data.validation import (
    VerificationResult,
    raise_on_blocking,
    verify,
    write_report,
)
from customer_classifier.settings import Settings


def _profile_state(settings: Settings) -> Path:
    return settings.work_dir / "state" / "last_profile.json"


def verify_data(
    settings: Settings,
    report_dir: Path,
    *,
    nightly: bool = False,
    now: dt.datetime | None = None,
) -> VerificationResult:
    """Profile the source, judge it, write the report; raise on blocking findings.

    ``nightly``: this verification guards nightly scoring (stale sales block). ``now``:
    the verification time (UTC, naive; default: now). The profile of a passing run
    becomes the reference for the next run's volume check.
    """
    engine = connect(settings.database_url)
    profile = profile_database(engine, now=now)
    state = _profile_state(settings)
    previous = (
        DataProfile.model_validate_json(state.read_text(encoding="utf-8"))
        if state.exists()
        else None
    )
    result = verify(profile, settings.verification, previous, as_of=settings.as_of, nightly=nightly)
    write_report(result, report_dir / "verification.html", report_dir / "verification.json")
    raise_on_blocking(result)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
    return result
