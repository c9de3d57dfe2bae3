"""What a rollout would do, step by step, without doing it (``rollout start --dry-run``).

The patches are built by the same functions the controller sends, each applied in turn
to a copy of the InferenceService read from the cluster, so the plan shows exactly the
requests the rollout would make, in order, if every interval passed, and the one it would
make to roll back at any step.
"""

from __future__ import annotations

import copy
from typing import Any

from customer_classifier.rollout.analysis import RolloutPolicy
from customer_classifier.rollout.kubernetes import (
    Patch,
    promote_patch,
    restore_patch,
    rollback_patch,
    share_patch,
    start_patch,
)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _checks(policy: RolloutPolicy) -> list[dict[str, Any]]:
    return [
        {
            "check": check.name,
            "rule": check.comparison.value,
            "limit": check.limit,
            **({"floor": check.floor} if check.floor else {}),
            **({} if check.required else {"optional": True}),
        }
        for check in policy.checks
    ]


def kserve_plan(
    policy: RolloutPolicy,
    isvc: dict[str, Any],
    version: str,
    canary_uri: str,
    stable_uri: str,
) -> dict[str, Any]:
    """Every step of a KServe-mode rollout with the patch that gets there."""
    steps: list[dict[str, Any]] = []
    current = copy.deepcopy(isvc)
    shares = policy.partial_steps
    for index, percent in enumerate(shares):
        patch: Patch = (
            start_patch(current, version, canary_uri, percent)
            if index == 0
            else share_patch(current, percent)
        )
        current = merge(current, patch)
        steps.append(
            {
                "step": index,
                "canary_percent": percent,
                "patch": patch,
                "advance_after": f"{policy.intervals_per_step} passed interval(s) of "
                f"{policy.interval_s:g} s with at least {policy.min_requests} canary requests",
                "rollback_patches": [
                    p
                    for p in (
                        rollback_patch(current, stable_uri),
                        restore_patch(current, stable_uri),
                    )
                    if p is not None
                ],
            }
        )
    promotion = promote_patch(current)
    return {
        "inference_service": isvc["metadata"]["name"],
        "namespace": isvc["metadata"].get("namespace"),
        "canary": version,
        "checks": _checks(policy),
        "roll_back_after": f"{policy.failure_threshold} failed interval(s) in a row, or "
        f"{policy.max_intervals_per_step} judged intervals without advancing",
        "steps": steps,
        "promotion": {"patch": promotion, "registry": f"champion -> {version}"},
        "result": merge(current, promotion)["spec"],
    }


def predictor_plan(policy: RolloutPolicy, store_uri: str, version: str) -> dict[str, Any]:
    """Every step of a predictor-mode rollout: the registry writes it would make."""
    return {
        "store": store_uri,
        "canary": version,
        "checks": _checks(policy),
        "steps": [
            {
                "step": index,
                "canary_percent": percent,
                "registry": {
                    "alias": f"canary -> {version}",
                    "traffic_split.json": {"challenger": version, "canary_percent": percent},
                },
            }
            for index, percent in enumerate(policy.partial_steps)
        ],
        "promotion": {
            "registry": f"champion -> {version}",
            "traffic_split.json": {"challenger": version, "canary_percent": 0},
        },
    }
