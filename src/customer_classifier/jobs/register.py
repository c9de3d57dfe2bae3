"""Registry step: register the bundle and move the aliases when it earns it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from customer_classifier.registry import CHALLENGER, CHAMPION, load_bundle, open_store
from customer_classifier.settings import Settings

# -- registry ------------------------------------------------------------------------------


def register_model(settings: Settings, bundle_dir: Path) -> dict[str, Any]:
    """Register the bundle, alias it challenger, and make it champion when it earns it.

    It earns it when, on the test window, its precision at the required recall beats the
    heuristic baseline's (the first model) and the current champion's recorded figure.
    """
    bundle = load_bundle(bundle_dir, check=False)
    store = open_store(settings.store_uri)
    version = store.register(bundle).version
    current = store.get_alias(CHAMPION)
    store.set_alias(CHALLENGER, version, reason="newly trained")
    mine = bundle.metadata["metrics"]["test"]["precision_at_min_recall"]
    baseline = bundle.metadata["baseline_metrics"]["test"]["precision_at_min_recall"]
    reasons = [
        f"precision@recall>={settings.min_recall:.2f}: {mine:.4f} vs heuristic {baseline:.4f}"
    ]
    promote = bundle.metadata["candidate"] != "heuristic" and mine > baseline
    if current is not None:
        theirs = store.get(current).metadata["metrics"]["test"]["precision_at_min_recall"]
        reasons.append(f"vs champion {current}: {theirs:.4f}")
        promote = promote and mine >= theirs
    if promote:
        store.set_alias(CHAMPION, version, expected=current, reason="; ".join(reasons))
    return {
        "version": version,
        "promoted": promote,
        "champion": store.get_alias(CHAMPION),
        "reasons": reasons,
    }
