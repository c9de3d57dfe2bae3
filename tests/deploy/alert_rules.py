"""The chart's PrometheusRule as promtool sees it: rendered per environment, with the
values it rendered from, and promtool's series notation.

Shared by the chart's rule tests and by any test that replays recorded series through
the chart's alerts (the nightly monitoring's, for one).
"""

from __future__ import annotations

import functools
import math
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.utils import floatToGoString

from .rendering import CHART, by_kind, helm_template

PROMTOOL_HINT = "run 'bash scripts/ensure-prometheus.sh' (make test does) to install promtool"
METRIC = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
"""A metric name in PromQL, as the chart's rules write every selector: name{...}."""


# -- values and rendering ------------------------------------------------------------------


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the defaults: maps merge, the rest replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def chart_values(env: str | None) -> dict[str, Any]:
    """The values an environment renders with (the defaults alone for ``None``)."""
    defaults: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    if env is None:
        return defaults
    override = yaml.safe_load((CHART / f"values-{env}.yaml").read_text(encoding="utf-8"))
    return _merge(defaults, override or {})


@functools.cache
def render(env: str | None, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The chart rendered once per environment and overrides; callers only read it."""
    docs: list[dict[str, Any]] = helm_template(env, sets=sets)
    return docs


def prometheus_rule(env: str | None, sets: Sequence[str] = ()) -> dict[str, Any]:
    rules = by_kind(render(env, tuple(sets)), "PrometheusRule")
    assert len(rules) == 1, f"expected one PrometheusRule, got {len(rules)}"
    rule: dict[str, Any] = rules[0]
    return rule


def le_label(bound: float) -> str:
    """A bucket bound as the ``le`` label of prometheus_client reads."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def seconds(duration: str) -> int:
    """A Prometheus duration (``1h30m``, ``5m``, ``0m``) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return int(sum(int(n) * units[u] for n, u in parts))


def minutes(*durations: str) -> int:
    return math.ceil(sum(seconds(d) for d in durations) / 60)


def labels_text(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def ramp(*segments: tuple[float, int]) -> str:
    """A counter that grows by ``increment`` a sample for ``count`` samples, segment after
    segment, in promtool's expanding notation (starting at 0)."""
    parts, value = [], 0.0
    for index, (increment, count) in enumerate(segments):
        start = value if index == 0 else value + increment
        steps = count if index == 0 else count - 1
        parts.append(f"{_num(start)}+{_num(increment)}x{steps}")
        value = start + increment * steps
    return " ".join(parts)


def constant(value: float, count: int) -> str:
    return f"{_num(value)}x{count}"


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def rendered_annotations(template: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    """An alert's annotations as Prometheus renders them for ``labels``; the chart's use
    only ``{{ $labels.NAME }}``, anything else would make them unpredictable."""

    def fill(text: str) -> str:
        out = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        assert "{{" not in out, f"annotation template beyond $labels: {text}"
        return out

    return {key: fill(text) for key, text in template.items()}


def rules_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rule of every group, in order."""
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


def write_rules(rule: dict[str, Any], path: Path) -> Path:
    """The PrometheusRule's groups as a rules file that promtool and Prometheus read."""
    path.write_text(
        yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False), encoding="utf-8"
    )
    return path


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(f"promtool is not on PATH; {PROMTOOL_HINT}")
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd)
