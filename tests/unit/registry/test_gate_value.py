"""The gate shows the business value beside precision, and never blocks on it."""

from __future__ import annotations

from typing import Any

from customer_classifier.registry.gate import decide
from tests.unit.registry.test_gate import inputs, status

CHECK = "business value beats the heuristic's"


def recorded(model: float, heuristic: float) -> dict[str, Any]:
    return {
        "true_positive": 100.0,
        "false_positive_cost": 50.0,
        "model_value": model,
        "heuristic_value": heuristic,
        "act_on_everyone_value": -1000.0,
        "threshold": 0.71,
        "value_threshold": 0.42,
        "value_at_value_threshold": model + 500.0,
    }


def test_a_model_worth_more_than_the_heuristic_passes_with_its_figures() -> None:
    decision = decide(inputs(business_value=recorded(5900.0, 3500.0)))
    assert decision.promoted
    assert status(decision, CHECK) == "pass"
    detail = next(c.detail for c in decision.checks if c.name == CHECK)
    for figure in ("5,900", "3,500", "-1,000", "0.7100", "0.4200", "6,400"):
        assert figure in detail
    assert CHECK in decision.to_markdown()


def test_a_model_worth_less_warns_and_is_still_promoted() -> None:
    decision = decide(inputs(business_value=recorded(3000.0, 3500.0)))
    assert status(decision, CHECK) == "warn"
    assert decision.promoted
    assert any(w.startswith(CHECK) for w in decision.warnings)


def test_a_version_without_value_figures_is_not_judged_on_them() -> None:
    decision = decide(inputs())
    assert status(decision, CHECK) == "n/a"
    assert decision.promoted
