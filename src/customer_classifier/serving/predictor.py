"""The KServe predictor: champion (and optional challenger) behind V1, V2 and gRPC.

Request path, in KServe's handler order:

* ``preprocess`` validates the V1 or V2 body against the served version's feature schema
  (:mod:`~customer_classifier.serving.validation`); a mistake raises ``InvalidInput``,
  answered 400;
* ``predict`` queues the checked columns on the micro-batcher and awaits the scores; the
  model runs in a scoring thread, so the event loop never blocks;
* ``postprocess`` shapes the answer: V1 ``{"predictions": [{score, label,
  model_version}]}``, V2 outputs ``score``, ``label``, ``model_version``.

Models: the champion answers. A challenger, when configured, either scores every batch
in **shadow** in its own thread (its answers are only compared, and batches are skipped
rather than queued when it lags), or answers in a **canary** for a share of customers,
sticky by customer_id. A watcher thread re-resolves the aliases every
``reload_interval_s`` and swaps new versions in between two batches: no request is
dropped or sees a half-loaded model. ``ready`` stays false until a champion is loaded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import sklearn
from kserve import Model
from kserve.errors import ModelNotReady
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from threadpoolctl import threadpool_limits

from customer_classifier.serving.batching import Arrivals, MicroBatcher
from customer_classifier.serving.config import ServingSettings
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.models import ModelSource, ServedModel
from customer_classifier.serving.routing import challenger_rows
from customer_classifier.serving.validation import (
    CUSTOMER_ID,
    OUTPUT_METADATA,
    Records,
    RecordSchema,
    RequestError,
    parse_v1,
    parse_v2,
)

log = logging.getLogger(__name__)
CHAMPION_ROLE, CHALLENGER_ROLE = "champion", "challenger"
JSON_TYPES = ("application/json", "application/cloudevents+json", "application/ld+json")


@dataclass
class RequestContext:
    """Per-request facts shared between the HTTP middleware and the predictor."""

    pending: bool = False
    """Counted in :class:`Arrivals` until the request reaches the batcher."""
    model_version: str | None = None
    rows: int = 0


REQUEST_CONTEXT: ContextVar[RequestContext | None] = ContextVar("cc_request", default=None)


@dataclass(frozen=True)
class ActiveModels:
    """What serves right now; replaced as a whole on reload."""

    champion: ServedModel
    challenger: ServedModel | None = None


@dataclass(frozen=True)
class Scored:
    """One request's share of a batch."""

    scores: np.ndarray
    labels: np.ndarray
    versions: list[str]


@dataclass
class Job:
    """A validated request on its way through predict and postprocess."""

    records: Records
    protocol: str
    started: float
    request: InferRequest | None = None
    result: Scored | None = field(default=None)


def _columns(batch: Sequence[Records], names: Sequence[str]) -> dict[str, np.ndarray]:
    if len(batch) == 1:
        return batch[0].columns
    return {n: np.concatenate([r.columns[n] for r in batch]) for n in names}


def _fast_sklearn() -> None:
    """Skip the per-call input checks in the scoring thread (requests are validated; the
    checks never change a score) and keep native thread pools at one thread: a batch is
    small, and spinning OpenMP threads on a busy node costs more than it saves."""
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
    threadpool_limits(limits=1)


class CustomerClassifier(Model):  # type: ignore[misc]
    """``kserve.Model`` serving the champion (and challenger) of the model registry."""

    def __init__(
        self,
        settings: ServingSettings,
        *,
        metrics: ServingMetrics | None = None,
        arrivals: Arrivals | None = None,
        on_loaded: Callable[[bool], None] | None = None,
    ) -> None:
        """``on_loaded(first)`` runs after each swap, before a first load turns ready."""
        super().__init__(settings.model_name)
        self.settings = settings
        self.metrics = metrics or ServingMetrics(settings.model_name)
        self.arrivals = arrivals or Arrivals()
        self.on_loaded = on_loaded
        self.source = ModelSource(settings.model_uri, verify=settings.verify_checksums)
        self.not_ready_reason = "the champion has not been loaded yet"
        self._active: ActiveModels | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._scoring = ThreadPoolExecutor(
            1, thread_name_prefix="cc-scoring", initializer=_fast_sklearn
        )
        self._shadow = ThreadPoolExecutor(
            1, thread_name_prefix="cc-shadow", initializer=_fast_sklearn
        )
        self._shadow_slots = threading.BoundedSemaphore(settings.shadow_queue_batches)
        self._batcher: MicroBatcher[Records, Scored] = MicroBatcher(
            self._score_batch,
            self._scoring,
            max_rows=settings.max_batch_rows,
            max_wait_s=settings.max_wait_ms / 1000,
            arrivals=self.arrivals,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> bool:
        """Load the champion (and challenger) now; KServe's synchronous entry point."""
        self.refresh()
        return bool(self.ready)

    def start(self) -> None:
        """KServe calls this on registration; readiness is ours to set, after loading."""

    def stop(self) -> None:
        self._stop.set()
        self.ready = False
        self._scoring.shutdown(wait=False, cancel_futures=True)
        self._shadow.shutdown(wait=False, cancel_futures=True)

    def start_watching(self) -> None:
        """Load in the background now, then re-check the aliases every reload interval."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="cc-reload", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        interval = self.settings.reload_interval_s
        retry = min(interval, 2.0) if interval > 0 else 2.0
        while not self._stop.is_set():
            self.refresh()
            if self._active is not None and interval <= 0:
                return
            self._stop.wait(interval if self._active is not None else retry)

    def refresh(self) -> bool:
        """Serve the versions the champion/challenger references name now.

        Returns whether anything changed. A failure keeps what is serving and is logged
        and counted; before the first success the predictor stays not ready.
        """
        with self._lock:
            try:
                return self._refresh()
            # A version can fail to load in many ways (checksum, unpickling, a module the
            # pickle names, a feature schema change): none is a client's mistake, and
            # none may take down what serves now or stop the reload watcher.
            except Exception as exc:
                self.metrics.reloads.labels(self.name, "failed").inc()
                if self._active is None:
                    self.not_ready_reason = f"{type(exc).__name__}: {exc}"
                log.error(
                    "model reload failed, still serving %s: %s: %s",
                    self.versions(),
                    type(exc).__name__,
                    exc,
                )
                return False

    def _refresh(self) -> bool:
        settings = self.settings
        current = self._active
        champion_version = self.source.resolve(settings.champion)
        if champion_version is None:
            self.not_ready_reason = self.source.describe_missing(settings.champion)
            if current is None:
                log.warning("not ready: %s", self.not_ready_reason)
            return False
        challenger_version = (
            self.source.resolve(settings.challenger) if settings.challenger else None
        )
        if settings.challenger and challenger_version is None:
            log.warning("%s; serving without it", self.source.describe_missing(settings.challenger))
        champion = (
            current.champion
            if current is not None and current.champion.version == champion_version
            else self.source.load(settings.champion, champion_version, CHAMPION_ROLE)
        )
        challenger = None
        if challenger_version is not None and settings.challenger is not None:
            keep = current is not None and current.challenger is not None
            challenger = (
                current.challenger
                if keep
                and current is not None
                and current.challenger is not None
                and current.challenger.version == challenger_version
                else self.source.load(settings.challenger, challenger_version, CHALLENGER_ROLE)
            )
            if challenger.schema != champion.schema:
                raise ValueError(
                    f"challenger {challenger.version} expects other features than champion "
                    f"{champion.version}; serve it after a rollout, not beside this champion"
                )
        if current is not None and champion.schema != current.champion.schema:
            raise ValueError(
                f"champion {champion.version} expects other features than the running "
                f"{current.champion.version}; roll it out as a new deployment (restart)"
            )
        if (
            current is not None
            and current.champion is champion
            and current.challenger is challenger
        ):
            return False
        self._active = ActiveModels(champion, challenger)  # one assignment: atomic swap
        self.metrics.serving(
            CHAMPION_ROLE, champion.version, current.champion.version if current else None
        )
        old_challenger = current.challenger.version if current and current.challenger else None
        self.metrics.serving(
            CHALLENGER_ROLE, challenger.version if challenger else None, old_challenger
        )
        self.metrics.reloads.labels(self.name, "loaded").inc()
        if self.on_loaded is not None:
            self.on_loaded(current is None)
        self.ready = True
        log.info(
            "serving %s (scorers: champion %s%s)",
            self.versions(),
            champion.scorer_kind,
            f", challenger {challenger.scorer_kind}" if challenger else "",
        )
        return True

    def versions(self) -> dict[str, str | None]:
        active = self._active
        if active is None:
            return {CHAMPION_ROLE: None}
        return {
            CHAMPION_ROLE: active.champion.version,
            CHALLENGER_ROLE: active.challenger.version if active.challenger else None,
        }

    def _require(self) -> ActiveModels:
        active = self._active
        if active is None or not self.ready:
            raise ModelNotReady(self.name, self.not_ready_reason)
        return active

    # -- V2 metadata -----------------------------------------------------------------------

    def get_input_types(self) -> list[dict[str, Any]]:
        active = self._active
        schema = active.champion.schema if active else RecordSchema.from_metadata({})
        return schema.input_metadata()

    def get_output_types(self) -> list[dict[str, Any]]:
        return list(OUTPUT_METADATA)

    # -- request path ----------------------------------------------------------------------

    def validate(self, payload: Any) -> Any:
        """Validation happened in ``preprocess``; KServe's generic checks do not apply."""
        return payload

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Job:
        started = time.perf_counter()
        protocol = "v2" if isinstance(payload, InferRequest) else "v1"
        self.metrics.requests.labels(self.name, protocol).inc()
        try:
            active = self._require()
            schema = active.champion.schema
            limit = self.settings.max_request_rows
            if isinstance(payload, InferRequest):
                records = parse_v2(payload, schema, limit)
                return Job(records, protocol, started, request=payload)
            if isinstance(payload, bytes | bytearray):
                payload = _json_body(payload, headers or {})
            return Job(parse_v1(payload, schema, limit), protocol, started)
        except RequestError:
            self.metrics.errors.labels(self.name, protocol, "invalid_input").inc()
            raise

    async def predict(self, job: Job, headers: dict[str, str] | None = None) -> Job:
        context = REQUEST_CONTEXT.get()
        if context is not None and context.pending:
            context.pending = False
            self.arrivals.pending -= 1
        try:
            job.result = await self._batcher.submit(job.records, job.records.rows)
        except Exception:
            self.metrics.errors.labels(self.name, job.protocol, "inference_error").inc()
            raise
        if context is not None:
            context.rows = job.records.rows
            context.model_version = ",".join(dict.fromkeys(job.result.versions))
        return job

    async def postprocess(
        self, job: Job, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> dict[str, Any] | InferResponse:
        result = job.result
        assert result is not None
        ids = job.records.customer_ids
        answer: dict[str, Any] | InferResponse
        if job.request is None:
            predictions = [
                {"score": s, "label": lab, "model_version": v}
                for s, lab, v in zip(
                    result.scores.tolist(), result.labels.tolist(), result.versions, strict=True
                )
            ]
            if ids is not None:
                for prediction, customer in zip(predictions, ids, strict=True):
                    if customer is not None:
                        prediction[CUSTOMER_ID] = customer
            answer = {"predictions": predictions}
        else:
            answer = self._v2_answer(job.request, job.records, result)
        self.metrics.latency.labels(self.name, job.protocol).observe(
            time.perf_counter() - job.started
        )
        return answer

    def _v2_answer(self, request: InferRequest, records: Records, result: Scored) -> InferResponse:
        rows = records.rows
        outputs = [
            InferOutput("score", [rows], "FP64", result.scores.tolist()),
            InferOutput("label", [rows], "BYTES", result.labels.tolist()),
            InferOutput("model_version", [rows], "BYTES", list(result.versions)),
        ]
        if records.customer_ids is not None:
            outputs.append(InferOutput(CUSTOMER_ID, [rows], "INT64", list(records.customer_ids)))
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=result.versions[0],
            infer_outputs=outputs,
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,  # their order and binary_data flags
        )

    # -- scoring thread --------------------------------------------------------------------

    def _score_batch(self, batch: Sequence[Records]) -> list[Scored]:
        started = time.perf_counter()
        active = self._active
        assert active is not None
        champion, challenger = active.champion, active.challenger
        columns = _columns(batch, champion.schema.names)
        rows = sum(r.rows for r in batch)
        canary = (
            challenger is not None
            and self.settings.challenger_mode == "canary"
            and self.settings.canary_percent > 0
        )
        versions: np.ndarray | None = None
        if canary and challenger is not None:
            ids: list[int | None] = []
            for records in batch:
                ids.extend(records.customer_ids or [None] * records.rows)
            chosen = challenger_rows(ids, self.settings.canary_percent)
            scores = np.empty(rows, dtype=np.float64)
            labels = np.empty(rows, dtype=object)
            versions = np.full(rows, champion.version, dtype=object)
            for model, mask in ((champion, ~chosen), (challenger, chosen)):
                if mask.any():
                    part = {n: c[mask] for n, c in columns.items()}
                    part_scores, part_labels = model.score(part)
                    scores[mask], labels[mask] = part_scores, part_labels
                    versions[mask] = model.version
                    self.metrics.observe_scores(model.role, model.version, part_scores, part_labels)
        else:
            scores, labels = champion.score(columns)
            self.metrics.observe_scores(CHAMPION_ROLE, champion.version, scores, labels)
            if challenger is not None and self.settings.challenger_mode == "shadow":
                self._shadow_score(champion, challenger, columns, scores, labels)
        out: list[Scored] = []
        start = 0
        for records in batch:
            end = start + records.rows
            out.append(
                Scored(
                    scores[start:end],
                    labels[start:end],
                    versions[start:end].tolist()
                    if versions is not None
                    else [champion.version] * records.rows,
                )
            )
            start = end
        self.metrics.batch_rows.labels(self.name).observe(rows)
        self.metrics.batch_requests.labels(self.name).observe(len(batch))
        self.metrics.batch_seconds.labels(self.name).observe(time.perf_counter() - started)
        return out

    def _shadow_score(
        self,
        champion: ServedModel,
        challenger: ServedModel,
        columns: dict[str, np.ndarray],
        scores: np.ndarray,
        labels: np.ndarray,
    ) -> None:
        if not self._shadow_slots.acquire(blocking=False):
            self.metrics.shadow_skipped.labels(self.name).inc()
            return

        def compare() -> None:
            try:
                theirs, their_labels = challenger.score(columns)
                self.metrics.observe_scores(
                    CHALLENGER_ROLE, challenger.version, theirs, their_labels
                )
                self.metrics.observe_shadow(
                    champion.version,
                    challenger.version,
                    agreed=int(np.count_nonzero(their_labels == labels)),
                    compared=len(labels),
                    differences=np.abs(theirs - scores),
                )
            except Exception:  # the shadow must never disturb serving: log and go on
                log.exception("shadow challenger %s failed on a batch", challenger.version)
            finally:
                self._shadow_slots.release()

        try:
            self._shadow.submit(compare)
        except RuntimeError:  # shutting down
            self._shadow_slots.release()


def _json_body(body: bytes | bytearray, headers: dict[str, str]) -> Any:
    """A V1 body that KServe left undecoded (see :mod:`~customer_classifier.serving.asgi`).

    orjson first; what it refuses is read again by the standard library, which accepts
    NaN, Infinity and numbers beyond a double, so that validation can name the field.
    """
    content_type = headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise RequestError(
            [f"content-type: {content_type!r} is not supported; send application/json"]
        )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise RequestError([f"request body: not valid JSON ({exc})"]) from exc
