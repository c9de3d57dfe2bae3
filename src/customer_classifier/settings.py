"""One typed settings tree, read from the environment (prefix ``CC_``) once per entry point.

The core fields sit at the top (``CC_DATABASE_URL``, ``CC_STORE_URI``, ...); every group
below is one nested model whose variables carry the group's name and a double
underscore: ``CC_LABEL__HORIZON_DAYS``, ``CC_VERIFICATION__MIN_ROWS``, ``CC_S3__ENDPOINT``,
``CC_SERVING__CANARY_PERCENT``, ``CC_DL__MAX_EPOCHS``, ``CC_GPU__COUNT``,
``CC_RUN__IMAGE``, ``CC_IMAGES__COMPONENTS``, ``CC_KFP__HOST``. Entry points call
:func:`load_settings` once and pass the tree (or the group a module needs) down; nothing
else reads the environment. The cluster ConfigMap's keys are :func:`environment_keys`, derived from
these fields, and :func:`unknown_keys` names a ``CC_*`` variable that none of them is.

Every default below is what ``make run`` uses on a laptop: a SQLite file, a model store
in a local folder, reports under ``var/``. In a cluster the same names come from a
ConfigMap and Secrets (``CC_DATABASE_URL`` and the S3 keys).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import logging
import operator
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from customer_classifier.training.names import DEFAULT_CANDIDATES, HEURISTIC, KNOWN_CANDIDATES

log = logging.getLogger(__name__)

ENV_PREFIX = "CC_"
NESTED = "__"
GROUP_CONFIG = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)
"""Every group: immutable, no unknown field, and each field's docstring its description
(``customer-classifier config keys --markdown`` prints them as the reference)."""


class LabelRule(BaseModel):
    """How a label is derived when no labels table exists.

    A customer is *good* at an as-of date when they spend at least ``min_spend`` (net of
    returns) in the ``horizon_days`` that follow it. Only sales at or after the as-of
    date count, so labels never leak into features.
    """

    model_config = GROUP_CONFIG

    horizon_days: int = Field(default=90, ge=7, le=730)
    """Length of the label window after the as-of date."""
    min_spend: float = Field(default=250.0, gt=0)
    """Net spend in the label window that makes a customer good."""


class VerificationThresholds(BaseModel):
    """Limits of the data verification step (documented in docs/data-contract.md)."""

    model_config = GROUP_CONFIG

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
    """Share of sales whose customer does not exist."""
    max_negative_amount_fraction: float = Field(default=0.0, ge=0, le=1)
    """Share of sales with an amount below 0."""
    max_future_fraction: float = Field(default=0.0, ge=0, le=1)
    """Share of values dated after the verification time, in every date column."""
    max_volume_change: float = Field(default=0.5, gt=0)
    """Relative change of a table's row count against the previous snapshot that only warns."""
    min_rows: int = Field(default=1, ge=1)
    """Rows each table needs."""
    max_sale_age_days: float = Field(default=3.0, ge=0)
    """Days between the newest sale and the verification time (or the explicit as-of
    date) beyond which the sales feed counts as stale: blocking for nightly scoring,
    a warning otherwise."""


class S3Settings(BaseModel):
    """Endpoint, region, TLS, credentials and retry policy of the S3 model store.

    In a cluster the credentials come from a Secret. Each field also has the name that
    KServe's storage initializer and the AWS tools read (``AWS_ACCESS_KEY_ID``, ...;
    :class:`_ConventionalNames`), so one Secret serves the pipelines and the
    InferenceService; the ``CC_S3__*`` name wins where both are set.
    """

    model_config = GROUP_CONFIG

    endpoint: str | None = None
    """``http://host:port`` or ``https://host:port`` of the S3 API (MinIO: port 9000)."""
    region: str = "us-east-1"
    """Region of the bucket (``AWS_REGION``); MinIO and SeaweedFS accept any."""
    access_key: SecretStr | None = None
    """Access key id, from a Secret (``AWS_ACCESS_KEY_ID``); unset: anonymous or IRSA."""
    secret_key: SecretStr | None = None
    """Secret access key, from a Secret (``AWS_SECRET_ACCESS_KEY``)."""
    session_token: SecretStr | None = None
    """Session token of temporary credentials (``AWS_SESSION_TOKEN``)."""
    verify_tls: bool = True
    """Check the server's certificate on ``https://`` endpoints."""
    ca_bundle: Path | None = None
    """PEM file of the CA that signed the server's certificate (a private MinIO's)."""
    attempts: int = Field(default=4, ge=1, le=20)
    """Tries per request before giving up with ``StoreUnavailableError``."""
    backoff_s: float = Field(default=0.5, ge=0.0, le=60.0)
    """Wait before the second try; doubled before each further one (at most 8 s)."""
    connect_timeout_s: float = Field(default=5.0, gt=0.0, le=300.0)
    """Longest wait for a connection to the S3 endpoint."""
    read_timeout_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    """Longest wait for the server's answer to one request (a slow store is retried)."""

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"CC_S3__ENDPOINT {value!r} must be http://HOST:PORT or https://HOST:PORT "
                "(for example http://minio-service.kubeflow:9000)"
            )
        if parts.path.strip("/") or parts.query:
            raise ValueError(
                f"CC_S3__ENDPOINT {value!r} must not carry a path; put the bucket and prefix "
                "in CC_STORE_URI (s3://bucket/prefix)"
            )
        return value.rstrip("/")


class ServingSettings(BaseModel):
    """Everything the predictor needs to know, validated before the server starts.

    The container contract of the serving image: KServe's own flags (``--http_port``
    8080, ``--grpc_port`` 8081, ``--model_name``, ...) plus ``--model_dir``; every other
    knob is a ``CC_SERVING__*`` variable, from the InferenceService's ``env`` in a cluster.
    """

    model_config = GROUP_CONFIG

    model_name: str = Field(
        default="customer-classifier", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    """Name in the URLs (``/v1/models/NAME:predict``); the InferenceService's name."""
    model_uri: str = "/mnt/models"
    """A registry version folder (what KServe's storage initializer mounts at /mnt/models
    when ``storageUri`` points at ``versions/<version>``) or the root of a model store
    (``aliases/`` and ``versions/``), where ``champion`` and ``challenger`` are resolved."""
    champion: str = "champion"
    """Alias or version id of the model that answers, when ``model_uri`` is a store."""
    challenger: str | None = None
    """Alias or version id in the store, or the path of a version folder; unset: none."""
    challenger_mode: Literal["shadow", "canary"] = "shadow"
    """``shadow``: the challenger scores every batch on the side and never answers;
    ``canary``: it answers for ``canary_percent`` of customers (sticky by customer_id)."""
    canary_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    """Share of customers (0-100) the canary challenger answers for."""
    max_batch_rows: int = Field(default=512, ge=1, le=100_000)
    """Most rows the micro-batcher hands to the model in one call."""
    max_wait_ms: float = Field(default=3.0, ge=0.0, le=100.0)
    """Longest a request waits for other requests already on their way to join its batch.
    A request that arrives alone is never held back."""
    max_request_rows: int = Field(default=1_000, ge=1, le=100_000)
    """Most records one request may carry; more is answered 400."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1_024)
    """Largest request body accepted on the inference routes; more is answered 413."""
    shadow_queue_batches: int = Field(default=4, ge=1, le=1_000)
    """Batches the shadow challenger may lag behind; further ones are skipped (and counted)
    rather than queued, so the challenger can never hold the champion's answers back."""
    reload_interval_s: float = Field(default=10.0, ge=0.0)
    """How often the store's aliases are checked for a new version; 0: only on
    ``POST /v2/repository/models/NAME/load``."""
    verify_checksums: bool = True
    """Check every file of a version against its manifest before serving it."""
    access_log: bool = True
    """One JSON line per inference request (caller, model version, status, latency)."""

    @model_validator(mode="after")
    def _challenger_needed(self) -> ServingSettings:
        if self.challenger_mode == "canary" and self.canary_percent > 0 and not self.challenger:
            raise ValueError(
                "CC_SERVING__CANARY_PERCENT is above 0 but CC_SERVING__CHALLENGER is unset; "
                "name the challenger's alias, version or folder, or set the percent to 0"
            )
        return self


StrategyName = Literal["auto", "default", "mirrored", "multi_worker"]


class DeepLearningSettings(BaseModel):
    """Hyper-parameters of the Keras candidate (``CC_DL__*``, e.g. ``CC_DL__MAX_EPOCHS``)."""

    model_config = GROUP_CONFIG

    hidden_units: tuple[int, ...] = (128, 64)
    """Widths of the dense layers, as a JSON list (``[128, 64]``)."""
    dropout: float = Field(default=0.2, ge=0, lt=1)
    """Dropout after each dense layer."""
    embedding_dim: int = Field(default=8, ge=1, le=64)
    """Largest embedding width; a field with few categories gets fewer dimensions."""
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    """Adam's learning rate."""
    max_epochs: int = Field(default=40, ge=1, le=1000)
    """Most passes over the training window (early stopping usually ends sooner)."""
    patience: int = Field(default=5, ge=1)
    """Epochs without a better validation PR AUC before training stops."""
    batch_size_cpu: int = Field(default=512, ge=32)
    """Rows per batch on a CPU."""
    batch_size_per_gpu: int = Field(default=8192, ge=32)
    """Rows per batch and GPU (the global batch grows with the replicas)."""
    min_steps_per_epoch: int = Field(default=16, ge=1)
    """Fewest batches per epoch: a small window gets smaller batches, not one step."""
    steps_per_execution: int = Field(default=0, ge=0)
    """Batches per call into the compiled step; 0 chooses (up to 32, 1 on PyTorch)."""
    class_weight: Literal["balanced", "none"] = "balanced"
    """``balanced`` weighs both labels alike; ``none`` uses the data's own mix."""
    mixed_precision: Literal["auto", "on", "off"] = "auto"
    """auto: mixed_float16 on a GPU, float32 on a CPU."""
    deterministic: bool = True
    """Deterministic TensorFlow ops (same seed, same weights); costs some GPU speed."""
    strategy: StrategyName = "auto"
    """``tf.distribute`` strategy; auto: multi-worker under a TF_CONFIG, mirrored on
    several local GPUs, else one device."""
    tf_config: str = ""
    """The cluster spec of a multi-worker run, which the Training Operator sets as
    ``TF_CONFIG`` on every TFJob worker; empty on one node."""


class GpuScheduling(BaseModel):
    """Where and with what the GPU task runs (``CC_GPU__*``), fixed when compiling."""

    model_config = GROUP_CONFIG

    accelerator: str = "nvidia.com/gpu"
    """The extended resource the NVIDIA device plugin advertises."""
    count: int = Field(default=1, ge=1, le=16)
    """GPUs the Keras task asks for."""
    node_selector_key: str = "nvidia.com/gpu.present"
    """A node label; ``nvidia.com/gpu.product`` picks a GPU model."""
    node_selector_value: str = "true"
    """Value of the node label (e.g. a GPU product name)."""
    toleration_key: str = "nvidia.com/gpu"
    """The taint GPU node pools carry so that only GPU work lands on them."""
    toleration_effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """Effect of the GPU nodes' taint that the task tolerates."""
    cpu: str = "4"
    """CPU request of the GPU task (data loading and the input pipeline)."""
    memory: str = "16Gi"
    """Memory request and limit of the GPU task."""
    shared_memory: str = "4Gi"
    """Size of the in-memory ``emptyDir`` on /dev/shm (the default 64Mi starves loaders)."""


class ShardScheduling(BaseModel):
    """How the nightly scoring's shard tasks run on a cluster (``CC_SHARDS__*``), fixed when
    compiling. The number of shards is a pipeline parameter (``shards``); how many run at
    once is not: KFP 2.17's ``dsl.ParallelFor`` takes its ``parallelism`` as a plain int."""

    model_config = GROUP_CONFIG

    parallelism: int = Field(default=4, ge=0, le=1_000)
    """Shard tasks running at once (the ParallelFor's parallelism); 0: no limit."""
    cpu: str = "2"
    """CPU request of each shard task."""
    memory: str = "2Gi"
    """Memory request and limit of each shard task (see docs/scaling.md for 50M customers)."""


class ImageSettings(BaseModel):
    """The container images the pipelines and the InferenceService run (``CC_IMAGES__*``),
    fixed when compiling; CI pins them to the digests it built."""

    model_config = GROUP_CONFIG

    components: str | None = None
    """Image of every CPU component; default ``registry.example.com/...:<version>``."""
    training_gpu: str | None = None
    """Image of the Keras task on a GPU node; default likewise."""


class RunMetadata(BaseModel):
    """Who and what runs this step, recorded in a version's lineage (``CC_RUN__*``).

    A KFP task gets the run id and image from the pipeline; CI sets the code version
    (the commit) in the images it builds. Unset values are worked out where they are
    used (the git checkout, the login name) or recorded as unknown.
    """

    model_config = GROUP_CONFIG

    code_version: str | None = None
    """The commit the image was built from; default: the checkout's, else the package's."""
    image: str | None = None
    """The image this task runs in; the pipeline passes it to the register task."""
    pipeline_run_id: str | None = None
    """The KFP run id; the pipeline passes it to the register task."""
    actor: str | None = None
    """Who moves aliases: recorded in the alias history (CI sets its user)."""


class RolloutSettings(BaseModel):
    """The canary rollout controller: its steps, its pace and its checks (``CC_ROLLOUT__*``).

    Each check compares the canary with the stable model over the same interval, from
    Prometheus. A query is a PromQL template: ``{selector}`` becomes the side's label
    matcher (``canary_selector`` or ``stable_selector`` with ``{version}`` filled in) and
    ``{window}`` the analysis interval; the README's "Canary rollout" lists the defaults.
    """

    model_config = GROUP_CONFIG

    inference_service: str = "customer-classifier"
    """The InferenceService the rollout moves traffic on."""
    namespace: str | None = None
    """Its namespace; default: the pod's own namespace in a cluster, else ``default``."""
    mode: Literal["auto", "knative", "standard", "predictor"] = "auto"
    """Where the split is made: KServe's fields (``knative``, ``standard``; ``auto`` reads
    the InferenceService's deployment mode) or the predictor's own sticky split
    (``predictor``: the registry's ``canary`` alias and share, read by every replica)."""
    steps: tuple[int, ...] = (10, 25, 50, 100)
    """Canary traffic percentages, rising; reaching 100 is promotion."""
    interval_s: float = Field(default=60.0, gt=0, le=3600)
    """Seconds between analyses; each one judges the metrics of this last interval."""
    min_requests: int = Field(default=100, ge=0)
    """Canary requests an interval needs before a verdict; fewer holds the step."""
    failure_threshold: int = Field(default=2, ge=1, le=100)
    """Failed intervals in a row that roll the canary back."""
    intervals_per_step: int = Field(default=2, ge=1, le=100)
    """Passed intervals in a row that advance the canary one step."""
    max_intervals_per_step: int = Field(default=10, ge=1, le=1000)
    """Judged intervals one step may take; a canary still flapping then is rolled back."""
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus' HTTP API (the Prometheus Operator's governing service by default)."""
    pushgateway_url: str | None = None
    """Pushgateway the controller pushes its own metrics to (step, share, last verdict);
    none: not pushed."""
    query_timeout_s: float = Field(default=5.0, gt=0, le=120)
    """A query slower than this counts as no data, which pauses the rollout."""
    canary_selector: str = 'model_version="{version}"'
    """Label matcher of the canary's series; ``{version}`` is its registry version (the
    chart's PodMonitor copies the pods' version label to ``model_version``)."""
    stable_selector: str = 'model_version="{version}"'
    """Label matcher of the stable model's series, ``{version}`` the champion's."""
    max_error_ratio_increase: float = Field(default=0.01, ge=0, le=1)
    """The canary's error ratio may exceed the stable's by at most this much."""
    max_latency_ratio: float = Field(default=1.5, ge=1)
    """The canary's p99 latency may be at most this many times the stable's ..."""
    latency_floor_s: float = Field(default=0.05, ge=0)
    """... unless it stays below this many seconds anyway."""
    max_score_divergence: float = Field(default=0.1, ge=0, le=1)
    """Largest Jensen-Shannon distance between the two score histograms (0 = same)."""
    max_label_mix_shift: float = Field(default=0.1, ge=0, le=1)
    """Largest difference between the two models' shares of customers labelled good."""
    min_shadow_agreement: float = Field(default=0.95, ge=0, le=1)
    """Least share of shadow-compared records with the same label, where a shadow ran."""
    query_requests: str = "sum(increase(cc_serving_requests_total{{{selector}}}[{window}]))"
    """Requests the side served in the interval."""
    query_error_ratio: str = (
        "(sum(rate(cc_serving_request_errors_total{{{selector}}}[{window}])) or vector(0))"
        " / sum(rate(cc_serving_requests_total{{{selector}}}[{window}]))"
    )
    """Share of the side's requests answered with an error, every reason together."""
    query_errors_by_reason: str = (
        "sum by (reason) (increase(cc_serving_request_errors_total{{{selector}}}[{window}]))"
    )
    """The side's errors by reason, reported beside the ratio."""
    query_latency_p99: str = (
        "histogram_quantile(0.99, sum by (le) "
        "(rate(cc_serving_request_seconds_bucket{{{selector}}}[{window}])))"
    )
    """The side's p99 latency in seconds."""
    query_score_buckets: str = (
        "sum by (le) (increase(cc_serving_score_bucket{{{selector}}}[{window}]))"
    )
    """The side's cumulative score histogram over the interval, one value per bucket."""
    query_good_share: str = (
        'sum(increase(cc_serving_labels_total{{{selector},label="good"}}[{window}]))'
        " / sum(increase(cc_serving_labels_total{{{selector}}}[{window}]))"
    )
    """The side's share of records labelled good."""
    query_shadow_agreement: str = (
        'sum(increase(cc_serving_shadow_agreed_rows_total{{challenger_version="{version}"}}'
        "[{window}])) / sum(increase(cc_serving_shadow_compared_rows_total"
        '{{challenger_version="{version}"}}[{window}]))'
    )
    """Agreement of the canary run as a shadow; ``{version}`` is the canary's."""
    predictor_selector: str = 'version="{version}"'
    """In ``predictor`` mode both versions serve from the same pods: their series are told
    apart by the predictor's own ``version`` label instead."""
    predictor_query_requests: str = (
        "sum(increase(cc_serving_rows_total{{{selector}}}[{window}]))"
        " + (sum(increase(cc_serving_model_failed_rows_total{{{selector}}}[{window}]))"
        " or vector(0))"
    )
    """``predictor`` mode: records the version was asked to score."""
    predictor_query_error_ratio: str = (
        "(sum(rate(cc_serving_model_failed_rows_total{{{selector}}}[{window}])) or vector(0))"
        " / (sum(rate(cc_serving_rows_total{{{selector}}}[{window}]))"
        " + (sum(rate(cc_serving_model_failed_rows_total{{{selector}}}[{window}]))"
        " or vector(0)))"
    )
    """``predictor`` mode: share of the version's records it failed to score (the champion
    answered them instead)."""
    predictor_query_latency_p99: str = (
        "histogram_quantile(0.99, sum by (le) "
        "(rate(cc_serving_model_seconds_bucket{{{selector}}}[{window}])))"
    )
    """``predictor`` mode: p99 of the time the version takes to score its part of a batch."""

    def for_predictor_mode(self) -> RolloutSettings:
        """The same settings with the ``predictor``-mode selector and queries in place."""
        return self.model_copy(
            update={
                "canary_selector": self.predictor_selector,
                "stable_selector": self.predictor_selector,
                "query_requests": self.predictor_query_requests,
                "query_error_ratio": self.predictor_query_error_ratio,
                "query_latency_p99": self.predictor_query_latency_p99,
            }
        )


class GateSettings(BaseModel):
    """How the champion gate treats its non-comparative checks (documented in the README).

    ``precision_target_check``: what a challenger that misses the precision target at the
    required recall on the test window does to the promotion. ``warn`` (the default) shows
    it in the decision and promotes anyway when the comparisons pass, since the target is a
    business wish that the data may not allow; ``block`` keeps such a model challenger.
    """

    model_config = GROUP_CONFIG

    precision_target_check: Literal["warn", "block"] = "warn"
    """``warn``: a model that misses the precision target on the test window is promoted
    when the comparisons pass, with a warning; ``block``: it stays challenger."""


class KfpSettings(BaseModel):
    """Where ``make submit`` and ``make schedule`` reach Kubeflow Pipelines (``CC_KFP__*``).

    Read by the machine that submits (a laptop, a CI job), never by a pipeline task. The
    namespace and experiment follow ``ENV`` (``ml-dev`` and ``customer-classifier-dev``
    for ``ENV=dev``) unless set. The token is ``CC_KFP__TOKEN`` when given, else the
    ServiceAccount token that Kubeflow projects into a pod (``CC_KFP__TOKEN_PATH``, kfp's
    ``KF_PIPELINES_SA_TOKEN_PATH``), re-read on every request as the kubelet rotates it.
    """

    model_config = GROUP_CONFIG

    host: str = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    """URL of the KFP API server (kfp's ``KF_PIPELINES_ENDPOINT``): the in-cluster
    service, or ``http://localhost:8888`` after ``kubectl port-forward -n kubeflow
    svc/ml-pipeline 8888:8888``."""
    namespace: str | None = None
    """Kubeflow profile namespace of runs, pipelines and experiments; unset: ``ml-<ENV>``."""
    experiment: str | None = None
    """Experiment of runs and recurring runs; unset: ``customer-classifier-<ENV>``."""
    token: SecretStr | None = None
    """Bearer token for the KFP API, from a Secret or a CI variable; unset: the token file
    (``CC_KFP__TOKEN_PATH``)."""
    token_path: Path = Path("/var/run/secrets/kubeflow/pipelines/token")
    """Projected ServiceAccount token (audience ``pipelines.kubeflow.org``), used when
    present and no token is given; neither: requests carry no credentials."""
    service_account: str | None = "customer-classifier-pipeline"
    """ServiceAccount that runs and recurring runs execute as: by default the one the
    kustomize overlays create with the pipeline Role; empty or unset: the namespace's
    default for pipeline runs (``default-editor`` in a Kubeflow profile)."""
    timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)
    """Longest wait for the API server to answer the health check made before any change."""


class RetrainSettings(BaseModel):
    """When the nightly monitoring launches the training pipeline (``CC_RETRAIN__*``).

    A trigger must persist for several nights, and a retrain is followed by a cool-down,
    so that one noisy night does not retrain; the champion/challenger gate still decides
    what ships.
    """

    model_config = GROUP_CONFIG

    enabled: bool = True
    """The nightly decision launches the training pipeline when a trigger holds; ``false``
    still decides and records every night (action ``skip``) but launches nothing."""
    consecutive_nights: int = Field(default=3, ge=1, le=90)
    """Nights in a row a trigger must fire before it retrains; a night without
    monitoring figures breaks the row. The schedule trigger needs one night."""
    cooldown_days: int = Field(default=14, ge=0, le=365)
    """Days after a retrain during which no trigger retrains again, the schedule
    included; a night that has launched never launches a second time."""
    max_model_age_days: int = Field(default=30, ge=0, le=3650)
    """Days after the last retrain (or the champion's promotion, when later) at which the
    schedule trigger fires; 0: no scheduled retraining."""
    precision_tolerance: float = Field(default=0.02, ge=0, lt=1)
    """How far below ``CC_PRECISION_TARGET`` precision may fall before the precision
    triggers fire: the floor is the target minus this. The estimated-precision trigger
    fires when even the upper end of the estimate's band lies below the floor."""
    max_calibration_error: float = Field(default=0.05, gt=0, le=1)
    """Expected calibration error of the newest matured night above which the
    calibration trigger fires (the scores no longer read as probabilities)."""
    max_score_psi: float = Field(default=0.2, gt=0)
    """Population stability index of the night's scores against the champion's training
    scores above which the drift trigger fires even when no feature is flagged."""
    decisions_table: str = Field(
        default="retraining_decisions", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
    )
    """Table in the Master Data database that keeps every night's decision with its
    evidence and the launched run's id; the cool-down reads it back."""


class ExplanationSettings(BaseModel):
    """Explanations of a model (documented in the README): permutation importance at
    training, and the top reasons nightly scoring may add to the predictions table."""

    model_config = GROUP_CONFIG

    n_repeats: int = Field(default=3, ge=1, le=50)
    """Shuffles per feature column in the permutation importance on the test window;
    more repeats steady the figures and cost one prediction of the sample each."""
    max_rows: int = Field(default=5_000, ge=100)
    """Test-window rows the permutation importance uses: a seeded sample above this."""
    top_features: int = Field(default=5, ge=1, le=50)
    """Most important features listed in training's summary and its KFP metrics."""
    reasons: bool = False
    """Nightly scoring adds ``reason_1``..``reason_3`` to the predictions table: the
    features pushing hardest towards each customer's label (logistic-regression and tree
    champions only). ``false`` keeps the table's columns as they were."""


class CalibrationSettings(BaseModel):
    """Whether a version's score is mapped to a probability before its threshold is chosen
    (``CC_CALIBRATION__*``; the measurements behind the default are in
    docs/calibration-and-value.md).

    The map (isotonic or sigmoid) is fitted on the validation window, never on test, and
    the threshold is then chosen on the mapped scores. On the demo data the learnt
    candidates are already close to calibrated on the test window (ECE about 0.03), and a
    map fitted on the validation window carries that window's lower share of good
    customers onto test (ECE about 0.07), so the default leaves the scores as they are.
    """

    model_config = GROUP_CONFIG

    method: Literal["none", "isotonic", "sigmoid"] = "none"
    """``none``: scores as the model gives them; ``isotonic``: a monotone step map fitted
    on the validation window; ``sigmoid``: Platt scaling of the score's log-odds there."""
    bins: int = Field(default=10, ge=2, le=100)
    """Equal-mass bins of the reliability curve and the expected calibration error."""


class ValueSettings(BaseModel):
    """What acting on a customer labelled good is worth, in the sales' currency
    (``CC_VALUE__*``).

    A true positive (a good customer acted on, for example retained) earns
    ``true_positive``; a false positive (a bad customer acted on) costs
    ``false_positive_cost``. The defaults stand for a margin of 100 on a customer who
    spends at least the label's 250 in the next quarter, and 50 for an offer or call
    spent on one who does not: acting pays above a precision of 1/3. The figures are
    reported beside precision (training report, ``make run``, the gate's decision); they
    choose no threshold and block no promotion.
    """

    model_config = GROUP_CONFIG

    true_positive: float = Field(default=100.0, ge=0)
    """Value of acting on a good customer (a true positive), e.g. the margin retained."""
    false_positive_cost: float = Field(default=50.0, ge=0)
    """Cost of acting on a bad customer (a false positive), e.g. the offer given away."""


class FairnessSettings(BaseModel):
    """How groups of customers are compared, and how the gate judges a challenger's gaps.

    Every figure is taken on the test window at the model's own threshold, for the
    attributes of :data:`customer_classifier.evaluation.segments.ATTRIBUTES`. A gap is the
    spread between the judged groups of one attribute: demographic parity difference
    (selection rate), equalized odds difference (the larger of the true and false positive
    rate spreads) and the precision gap.
    """

    model_config = GROUP_CONFIG

    min_group_size: int = Field(default=100, ge=1)
    """Customers a group needs in the test window to be judged; smaller groups are
    reported with their figures but count in no gap and are never flagged."""
    min_selected: int = Field(default=10, ge=1)
    """Selected customers a judged group needs for its precision to count in the
    precision gap and to be flagged: a precision over a handful of customers is noise."""
    underperformance: float = Field(default=0.10, ge=0, le=1)
    """A judged group whose precision is below the overall precision by more than this,
    with the upper end of its interval below the overall figure too, is reported as an
    underperforming segment."""
    tolerance: float = Field(default=0.10, ge=0, le=1)
    """How much a challenger may widen any gap over the champion's on the same window; a
    wider gap fails the gate when the paired bootstrap also shows the widening is real."""
    max_gap: float = Field(default=0.35, ge=0, le=1)
    """With no champion to compare with: the ceiling on the precision gap of the first
    model (selection-rate and odds gaps are then only reported)."""
    check: Literal["warn", "block"] = "block"
    """``block`` (the default): a challenger that widens a gap stays challenger; ``warn``:
    it is promoted when the other checks pass, with a warning in the decision."""
    resamples: int = Field(default=200, ge=20, le=10_000)
    """Bootstrap resamples of the test window behind every interval."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Coverage of the bootstrap intervals (percentile method)."""
    seed: int = 0
    """Seed of the bootstrap: the same window and seed give the same resamples for every
    model, so the challenger's and the champion's gaps are compared pair by pair."""


class MonitoringSettings(BaseModel):
    """Where the nightly monitoring sends its results (``CC_MONITORING__*``)."""

    model_config = GROUP_CONFIG

    pushgateway_url: str = ""
    """Prometheus Pushgateway the nightly figures are pushed to (e.g.
    ``http://pushgateway.monitoring:9091``); empty: no push."""
    push_timeout_s: float = Field(default=10.0, gt=0.0, le=300.0)
    """Longest wait for the Pushgateway to take one night's push."""
    push_namespace: str | None = None
    """``namespace`` label of the push's grouping key, which the chart's alert rules
    select on (the release's namespace); unset: the pod's own namespace in a cluster,
    else ``default``."""
    pushgateway_user: str | None = None
    """User for HTTP basic authentication at the Pushgateway (its ``--web.config.file``);
    unset: pushes carry no credentials."""
    pushgateway_password: SecretStr | None = None
    """Password of ``pushgateway_user``, from a Secret."""

    @field_validator("pushgateway_url")
    @classmethod
    def _pushgateway_is_a_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if value and (parts.scheme not in {"http", "https"} or not parts.hostname):
            raise ValueError(
                f"CC_MONITORING__PUSHGATEWAY_URL {value!r} must be http://HOST:PORT or "
                "https://HOST:PORT (for example http://pushgateway.monitoring:9091), or empty "
                "for no push"
            )
        return value

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> MonitoringSettings:
        if (self.pushgateway_user is None) != (self.pushgateway_password is None):
            given, missing = (
                ("USER", "PASSWORD") if self.pushgateway_password is None else ("PASSWORD", "USER")
            )
            raise ValueError(
                f"CC_MONITORING__PUSHGATEWAY_{given} is set but CC_MONITORING__PUSHGATEWAY_"
                f"{missing} is not; basic authentication needs both, or neither"
            )
        return self

    history_table: str = "monitoring_metrics"
    """Table in the Master Data database that keeps every night's figures (one row per
    metric, labels and night), which the health checks, the retraining triggers and the
    report read back."""
    backtest_nights: int = Field(default=7, ge=0, le=3650)
    """Newest matured scoring nights that each night's monitoring backtests (realised
    figures, calibration, the early-label ratio); older nights' figures are already in the
    history table. 0: every matured night of the prediction history."""
    early_label_days: int = Field(default=30, ge=1, le=730)
    """Days into its label window an open scoring night must be before its early labels
    are checked against its estimate (the concept-drift signal); the newest such night is
    checked."""


class EstimateSettings(BaseModel):
    """How the nightly monitoring estimates precision before the labels mature, and when
    the early labels signal concept drift (``CC_ESTIMATE__*``).

    The estimate is the mean calibrated score of the customers labelled good, with a
    Poisson-binomial band; it is only as good as the scores' calibration, read from the
    champion's bundle (its test ECE).
    """

    model_config = GROUP_CONFIG

    band_level: float = Field(default=0.95, gt=0.5, lt=1)
    """Share of nights whose realised precision the estimate's band should hold."""
    max_test_ece: float = Field(default=0.05, gt=0, le=1)
    """Highest test-window ECE of the served version at which the estimate is trusted;
    above it the report says the scores are not probabilities."""
    concept_drift_z: float = Field(default=3.0, gt=0)
    """Standard errors by which the early-realised precision may fall short of what the
    estimate promises before the night signals concept drift."""


class DriftSettings(BaseModel):
    """When the nightly data-drift check flags a feature (``CC_DRIFT__*``).

    Every statistic is compared with its null distribution at the night's batch size,
    drawn from the champion's binned training reference; the features' p-values are
    adjusted together (Benjamini-Hochberg). A feature is flagged when its adjusted
    p-value is at most ``fdr`` and at least one of its statistics reaches its floor.
    """

    model_config = GROUP_CONFIG

    fdr: float = Field(default=0.01, gt=0, lt=0.5)
    """False-discovery rate across the features of one night; with no drift at all it is
    also the bound on the chance of a false dataset-level alarm (0.01: at most about one
    per 100 nights)."""
    psi_floor: float = Field(default=0.1, ge=0)
    """Smallest population stability index that counts as drift."""
    jensen_shannon_floor: float = Field(default=0.05, ge=0, le=1)
    """Smallest Jensen-Shannon distance (base 2) of a categorical feature that counts."""
    wasserstein_floor: float = Field(default=0.1, ge=0)
    """Smallest Wasserstein distance of a numeric feature, in training standard
    deviations, that counts."""
    ks_floor: float = Field(default=0.05, ge=0, le=1)
    """Smallest Kolmogorov-Smirnov distance of a numeric feature that counts."""
    resamples: int = Field(default=2000, ge=200, le=100_000)
    """Draws from the reference behind each statistic's null distribution; p-values
    beyond the draws come from a gamma fitted to them."""
    bins: int = Field(default=20, ge=4, le=200)
    """Quantile bins of each numeric feature (and of the score) in the training
    reference that the bundle keeps."""
    seed: int = 0
    """Seed of the null draws: a reference and a batch size give the same thresholds
    every night."""


class HealthSettings(BaseModel):
    """When a pipeline-health check of the nightly monitoring fails (``CC_HEALTH__*``).

    Each night's input volume and quality, step run times, output volume and label mix
    are compared with the same figures of the nights before, kept in the monitoring
    history table.
    """

    model_config = GROUP_CONFIG

    history_nights: int = Field(default=28, ge=3, le=3650)
    """Past nights each figure is compared with, and the nights back the missing-run
    check looks for an as-of date without a scoring run."""
    min_history_nights: int = Field(default=7, ge=2, le=3650)
    """Past nights a figure needs before it is judged; with fewer its check is
    'learning' and does not fail."""
    tolerance_mads: float = Field(default=5.0, gt=0)
    """Scaled median absolute deviations of the past nights by which a figure may stray
    from their median (5: about 5 standard deviations of a steady figure)."""
    relative_floor: float = Field(default=0.10, ge=0, le=10)
    """Share of the median by which a volume, an input quality share or the good share
    may always stray, so that a figure that barely moved from night to night does not
    fail on a small change."""
    share_floor: float = Field(default=0.02, ge=0, le=1)
    """Change of a share (nulls, rule breaks, orphans, the good share) that always
    passes, in share points (0.02: two percentage points)."""
    max_share_rise: float = Field(default=0.05, gt=0, le=1)
    """Largest rise of an input quality share above its median that ever passes, however
    noisy the past nights were: the hard bound that keeps a noisy history from hiding a
    broken feed."""
    step_relative_floor: float = Field(default=0.5, ge=0, le=100)
    """Share of the median by which a step's run time may always grow (0.5: half as long
    again); a step that runs faster never fails."""
    step_floor_seconds: float = Field(default=60.0, ge=0)
    """Growth of a step's run time, in seconds, that always passes: a step of a few
    seconds may take twice as long without failing."""

    @model_validator(mode="after")
    def _enough_nights(self) -> HealthSettings:
        if self.min_history_nights > self.history_nights:
            raise ValueError(
                f"CC_HEALTH__MIN_HISTORY_NIGHTS={self.min_history_nights} is more than "
                f"CC_HEALTH__HISTORY_NIGHTS={self.history_nights}, so no figure would ever "
                "be judged; lower the first or raise the second"
            )
        if self.share_floor > self.max_share_rise:
            raise ValueError(
                f"CC_HEALTH__SHARE_FLOOR={self.share_floor:g} is more than "
                f"CC_HEALTH__MAX_SHARE_RISE={self.max_share_rise:g}; the floor of a share's "
                "tolerance must lie within its hard bound: lower the floor or raise the bound"
            )
        return self


class Settings(BaseSettings):
    """Everything configurable, validated once where the program starts."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED,
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
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
    gate: GateSettings = GateSettings()
    drift: DriftSettings = DriftSettings()
    estimate: EstimateSettings = EstimateSettings()
    health: HealthSettings = HealthSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    retrain: RetrainSettings = RetrainSettings()
    fairness: FairnessSettings = FairnessSettings()
    explain: ExplanationSettings = ExplanationSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    value: ValueSettings = ValueSettings()
    precision_target: float = Field(default=0.80, gt=0, le=1)
    """Precision the decision threshold aims for on the validation window; the gate's
    target check compares the test window's figure with it."""
    min_recall: float = Field(default=0.30, ge=0, le=1)
    """Required recall: thresholds and champions are compared by precision at this recall."""
    promotion_margin: float = Field(default=0.01, ge=0, le=1)
    """A new model becomes champion only if its precision at the required recall beats the
    champion's by at least this much, on the same evaluation window."""
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    """Candidates to train, as JSON; must keep ``heuristic`` (the baseline); ``keras_mlp``
    adds the Keras network."""
    cv_folds: int = Field(default=3, ge=2, le=10)
    """Cross-validation folds of the hyper-parameter search."""
    min_positives: int = Field(default=50, ge=1)
    """Fewest good customers a window may hold: below it, training stops with an error."""
    training_sample_rows: int = Field(default=0, ge=0)
    """Most rows of the training window the scikit-learn candidates fit on (a stratified
    sample; 0: all). The Keras candidate and every evaluation use the full windows."""
    seed: int = 42
    """Random seed of training: same data, same seed, same model."""
    predictions_table: str = "customer_predictions"
    """Output table of nightly scoring; its history is ``<table>_history``."""
    invalid_records: Literal["skip", "block", "score"] = "skip"
    """What scoring does with a feature record the online predictor would refuse (HTTP 400):
    leave the customer out of the table (``skip``), stop the run (``block``) or score it
    anyway (``score``). Every such record is counted and reported in each mode."""
    max_invalid_fraction: float = Field(default=0.01, ge=0, le=1)
    """Share of the active customers with refused records above which the run stops, also
    under ``skip`` and ``score``: that many is a broken source, not a few odd customers."""
    history_retention_days: int = Field(default=730, ge=1, le=36_500)
    """Prediction history older than this many days before the as-of date is deleted."""
    chunk_customers: int = Field(default=250_000, ge=1_000)
    """Customers per SQL aggregation chunk: bounds memory on large tables."""
    scoring_threads: int = Field(default=2, ge=1, le=32)
    """Aggregation queries in flight at once during ingest and scoring."""
    s3: S3Settings = S3Settings()
    serving: ServingSettings = ServingSettings()
    dl: DeepLearningSettings = DeepLearningSettings()
    gpu: GpuScheduling = GpuScheduling()
    shards: ShardScheduling = ShardScheduling()
    images: ImageSettings = ImageSettings()
    run: RunMetadata = RunMetadata()
    rollout: RolloutSettings = RolloutSettings()
    kfp: KfpSettings = KfpSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if cls.values_only:
            return (init_settings,)
        return (init_settings, env_settings, _ConventionalNames(settings_cls))

    values_only: ClassVar[bool] = False
    """Read the values given and the defaults, never the environment (ExplicitSettings)."""

    @field_validator("predictions_table")
    @classmethod
    def _plain_output_table(cls, value: str) -> str:
        from customer_classifier.scoring.tables import output_table_problem

        problem = output_table_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _known_candidates(self) -> Settings:
        known = set(KNOWN_CANDIDATES)
        unknown = sorted(set(self.candidates) - known)
        if unknown:
            raise ValueError(
                f"CC_CANDIDATES has unknown candidate(s) {unknown}; choose from {sorted(known)}"
            )
        if HEURISTIC not in self.candidates:
            raise ValueError("CC_CANDIDATES must keep 'heuristic': every model is compared to it")
        return self


class _ConventionalNames(PydanticBaseSettingsSource):
    """The names other tools give some settings: the AWS and KServe storage variables of
    the S3 group, the Training Operator's ``TF_CONFIG`` and the kfp client's endpoint and
    token path. Below ``CC_*`` in priority."""

    NAMES: ClassVar[dict[str, tuple[str, str]]] = {
        "AWS_ENDPOINT_URL": ("s3", "endpoint"),
        "AWS_DEFAULT_REGION": ("s3", "region"),
        "AWS_REGION": ("s3", "region"),
        "AWS_ACCESS_KEY_ID": ("s3", "access_key"),
        "AWS_SECRET_ACCESS_KEY": ("s3", "secret_key"),
        "AWS_SESSION_TOKEN": ("s3", "session_token"),
        "TF_CONFIG": ("dl", "tf_config"),
        "KF_PIPELINES_ENDPOINT": ("kfp", "host"),
        "KF_PIPELINES_SA_TOKEN_PATH": ("kfp", "token_path"),
    }
    """Later names win: ``AWS_REGION`` over ``AWS_DEFAULT_REGION``, as in the AWS tools."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        values: dict[str, dict[str, str]] = {}
        for name, (group, field) in self.NAMES.items():
            if os.environ.get(name):
                values.setdefault(group, {})[field] = os.environ[name]
        return values


class ExplicitSettings(Settings):
    """Settings from the values given and the defaults only, never the environment.

    For programs that embed a step (tests, notebooks, benchmarks) and must not pick up
    whatever ``CC_*`` variables the calling shell happens to export.
    """

    values_only: ClassVar[bool] = True

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Settings:
        """The settings that these variables (a ConfigMap's data, an env file) give,
        with the defaults for the rest, as if they were the process environment."""
        source = _GivenEnvironment(Settings, environment)
        return cls(**source())


class _GivenEnvironment(EnvSettingsSource):
    """The ``CC_*`` environment source, over a mapping instead of the process's."""

    def __init__(self, settings_cls: type[BaseSettings], environment: Mapping[str, str]) -> None:
        self._given = dict(environment)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items()}


SECRET_KEYS = frozenset(
    {
        "CC_DATABASE_URL",
        "CC_S3__ACCESS_KEY",
        "CC_S3__SECRET_KEY",
        "CC_S3__SESSION_TOKEN",
        "CC_KFP__TOKEN",
        "CC_MONITORING__PUSHGATEWAY_PASSWORD",
    }
)
"""Settings that come from Secrets, never from the ConfigMap."""


def _leaves(
    model: type[BaseModel], prefix: str = ENV_PREFIX, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, tuple[str, ...], FieldInfo]]:
    """(environment key, field path, field) of every leaf setting, in the tree's order."""
    for name, info in model.model_fields.items():
        kind = info.annotation
        key = f"{prefix}{name.upper()}"
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from _leaves(kind, key + NESTED, (*path, name))
        else:
            yield key, (*path, name), info


def reference() -> list[tuple[str, str, str]]:
    """(key, default, description) of every setting, in the tree's order: the reference
    table of docs/configuration.md."""
    defaults = ExplicitSettings().model_dump(mode="json")
    rows: list[tuple[str, str, str]] = []
    for key, path, info in _leaves(Settings):
        value = functools.reduce(operator.getitem, path, defaults)
        if value is None:
            shown = "(secret)" if key in SECRET_KEYS else "(unset)"
        else:
            shown = value if isinstance(value, str) else json.dumps(value)
        rows.append((key, shown, " ".join((info.description or "").split())))
    return rows


REFERENCE_START, REFERENCE_END = "<!-- reference:start -->", "<!-- reference:end -->"


def reference_table() -> str:
    """:func:`reference` as a Markdown table."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    rows += [
        f"| `{key}` | `{default}` | {text.replace('|', '/')} |"
        for key, default, text in reference()
    ]
    return "\n".join(rows)


def with_reference(document: str) -> str:
    """``document`` with the table between its reference markers replaced by today's."""
    head, start, rest = document.partition(REFERENCE_START)
    _, end, tail = rest.partition(REFERENCE_END)
    if not start or not end:
        raise ValueError(f"the document has no {REFERENCE_START} ... {REFERENCE_END} markers")
    return f"{head}{start}\n{reference_table()}\n{end}{tail}"


def environment_keys(*, secrets: bool = True) -> tuple[str, ...]:
    """Every environment variable the tree reads, one per field (a dict or tuple field is
    one JSON value); without ``secrets``, those a ConfigMap may carry."""
    keys = tuple(key for key, _, _ in _leaves(Settings))
    return keys if secrets else tuple(k for k in keys if k not in SECRET_KEYS)


def unknown_keys(names: Iterable[str]) -> dict[str, str | None]:
    """The ``CC_*`` names that no setting reads, each with the closest known name.

    A ConfigMap key or a variable with a typo, or of an older release, would otherwise be
    ignored without a word while the default silently applies.
    """
    known = set(environment_keys())
    unknown: dict[str, str | None] = {}
    for name in names:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if any(upper.startswith(key + NESTED) for key in known):
            continue  # one entry of a dict setting: CC_VERIFICATION__NULL_FRACTION_OVERRIDES__X
        guess = difflib.get_close_matches(upper, known, n=1, cutoff=0.6)
        unknown[name] = guess[0] if guess else None
    return unknown


def describe_unknown(unknown: Mapping[str, str | None]) -> list[str]:
    """One line per unknown key, naming the likely intended one."""
    return [
        f"{name} is not a setting"
        + (f"; did you mean {guess}?" if guess else "; see `customer-classifier config keys`")
        for name, guess in sorted(unknown.items())
    ]


def pin_local_defaults(var: Path) -> None:
    """Point the default locations at absolute paths under ``var`` for this process and
    every subprocess it starts (``kfp.local`` runs each task in one, from its own folder);
    a variable already set wins."""
    var = var.resolve()
    os.environ.setdefault("CC_DATABASE_URL", f"sqlite:///{var / 'master_data.db'}")
    os.environ.setdefault("CC_STORE_URI", str(var / "model_store"))
    os.environ.setdefault("CC_WORK_DIR", str(var / "runs"))


def load_settings(**overrides: object) -> Settings:
    """Read the environment, apply explicit overrides (CLI flags), and validate once.

    ``CC_*`` variables that no setting reads are logged as warnings, naming the closest
    setting, and do not stop the program (a cluster may carry keys of a newer release).
    """
    for line in describe_unknown(unknown_keys(os.environ)):
        log.warning("%s", line)
    return Settings(**overrides)  # type: ignore[arg-type]
