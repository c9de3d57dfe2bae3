"""What Prometheus says about the canary and the stable model over one analysis interval.

The adapter between the rollout's checks and Prometheus' HTTP query API
(``/api/v1/query``). Each check's PromQL is a setting (:class:`RolloutSettings`), run once
per side with that side's label matcher, over the same window, at the same evaluation
time, so the two figures are comparable.

A Prometheus that is down, slow, answers an error or has no series gives no figure, never
a zero: the decision engine pauses on that and never promotes without evidence. The
score divergence is computed here from the two sides' ``cc_serving_score`` buckets
(Jensen-Shannon distance, base 2, so 0 is the same histogram and 1 disjoint ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
from scipy.spatial.distance import jensenshannon

from customer_classifier.rollout.analysis import Measurement, Snapshot
from customer_classifier.settings import RolloutSettings


class NoDataError(Exception):
    """One query gave no usable answer; the message says why (for the pause reason)."""


@dataclass(frozen=True)
class Side:
    """The series of one model: its registry version and the label matcher selecting them."""

    version: str
    selector: str


def window_of(interval_s: float) -> str:
    """The PromQL range of one analysis interval, in whole seconds."""
    return f"{max(1, math.ceil(interval_s))}s"


@dataclass
class PrometheusQueries:
    """Instant queries against one Prometheus, each with a timeout."""

    url: str
    timeout_s: float = 5.0
    session: requests.Session = field(default_factory=requests.Session)

    def _vector(self, promql: str, at: float | None) -> list[dict[str, Any]]:
        params: dict[str, str] = {"query": promql, "timeout": f"{self.timeout_s:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            response = self.session.get(
                f"{self.url.rstrip('/')}/api/v1/query", params=params, timeout=self.timeout_s
            )
        except requests.Timeout as exc:
            raise NoDataError(
                f"Prometheus at {self.url} did not answer in {self.timeout_s:g} s"
            ) from exc
        except requests.RequestException as exc:
            raise NoDataError(
                f"Prometheus at {self.url} is unreachable ({type(exc).__name__})"
            ) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise NoDataError(
                f"Prometheus answered HTTP {response.status_code} without JSON"
            ) from exc
        if body.get("status") != "success":
            raise NoDataError(
                f"Prometheus refused {promql!r}: {body.get('errorType')}: {body.get('error')}"
            )
        data = body.get("data", {})
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data.get("result", [])
        return result

    def scalar(self, promql: str, at: float | None = None) -> float:
        """The single value of ``promql``; no series, several series or NaN are failures."""
        series = self._vector(promql, at)
        if not series:
            raise NoDataError(f"no series for {promql!r}")
        if len(series) > 1:
            raise NoDataError(f"{len(series)} series for {promql!r}; aggregate it with sum()")
        value = float(series[0]["value"][1])
        if not math.isfinite(value):
            raise NoDataError(f"{promql!r} is {value} (no samples in the window)")
        return value

    def by_label(self, promql: str, label: str, at: float | None = None) -> dict[str, float]:
        """The values of ``promql`` keyed by one label (buckets by ``le``, errors by reason)."""
        return {
            str(s["metric"].get(label, "")): float(s["value"][1]) for s in self._vector(promql, at)
        }


def histogram_shares(cumulative: Mapping[str, float]) -> np.ndarray:
    """Per-bucket shares from Prometheus' cumulative ``le`` buckets (``+Inf`` last)."""
    bounds = sorted(cumulative, key=lambda le: math.inf if le == "+Inf" else float(le))
    counts = np.array([cumulative[le] for le in bounds], dtype=float)
    per_bucket = np.diff(counts, prepend=0.0).clip(min=0.0)
    total = per_bucket.sum()
    if total <= 0:
        raise NoDataError("the score histogram is empty in the window")
    shares: np.ndarray = per_bucket / total
    return shares


def score_divergence(canary: Mapping[str, float], stable: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (base 2) between the two score histograms."""
    if set(canary) != set(stable):
        raise NoDataError(
            f"the two sides' score buckets differ ({sorted(canary)} vs {sorted(stable)}); "
            "both must export the same cc_serving_score buckets"
        )
    # Equal histograms can round to a divergence a hair below zero, whose square root
    # scipy returns as NaN: that is the distance 0, not a missing figure.
    with np.errstate(invalid="ignore"):
        distance = float(jensenshannon(histogram_shares(canary), histogram_shares(stable), base=2))
    return 0.0 if math.isnan(distance) else distance


@dataclass
class CanaryMetrics:
    """Every check's figures for one interval, as the decision engine takes them."""

    queries: PrometheusQueries
    settings: RolloutSettings
    clock: Callable[[], float] = time.time
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: RolloutSettings) -> CanaryMetrics:
        return cls(PrometheusQueries(settings.prometheus_url, settings.query_timeout_s), settings)

    def sides(self, canary_version: str, stable_version: str) -> tuple[Side, Side]:
        return (
            Side(canary_version, self.settings.canary_selector.format(version=canary_version)),
            Side(stable_version, self.settings.stable_selector.format(version=stable_version)),
        )

    def _try(self, what: str, compute: Callable[[], float]) -> float | None:
        try:
            return compute()
        except NoDataError as exc:
            self.problems.append(f"{what}: {exc}")
            return None

    def snapshot(self, canary: Side, stable: Side, interval_s: float) -> Snapshot:
        """One interval ending now: the same window and evaluation time for both sides."""
        self.problems = []
        at = self.clock()
        window = window_of(interval_s)
        s = self.settings

        def run(template: str, side: Side) -> Callable[[], float]:
            promql = template.format(selector=side.selector, window=window, version=side.version)
            return lambda: self.queries.scalar(promql, at)

        def pair(name: str, template: str) -> Measurement:
            return Measurement(
                self._try(f"{name} (canary)", run(template, canary)),
                self._try(f"{name} (stable)", run(template, stable)),
            )

        def divergence() -> float:
            def buckets(side: Side) -> dict[str, float]:
                promql = s.query_score_buckets.format(selector=side.selector, window=window)
                return self.queries.by_label(promql, "le", at)

            return score_divergence(buckets(canary), buckets(stable))

        good = pair("good share", s.query_good_share)
        label_shift = (
            abs(good.canary - good.stable)
            if good.canary is not None and good.stable is not None
            else None
        )
        shadow_promql = s.query_shadow_agreement.format(version=canary.version, window=window)
        try:
            shadow: float | None = self.queries.scalar(shadow_promql, at)
        except NoDataError:
            shadow = None  # no shadow ran: the optional check is skipped, not a problem
        measurements = {
            "error_ratio": pair("error ratio", s.query_error_ratio),
            "latency_p99_seconds": pair("p99 latency", s.query_latency_p99),
            "score_divergence": Measurement(self._try("score divergence", divergence)),
            "label_mix_shift": Measurement(label_shift),
            "shadow_agreement": Measurement(shadow),
        }
        requests_served = self._try("canary requests", run(s.query_requests, canary))
        return Snapshot(requests_served, measurements, problems=tuple(self.problems))

    def errors_by_reason(self, side: Side, interval_s: float) -> dict[str, float]:
        """The side's errors in the interval by reason, for the rollout's report."""
        promql = self.settings.query_errors_by_reason.format(
            selector=side.selector, window=window_of(interval_s)
        )
        try:
            return self.queries.by_label(promql, "reason")
        except NoDataError:
            return {}
