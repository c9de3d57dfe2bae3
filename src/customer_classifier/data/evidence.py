"""What a data snapshot keeps of its verification, so that later steps can rely on it.

The gate's "data verification" check reads this record (snapshot manifest -> features
manifest -> bundle metadata) instead of trusting that the pipeline ran verification
first: a bundle built from data that was never verified, or whose verification failed,
cannot be promoted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from customer_classifier.data.validation import VerificationResult


@dataclass(frozen=True)
class VerificationEvidence:
    passed: bool
    blocking: int
    """Number of blocking findings."""
    warnings: int
    verified_at: str
    """When the source was profiled (ISO 8601)."""
    profile_hash: str
    """SHA-256 of the profile the verdict was made on."""
    database: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: Any) -> VerificationEvidence | None:
        """The evidence in a manifest or metadata entry; None when absent or incomplete."""
        if not isinstance(record, dict):
            return None
        names = [f.name for f in fields(cls)]
        if any(name not in record for name in names):
            return None
        return cls(
            passed=bool(record["passed"]),
            blocking=int(record["blocking"]),
            warnings=int(record["warnings"]),
            verified_at=str(record["verified_at"]),
            profile_hash=str(record["profile_hash"]),
            database=str(record["database"]),
        )


def profile_hash(result: VerificationResult) -> str:
    canonical = json.dumps(result.profile.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def evidence_of(result: VerificationResult) -> VerificationEvidence:
    return VerificationEvidence(
        passed=result.passed,
        blocking=len(result.blocking),
        warnings=len(result.warnings),
        verified_at=result.profile.profiled_at.isoformat(),
        profile_hash=profile_hash(result),
        database=result.profile.database,
    )


def read_verification(payload: str) -> VerificationResult:
    """The verification result from the verify step's JSON artifact.

    ``passed`` in the file is ignored: it is recomputed from the findings, so a file
    whose verdict and findings disagree cannot pass for verified.
    """
    return VerificationResult.model_validate_json(payload)
