"""The KServe predictor: champion (and optional challenger) behind V1, V2 and gRPC.

Request path, in KServe's handler order:

* ``preprocess`` checks the V1 or V2 body against the served version's feature schema
  (:mod:`~customer_classifier.serving.protocol_v1`,
  :mod:`~customer_classifier.serving.protocol_v2`); a mistake raises ``InvalidInput``,
  answered 400;
* ``predict`` queues the checked columns on the micro-batcher and awaits the scores; the
  batch is scored in a scoring thread (:mod:`~customer_classifier.serving.scoring`, where
  a shadow or canary challenger is routed in), so the event loop never blocks;
* ``postprocess`` shapes the answer: V1 ``{"predictions": [{score, label,
  model_version}]}``, V2 outputs ``score``, ``label``, ``model_version``.

``:explain`` (V1) takes the same checked records to ``explain`` instead of ``predict``:
the champion's contributions, computed in the scoring thread
(:mod:`~customer_classifier.serving.explain`).

Which versions serve is the :class:`~customer_classifier.serving.reload.Reloader`'s
business; ``ready`` stays false until a champion is loaded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kserve import InferRequest, InferResponse, Model

from customer_classifier.serving.batching import Arrivals, MicroBatcher
from customer_classifier.serving.checks import RequestError
from customer_classifier.serving.config import ServingSettings
from customer_classifier.serving.context import REQUEST_CONTEXT
from customer_classifier.serving.explain import Explained, explain_records, v1_explanations
from customer_classifier.serving.kserve_compat import ModelNotReady
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.protocol_v1 import json_body, parse_v1, v1_answer
from customer_classifier.serving.protocol_v2 import parse_v2, v2_answer
from customer_classifier.serving.records import Records, Scored
from customer_classifier.serving.reload import Reloader
from customer_classifier.serving.schema import OUTPUT_METADATA
from customer_classifier.serving.scoring import ActiveModels, BatchScorer, fast_sklearn
from customer_classifier.settings import S3Settings


@dataclass
class Job:
    """A validated request on its way through predict and postprocess."""

    records: Records
    protocol: str
    started: float
    request: InferRequest | None = None
    result: Scored | None = field(default=None)
    explained: Explained | None = field(default=None)


class CustomerClassifier(Model):  # type: ignore[misc]
    """``kserve.Model`` serving the champion (and challenger) of the model registry."""

    def __init__(
        self,
        settings: ServingSettings,
        *,
        metrics: ServingMetrics | None = None,
        arrivals: Arrivals | None = None,
        on_loaded: Callable[[bool], None] | None = None,
        s3: S3Settings | None = None,
    ) -> None:
        """``on_loaded(first)`` runs after each swap, before a first load turns ready."""
        super().__init__(settings.model_name)
        self.settings = settings
        self.metrics = metrics or ServingMetrics(settings.model_name)
        self.arrivals = arrivals or Arrivals()
        self.on_loaded = on_loaded
        self.reloader = Reloader(self.name, settings, self.metrics, self._swapped, s3)
        self.scorer = BatchScorer(
            self.name,
            self.metrics,
            mode=settings.challenger_mode,
            canary_percent=settings.canary_percent,
            shadow_queue_batches=settings.shadow_queue_batches,
        )
        self._scoring = ThreadPoolExecutor(
            1, thread_name_prefix="cc-scoring", initializer=fast_sklearn
        )
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
        self.reloader.stop()
        self.ready = False
        self._scoring.shutdown(wait=False, cancel_futures=True)
        self.scorer.stop()

    def start_watching(self) -> None:
        """Load in the background now, then re-check the aliases every reload interval."""
        self.reloader.start()

    def refresh(self) -> bool:
        """Serve the versions the aliases name now; whether anything changed."""
        return self.reloader.refresh()

    def _swapped(self, first: bool) -> None:
        if self.on_loaded is not None:
            self.on_loaded(first)
        self.ready = True

    @property
    def not_ready_reason(self) -> str:
        return self.reloader.not_ready_reason

    def versions(self) -> dict[str, str | None]:
        return self.reloader.versions()

    def _require(self) -> ActiveModels:
        active = self.reloader.active
        if active is None or not self.ready:
            raise ModelNotReady(self.name, self.not_ready_reason)
        return active

    # -- V2 metadata -----------------------------------------------------------------------

    def get_input_types(self) -> list[dict[str, Any]]:
        """The served champion's inputs; none before a version is loaded."""
        active = self.reloader.active
        return active.champion.schema.input_metadata() if active else []

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
            schema = self._require().champion.schema
            limit = self.settings.max_request_rows
            if isinstance(payload, InferRequest):
                return Job(parse_v2(payload, schema, limit), protocol, started, request=payload)
            if isinstance(payload, bytes | bytearray):
                payload = json_body(payload, headers or {})
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

    async def explain(self, job: Job, headers: dict[str, str] | None = None) -> Job:
        """KServe's explain verb: the champion's contributions for the checked records."""
        champion = self._require().champion
        context = REQUEST_CONTEXT.get()
        if context is not None and context.pending:
            context.pending = False
            self.arrivals.pending -= 1
        if job.request is not None:
            raise RequestError(['explain: send a V1 body ({"instances": [...]}) to :explain'])
        if context is not None:
            context.rows = job.records.rows
            context.model_version = champion.version
        loop = asyncio.get_running_loop()
        try:
            job.explained = await loop.run_in_executor(
                self._scoring, explain_records, champion, job.records, self.name
            )
        except NotImplementedError:
            self.metrics.errors.labels(self.name, job.protocol, "not_implemented").inc()
            raise
        except Exception:
            self.metrics.errors.labels(self.name, job.protocol, "inference_error").inc()
            raise
        job.result = job.explained.scored
        return job

    async def postprocess(
        self, job: Job, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> dict[str, Any] | InferResponse:
        result = job.result
        assert result is not None
        answer: dict[str, Any] | InferResponse
        if job.explained is not None:
            answer = v1_explanations(job.records, job.explained)
        elif job.request is None:
            answer = v1_answer(job.records, result)
        else:
            answer = v2_answer(job.request, job.records, result, self.name)
        self.metrics.latency.labels(self.name, job.protocol).observe(
            time.perf_counter() - job.started
        )
        return answer

    # -- scoring thread --------------------------------------------------------------------

    def _score_batch(self, batch: Sequence[Records]) -> list[Scored]:
        active = self.reloader.active
        assert active is not None
        return self.scorer.score(active, batch)
