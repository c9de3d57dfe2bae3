"""Which versions serve: resolved from the store's aliases, reloaded when they move.

:meth:`Reloader.refresh` resolves the champion (and challenger) references, loads what
changed and swaps the new :class:`~customer_classifier.serving.scoring.ActiveModels` in
with one assignment, so a batch sees either the old models or the new ones. A watcher
thread calls it every ``reload_interval_s`` (0: only on demand, after the first load). A
version that fails to load (checksum, unpickling, a schema that differs from the running
one, a legacy bundle without a schema) keeps what serves; before the first success the
reason is what the readiness probe's logs show.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from customer_classifier.registry.store import TRAFFIC_SPLIT_STATE
from customer_classifier.serving.metrics import ServingMetrics
from customer_classifier.serving.models import ModelSource, ServedModel
from customer_classifier.serving.scoring import CHALLENGER_ROLE, CHAMPION_ROLE, ActiveModels
from customer_classifier.settings import S3Settings, ServingSettings

log = logging.getLogger(__name__)


class Reloader:
    """Holds the active models of one predictor and replaces them when the aliases move."""

    def __init__(
        self,
        name: str,
        settings: ServingSettings,
        metrics: ServingMetrics,
        on_swap: Callable[[bool], None],
        s3: S3Settings | None = None,
    ) -> None:
        """``on_swap(first)`` runs after each swap (``first``: nothing served before);
        ``s3`` reaches a store on S3 when ``model_uri`` names one."""
        self.name = name
        self.settings = settings
        self.metrics = metrics
        self.on_swap = on_swap
        self.source = ModelSource(settings.model_uri, verify=settings.verify_checksums, s3=s3)
        self.not_ready_reason = "the champion has not been loaded yet"
        self.active: ActiveModels | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Load in the background now, then re-check the aliases every reload interval."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="cc-reload", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        interval = self.settings.reload_interval_s
        retry = min(interval, 2.0) if interval > 0 else 2.0
        while not self._stop.is_set():
            self.refresh()
            if self.active is not None and interval <= 0:
                return
            self._stop.wait(interval if self.active is not None else retry)

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
                if self.active is None:
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
        current = self.active
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
        champion = self._keep_or_load(
            current.champion if current else None,
            settings.champion,
            champion_version,
            CHAMPION_ROLE,
        )
        challenger = None
        if challenger_version is not None and settings.challenger is not None:
            challenger = self._keep_or_load(
                current.challenger if current else None,
                settings.challenger,
                challenger_version,
                CHALLENGER_ROLE,
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
        percent = self._split_percent(challenger)
        if (
            current is not None
            and current.champion is champion
            and current.challenger is challenger
            and current.canary_percent == percent
        ):
            return False
        self.active = ActiveModels(champion, challenger, percent)  # one assignment: atomic swap
        if challenger is not None:
            shown = settings.canary_percent if percent is None else percent
            self.metrics.canary_percent.labels(self.name, challenger.version).set(
                shown if settings.challenger_mode == "canary" else 0
            )
        if (
            current is not None
            and current.champion is champion
            and current.challenger is challenger
        ):
            log.info(
                "canary share of %s now %s %%", challenger.version if challenger else None, percent
            )
            return True
        self.metrics.serving(
            CHAMPION_ROLE, champion.version, current.champion.version if current else None
        )
        old_challenger = current.challenger.version if current and current.challenger else None
        self.metrics.serving(
            CHALLENGER_ROLE, challenger.version if challenger else None, old_challenger
        )
        self.metrics.reloads.labels(self.name, "loaded").inc()
        self.on_swap(current is None)
        log.info(
            "serving %s (scorers: champion %s%s)",
            self.versions(),
            champion.scorer_kind,
            f", challenger {challenger.scorer_kind}" if challenger else "",
        )
        return True

    def _split_percent(self, challenger: ServedModel | None) -> float | None:
        """The canary's share from the store's traffic split (written by the rollout
        controller), for this challenger only: a split naming another version gives 0, so
        a stale split never routes customers to a model it was not meant for."""
        raw = self.source.read_state(TRAFFIC_SPLIT_STATE)
        if raw is None or challenger is None:
            return None
        split = json.loads(raw)
        if split.get("challenger") != challenger.version:
            return 0.0
        return float(max(0.0, min(100.0, float(split.get("canary_percent", 0)))))

    def _keep_or_load(
        self, running: ServedModel | None, reference: str, version: str, role: str
    ) -> ServedModel:
        if running is not None and running.version == version:
            return running
        return self.source.load(reference, version, role)

    def versions(self) -> dict[str, str | None]:
        active = self.active
        if active is None:
            return {CHAMPION_ROLE: None}
        return {
            CHAMPION_ROLE: active.champion.version,
            CHALLENGER_ROLE: active.challenger.version if active.challenger else None,
        }
