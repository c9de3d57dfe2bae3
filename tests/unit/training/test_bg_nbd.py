"""The BG/NBD candidate: its likelihood, its conditional expectations, and the estimator.

The data are drawn from the BG/NBD process itself (Poisson purchases while alive, a
geometric drop-out after each repeat purchase), so the truth is known.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import betaln

from customer_classifier.errors import CandidateSkippedError
from customer_classifier.features.build import FEATURE_NAMES
from customer_classifier.models.bg_nbd import (
    BetaGeometricNBD,
    _nan_to_zero,
    expected_purchases,
    fit_parameters,
    probability_alive,
    repeat_purchase_summary,
)
from customer_classifier.training.candidates import make_candidates

TRUE = {"r": 0.8, "alpha": 4.0, "a": 0.8, "b": 2.5}
HORIZON = 13.0  # weeks


def simulate(n: int, seed: int, params: dict[str, float] = TRUE) -> pd.DataFrame:
    """Per customer: x, t_x, T in weeks (first purchase at 0) and purchases in (T, T + h]."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    age = rng.uniform(10.0, 150.0, n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    x = np.zeros(n)
    last = np.zeros(n)
    future = np.zeros(n)
    while alive.any():
        clock = np.where(alive, clock + rng.exponential(1.0 / np.maximum(rate, 1e-12)), clock)
        alive &= clock <= age + HORIZON
        before, after = alive & (clock <= age), alive & (clock > age)
        x += before
        last = np.where(before, clock, last)
        future += after
        alive &= rng.random(n) >= drop
    return pd.DataFrame({"x": x, "t_x": last, "T": age, "future": future})


def as_records(sim: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Feature records (days) of simulated customers; other columns hold noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.random(len(sim)) for name in FEATURE_NAMES})
    frame["days_since_first_purchase"] = sim["T"] * 7
    frame["days_since_last_purchase"] = (sim["T"] - sim["t_x"]) * 7
    frame["orders_total"] = sim["x"] + 1
    frame["spend_total"] = frame["orders_total"] * rng.lognormal(3.5, 0.5, len(sim))
    return frame


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return simulate(6000, seed=1)


def test_summary_reads_frequency_recency_and_age_from_the_record() -> None:
    sim = pd.DataFrame({"x": [0.0, 3.0], "t_x": [0.0, 20.0], "T": [30.0, 50.0]})
    frequency, recency, age = repeat_purchase_summary(as_records(sim))
    np.testing.assert_allclose(frequency, [0, 3])
    np.testing.assert_allclose(recency, [0, 20])
    np.testing.assert_allclose(age, [30, 50])


def test_maximum_likelihood_recovers_the_parameters(population: pd.DataFrame) -> None:
    fitted = fit_parameters(*repeat_purchase_summary(as_records(population)))
    for name, truth in TRUE.items():
        assert fitted[name] == pytest.approx(truth, rel=0.25), name


@pytest.mark.parametrize("a", [0.4, 2.5])
def test_expected_purchases_match_the_integral_over_the_drop_out_probability(a: float) -> None:
    """Equation 10 against E[(1 - exp(-lambda p t)) / p] integrated numerically, a < 1 too."""
    params = {**TRUE, "a": a}
    r, alpha, b = params["r"], params["alpha"], params["b"]
    cases = np.array([[0, 0, 30.0], [3, 20, 50], [40, 140, 150], [400, 149, 150]])
    x, t_x, age = cases.T
    got = expected_purchases(params, x, t_x, age, HORIZON)
    alive = probability_alive(params, x, t_x, age)
    for i, (xi, _, ti) in enumerate(cases):

        def integrand(p: float, xi: float = xi, ti: float = ti) -> float:
            gain = 1 - ((alpha + ti) / (alpha + ti + p * HORIZON)) ** (r + xi)
            log_density = (a - 1) * np.log(p) + (b + xi - 1) * np.log1p(-p) - betaln(a, b + xi)
            return float(gain / p * np.exp(log_density))

        expected = quad(integrand, 0, 1, limit=200)[0] * alive[i]
        assert got[i] == pytest.approx(expected, rel=1e-6)


def test_expected_purchases_match_what_the_customers_then_buy(population: pd.DataFrame) -> None:
    frequency, recency, age = repeat_purchase_summary(as_records(population))
    predicted = expected_purchases(TRUE, frequency, recency, age, HORIZON)
    assert predicted.mean() == pytest.approx(population["future"].mean(), rel=0.08)
    busy = population["x"] >= 5
    assert predicted[busy].mean() == pytest.approx(population["future"][busy].mean(), rel=0.12)


def test_a_long_silence_lowers_p_alive_only_for_a_repeat_buyer() -> None:
    x = np.array([5.0, 5.0, 0.0])
    age = np.array([100.0, 100.0, 100.0])
    recency = np.array([95.0, 20.0, 0.0])
    alive = probability_alive(TRUE, x, recency, age)
    assert alive[0] > alive[1]
    assert alive[2] == 1.0  # no repeat purchase: BG/NBD cannot have seen a drop-out


def test_estimator_ranks_future_buyers_and_survives_joblib(
    population: pd.DataFrame, tmp_path: Path
) -> None:
    records = as_records(population)
    label = (population["future"] >= 2).astype(int).to_numpy()
    model = BetaGeometricNBD(horizon_days=HORIZON * 7).fit(records, label)
    assert set(model.params_) == {"r", "alpha", "a", "b", "monetary"}
    fresh = simulate(2000, seed=2)
    proba = model.predict_proba(as_records(fresh, seed=2))[:, 1]
    good = (fresh["future"] >= 2).to_numpy()
    assert proba[good].mean() > proba[~good].mean() + 0.2
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(as_records(fresh, seed=2))[:, 1], proba)


def test_a_likelihood_that_cannot_be_fitted_skips_the_candidate() -> None:
    nothing = np.zeros(10)
    with pytest.raises(CandidateSkippedError, match="BG/NBD likelihood did not converge"):
        fit_parameters(nothing, nothing, np.full(10, np.nan))


def test_the_candidate_uses_the_label_window_and_declares_its_columns() -> None:
    (candidate,) = make_candidates(("bg_nbd",), seed=0, horizon_days=60)
    assert candidate.estimator.horizon_days == 60
    assert set(candidate.requires) == {
        "days_since_first_purchase",
        "days_since_last_purchase",
        "orders_total",
    }
    assert candidate.grid == {"monetary": [False, True]}


def test_the_fast_nan_replacement_is_nan_to_num() -> None:
    """Null counts read as zero, infinities as the largest float, as ``np.nan_to_num``."""
    odd = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3.5, 1e308, -5.0])
    got = _nan_to_zero(odd)
    np.testing.assert_array_equal(got, np.nan_to_num(odd, nan=0.0))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.nan_to_num(odd, nan=0.0)))
