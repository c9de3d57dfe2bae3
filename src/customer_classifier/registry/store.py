"""The interface every model store backend keeps, and the helpers they share.

Layout (a folder, or the same under an S3 prefix, so KServe's ``storageUri`` can point
at a version)::

    versions/<version>/model.joblib, model.json, MANIFEST.json   (manifest written last)
    aliases/<alias>.json                                          (moved atomically)
    aliases/history...                                            (every alias move)
    state/<name>                                                  (replaced atomically)

A version folder without its manifest is invisible: a crash mid-write leaves nothing
that a reader could load. The backends (:mod:`customer_classifier.registry.folder`,
:mod:`customer_classifier.registry.s3`) import this module and nothing above it;
:func:`customer_classifier.registry.factory.open_store` picks one from the URI.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from customer_classifier.errors import AliasConflictError, RegistryError
from customer_classifier.registry.bundle import ModelBundle, sha256_file

UNSET: Any = object()
"""Default of ``expected`` in :meth:`ModelStore.set_alias`: move without a condition."""
CHAMPION, CHALLENGER = "champion", "challenger"
ENVIRONMENT_ALIASES = ("dev", "test", "prod")
"""Aliases a deployment per environment follows, next to champion and challenger."""
STATE_FOLDER = "state"
"""Where state documents live, beside ``versions`` and ``aliases``."""
_ALIAS_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ModelVersion:
    version: str
    created_at: str
    files: dict[str, str]
    metadata: dict[str, Any]


class ModelStore(Protocol):
    """What every backend offers; the jobs, the CLI and the gate use nothing else."""

    uri: str

    def register(self, bundle: ModelBundle) -> ModelVersion:
        """Store the bundle as a new immutable version (manifest last) and return it."""
        ...

    def get(self, version: str) -> ModelVersion: ...
    def load(self, version: str) -> ModelBundle:
        """The bundle, after checking every file against the manifest's sha256."""
        ...

    def export(self, version: str, folder: Path) -> Path:
        """Copy a version's files into ``folder`` (checked) and return it."""
        ...

    def version_uri(self, version: str) -> str:
        """Where the version's files live (a KServe ``storageUri`` for S3)."""
        ...

    def list_versions(self) -> list[ModelVersion]: ...
    def get_alias(self, alias: str) -> str | None: ...
    def aliases(self) -> dict[str, str]:
        """Every alias and the version it points at."""
        ...

    def set_alias(
        self,
        alias: str,
        version: str,
        *,
        expected: str | None = UNSET,
        reason: str = "",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Move ``alias`` to ``version``; with ``expected``, only if it still points there
        (else :class:`AliasConflictError`). ``actor`` is recorded as who moved it
        (default: :func:`default_actor`). Returns the history entry of the move."""
        ...

    def history(self, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias move (of one alias), oldest first."""
        ...

    def delete_version(self, version: str) -> None:
        """Remove a version: the manifest first, so it is invisible before it is gone."""
        ...

    def incomplete_versions(self, older_than: dt.timedelta) -> list[str]:
        """Leftovers of crashed registrations (files without a manifest), older than this."""
        ...

    def discard_incomplete(self, version: str) -> None: ...

    def read_state(self, name: str) -> bytes | None:
        """The state document ``name`` (see :func:`check_state_name`), or None if unwritten.

        State that must outlive a run (a reference profile) lives here, because a task
        in a cluster starts with an empty working folder.
        """
        ...

    def write_state(self, name: str, data: bytes) -> None:
        """Replace the state document ``name`` at once: a reader sees the old or the new."""
        ...


TRAFFIC_SPLIT_STATE = "traffic_split.json"
"""The canary's share in predictor mode: written by the rollout controller, read by every
predictor replica on its reload check (``{"challenger": VERSION, "canary_percent": P}``)."""


def valid_alias_name(alias: str) -> bool:
    return bool(_ALIAS_NAME.match(alias)) and alias != "history"


def check_alias_name(alias: str) -> str:
    if not valid_alias_name(alias):
        raise RegistryError(
            f"alias {alias!r} is not valid: use 1 to 63 lower-case letters, digits and '-', "
            f"starting with a letter (for example {CHAMPION}, {CHALLENGER}, prod)"
        )
    return alias


def valid_version_id(version: str) -> bool:
    """True for a name that can be a version: no path separators or dot-dot tricks."""
    return bool(_PLAIN_NAME.match(version)) and ".." not in version


def check_state_name(name: str) -> str:
    """A state document's name is one plain file name: no folders, no dot-dot tricks."""
    if not _PLAIN_NAME.match(name) or ".." in name:
        raise RegistryError(
            f"state name {name!r} is not valid: use 1 to 128 letters, digits, '.', '_' and "
            "'-', starting with a letter or digit, without '..' (for example last_profile.json)"
        )
    return name


def default_actor(actor: str | None = None) -> str:
    """Who moves an alias: ``actor`` when given (a pipeline run, a CI job), else the OS user.

    A container may run under a user id without a passwd entry (OpenShift assigns one);
    that is recorded as ``unknown`` rather than failing the promotion.
    """
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def move_entry(
    alias: str, current: str | None, version: str, reason: str, actor: str | None
) -> dict[str, Any]:
    """The history record of one alias move (who/what, when, from, to, why)."""
    return {
        "alias": alias,
        "from": current,
        "to": version,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "by": default_actor(actor),
        "reason": reason,
    }


def conflict(alias: str, current: str | None, expected: str | None) -> AliasConflictError:
    return AliasConflictError(
        f"alias {alias!r} moved to {current!r} while this run expected "
        f"{expected!r}; re-read the alias and retry the promotion"
    )


def new_version_id(now: dt.datetime | None = None) -> str:
    """Sortable by time to the microsecond, unique without coordination.

    ``v<UTC seconds>-<microseconds as 5 hex digits><1 random hex digit>``; two writers
    would have to start in the same microsecond and draw the same digit to collide, and
    the store refuses to overwrite a version even then.
    """
    now = now or dt.datetime.now(dt.UTC)
    return f"v{now:%Y%m%d%H%M%S}-{now.microsecond:05x}{uuid.uuid4().hex[0]}"


def new_manifest(version: str, folder: Path) -> dict[str, Any]:
    """The manifest of a saved bundle: the sha256 of every file, to be written last."""
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    return {"version": version, "created_at": dt.datetime.now(dt.UTC).isoformat(), "files": files}


def in_registration_order(versions: Iterable[ModelVersion]) -> list[ModelVersion]:
    return sorted(versions, key=lambda v: (v.created_at, v.version))


def state_key(name: str) -> str:
    """Where the state document ``name`` lives, relative to the store's root."""
    return f"{STATE_FOLDER}/{check_state_name(name)}"


def json_bytes(payload: dict[str, Any]) -> bytes:
    """The one JSON encoding of manifests, alias documents and history entries."""
    return json.dumps(payload, indent=2, default=str).encode("utf-8")
