"""Where an environment's runs go, and which pipeline version a compiled package is."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry.store import ENVIRONMENT_ALIASES
from customer_classifier.settings import KfpSettings

ENVIRONMENTS = ENVIRONMENT_ALIASES
"""The deployment environments; each has its own namespace, experiment and registry alias."""
_SHORT_DIGEST = 10


@dataclass(frozen=True)
class Target:
    """One environment on the KFP server: the profile namespace and the experiment."""

    environment: str
    namespace: str
    experiment: str


def resolve_target(environment: str, kfp: KfpSettings) -> Target:
    """The namespace and experiment of ``environment``; ``CC_KFP__NAMESPACE`` and
    ``CC_KFP__EXPERIMENT`` replace the conventional ``ml-<env>`` and
    ``customer-classifier-<env>`` (a cluster laid out otherwise)."""
    if environment not in ENVIRONMENTS:
        shown = repr(environment) if environment else "unset"
        raise ConfigurationError(
            f"ENV is {shown}; it must be one of {', '.join(ENVIRONMENTS)} "
            f"(for example: make submit ENV={ENVIRONMENTS[0]})"
        )
    return Target(
        environment=environment,
        namespace=kfp.namespace or f"ml-{environment}",
        experiment=kfp.experiment or f"customer-classifier-{environment}",
    )


def version_name(code_version: str, package: bytes) -> str:
    """``<code version>-<digest of the compiled package>``.

    The code version says which commit a version came from; the digest tells apart two
    packages of one commit compiled with other images or GPU settings, or from a checkout
    with uncommitted changes. Submitting the same package again finds the same name, so
    the version is reused rather than uploaded twice.
    """
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", code_version.strip()).strip("-") or "unknown"
    return f"{code}-{hashlib.sha256(package).hexdigest()[:_SHORT_DIGEST]}"
