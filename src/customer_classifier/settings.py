"""One typed settings object, read from the environment (prefix ``CC_``) once per entry point.

Every default below is what ``make run`` uses on a laptop: a SQLite file, a model store
in a local folder, reports under ``var/``. In a cluster the same names come from a
ConfigMap and Secrets (``CC_DATABASE_URL`` for one).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class LabelRule(BaseModel):
    """How a label is derived when no labels table exists.

    A customer is *good* at an as-of date when they spend at least ``min_spend`` (net of
    returns) in the ``horizon_days`` that follow it. Only sales at or after the as-of
    date count, so labels never leak into features.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon_days: int = Field(default=90, ge=7, le=730)
    min_spend: float = Field(default=250.0, gt=0)


class VerificationThresholds(BaseModel):
    """Limits of the data verification step (documented in docs/data-contract.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_null_fraction: float = Field(default=0.05, ge=0, le=1)
    """Default cap on the share of nulls in a nullable column."""
    null_fraction_overrides: dict[str, float] = Field(
        default_factory=lambda: {
            "customers.birth_year": 0.25,
            "customers.acquisition_channel": 0.10,
        }
    )
    """Per ``table.column`` caps that replace the default."""
    max_orphan_fraction: float = Field(default=0.0, ge=0, le=1)
    max_negative_amount_fraction: float = Field(default=0.0, ge=0, le=1)
    max_future_fraction: float = Field(default=0.0, ge=0, le=1)
    max_volume_change: float = Field(default=0.5, gt=0)
    """Relative change of a table's row count against the previous snapshot that only warns."""
    min_rows: int = Field(default=1, ge=1)
    max_sale_age_days: float = Field(default=3.0, ge=0)
    """Days between the newest sale and the verification time (or the explicit as-of
    date) beyond which the sales feed counts as stale: blocking for nightly scoring,
    a warning otherwise."""


class Settings(BaseSettings):
    """Everything configurable, validated once where the program starts."""

    model_config = SettingsConfigDict(
        env_prefix="CC_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    database_url: str = "sqlite:///var/master_data.db"
    """SQLAlchemy URL of the Master Data database (Customers, Sales, predictions)."""
    store_uri: str = "var/model_store"
    """Model store: a folder, or ``s3://bucket/prefix`` for MinIO/S3."""
    work_dir: Path = Path("var/runs")
    """Snapshots and reports of local runs."""
    as_of: dt.date | None = None
    """Scoring date; default: the day after the newest sale in the database."""
    active_window_days: int = Field(default=365, ge=1)
    """A customer is active at an as-of date when they bought within this many days before it."""
    label: LabelRule = LabelRule()
    verification: VerificationThresholds = VerificationThresholds()
    precision_target: float = Field(default=0.80, gt=0, le=1)
    min_recall: float = Field(default=0.30, ge=0, le=1)
    """Required recall: thresholds and champions are compared by precision at this recall."""
    promotion_margin: float = Field(default=0.01, ge=0, le=1)
    """A new model becomes champion only if its precision at the required recall beats the
    champion's by at least this much, on the same evaluation window."""
    candidates: tuple[str, ...] = ("heuristic", "logistic_regression", "gradient_boosting")
    cv_folds: int = Field(default=3, ge=2, le=10)
    seed: int = 42
    predictions_table: str = "customer_predictions"
    chunk_customers: int = Field(default=250_000, ge=1_000)
    """Customers per SQL aggregation chunk: bounds memory on large tables."""
    scoring_threads: int = Field(default=2, ge=1, le=32)

    @model_validator(mode="after")
    def _known_candidates(self) -> Settings:
        known = {"heuristic", "logistic_regression", "gradient_boosting", "keras_mlp"}
        unknown = sorted(set(self.candidates) - known)
        if unknown:
            raise ValueError(
                f"CC_CANDIDATES has unknown candidate(s) {unknown}; choose from {sorted(known)}"
            )
        if "heuristic" not in self.candidates:
            raise ValueError("CC_CANDIDATES must keep 'heuristic': every model is compared to it")
        return self


class ExplicitSettings(Settings):
    """Settings from the values given and the defaults only, never the environment.

    For programs that embed a step (tests, notebooks, benchmarks) and must not pick up
    whatever ``CC_*`` variables the calling shell happens to export.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def load_settings(**overrides: object) -> Settings:
    """Read the environment, apply explicit overrides (CLI flags), and validate once."""
    return Settings(**overrides)  # type: ignore[arg-type]
