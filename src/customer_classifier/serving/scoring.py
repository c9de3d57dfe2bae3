"""One micro-batch scored by the champion, with the challenger routed in as configured.

* no challenger: the champion scores the batch;
* **canary**: the challenger answers for the records whose customer is in its share
  (:func:`~customer_classifier.serving.routing.challenger_rows`, sticky by customer_id),
  the champion for the rest;
* **shadow**: the champion answers; the challenger scores the same batch in a thread of
  its own and is only compared, in metrics. When it lags by ``shadow_queue_batches``
  batches, further batches are skipped (and counted) rather than queued, so the
  challenger never holds the champion's answers back.

Runs in the scoring thread; the models come from the :class:`ActiveModels` of the batch,
so a reload between two batches never mixes versions within one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.models import ServedModel
from customer_classifier.serving.records import Records, Scored
from customer_classifier.serving.routing import challenger_rows

log = logging.getLogger(__name__)
CHAMPION_ROLE, CHALLENGER_ROLE = "champion", "challenger"


@dataclass(frozen=True)
class ActiveModels:
    """What serves right now; replaced as a whole on reload."""

    champion: ServedModel
    challenger: ServedModel | None = None
    canary_percent: float | None = None
    """The canary's share from the registry's traffic split, for this challenger; None:
    the configured ``CC_SERVING__CANARY_PERCENT``."""


def fast_sklearn() -> None:
    """Skip the per-call input checks in a scoring thread (requests are validated; the
    checks never change a score) and keep native thread pools at one thread: a batch is
    small, and spinning OpenMP threads on a busy node costs more than it saves."""
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
    threadpool_limits(limits=1)


def _columns(batch: Sequence[Records], names: Sequence[str]) -> dict[str, np.ndarray]:
    if len(batch) == 1:
        return batch[0].columns
    return {n: np.concatenate([r.columns[n] for r in batch]) for n in names}


class BatchScorer:
    """Scores batches for one model name; owns the shadow challenger's thread."""

    def __init__(
        self,
        name: str,
        metrics: ServingMetrics,
        *,
        mode: str,
        canary_percent: float,
        shadow_queue_batches: int,
    ) -> None:
        self.name = name
        self.metrics = metrics
        self.canary = mode == "canary"
        self.shadow = mode == "shadow"
        self.canary_percent = canary_percent
        self._shadow = ThreadPoolExecutor(
            1, thread_name_prefix="cc-shadow", initializer=fast_sklearn
        )
        self._shadow_slots = threading.BoundedSemaphore(shadow_queue_batches)

    def stop(self) -> None:
        self._shadow.shutdown(wait=False, cancel_futures=True)

    def score(self, active: ActiveModels, batch: Sequence[Records]) -> list[Scored]:
        """Each request's share of the scored batch, in the batch's order."""
        started = time.perf_counter()
        champion, challenger = active.champion, active.challenger
        columns = _columns(batch, champion.schema.names)
        rows = sum(r.rows for r in batch)
        versions: np.ndarray | None = None
        percent = self.canary_percent if active.canary_percent is None else active.canary_percent
        if self.canary and challenger is not None and percent > 0:
            scores, labels, versions = self._canary(
                champion, challenger, batch, columns, rows, percent
            )
        else:
            scores, labels = champion.score(columns)
            self.metrics.observe_scores(CHAMPION_ROLE, champion.version, scores, labels)
            if challenger is not None and self.shadow:
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

    def _canary(
        self,
        champion: ServedModel,
        challenger: ServedModel,
        batch: Sequence[Records],
        columns: dict[str, np.ndarray],
        rows: int,
        percent: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids: list[int | None] = []
        for records in batch:
            ids.extend(records.customer_ids or [None] * records.rows)
        chosen = challenger_rows(ids, percent)
        scores = np.empty(rows, dtype=np.float64)
        labels = np.empty(rows, dtype=object)
        versions = np.full(rows, champion.version, dtype=object)
        if chosen.any():
            try:
                self._score_part(challenger, columns, chosen, scores, labels, versions)
            except Exception:
                # A failing canary must not fail requests: the champion answers for its
                # rows, and the failure is counted for the rollout's error check.
                log.exception("canary challenger %s failed on a batch", challenger.version)
                failed = int(np.count_nonzero(chosen))
                self.metrics.model_failed_rows.labels(
                    self.name, challenger.role, challenger.version
                ).inc(failed)
                chosen = np.zeros(rows, dtype=bool)
        self._score_part(champion, columns, ~chosen, scores, labels, versions)
        return scores, labels, versions

    def _score_part(
        self,
        model: ServedModel,
        columns: dict[str, np.ndarray],
        mask: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        versions: np.ndarray,
    ) -> None:
        if not mask.any():
            return
        started = time.perf_counter()
        part = {n: c[mask] for n, c in columns.items()}
        part_scores, part_labels = model.score(part)
        self.metrics.model_seconds.labels(self.name, model.role, model.version).observe(
            time.perf_counter() - started
        )
        scores[mask], labels[mask] = part_scores, part_labels
        versions[mask] = model.version
        self.metrics.observe_scores(model.role, model.version, part_scores, part_labels)

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
