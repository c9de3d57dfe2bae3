"""Verification step: profile the source, judge it, keep the reference profile."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError

from customer_classifier.data.database import connect
from customer_classifier.data.profile import DataProfile, profile_database
from customer_classifier.data.validation import (
    VerificationResult,
    raise_on_blocking,
    verify,
    write_report,
)
from customer_classifier.errors import RegistryError
from customer_classifier.registry import ModelStore, open_store
from customer_classifier.settings import Settings

PROFILE_STATE = "last_profile.json"
"""The reference profile's name among the model store's state documents: in the store,
because a task in a cluster starts with an empty working folder."""


def read_reference_profile(store: ModelStore) -> DataProfile | None:
    """The last passing verification's profile of the source (the next night's volume
    reference, and the nightly health checks' input figures); None before the first."""
    stored = store.read_state(PROFILE_STATE)
    if stored is None:
        return None
    try:
        return DataProfile.model_validate_json(stored)
    except ValidationError as exc:
        raise RegistryError(
            f"the reference profile state/{PROFILE_STATE} in {store.uri} is damaged "
            f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}); delete it, "
            "and the next passing run writes a new one (its volume check has no reference)"
        ) from exc


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
    becomes the reference for the next run's volume check. It is kept in the model
    store, so a run in a fresh working folder still finds it.
    """
    engine = connect(settings.database_url)
    profile = profile_database(engine, now=now)
    store = open_store(settings.store_uri, settings.s3)
    previous = read_reference_profile(store)
    result = verify(profile, settings.verification, previous, as_of=settings.as_of, nightly=nightly)
    write_report(result, report_dir / "verification.html", report_dir / "verification.json")
    raise_on_blocking(result)
    store.write_state(PROFILE_STATE, profile.model_dump_json(indent=2).encode("utf-8"))
    return result
