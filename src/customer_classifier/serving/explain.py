"""KServe V1 ``:explain`` (``POST /v1/models/NAME:explain``): the reasons behind each score.

The body is a V1 ``:predict`` body, checked the same way. Each record is answered with
its score, label and model version as ``:predict`` gives them, plus the contribution of
every feature to the log-odds, the baseline they are measured from, the method, and the
top reasons (:mod:`customer_classifier.evaluation.contributions`). The champion explains:
in canary mode a customer may be scored by the challenger on ``:predict``, but the
explanation is always the champion's, named by ``model_version``.

A model without contributions (the rules baseline, BG/NBD, the Keras network) is
answered 501 Not Implemented, KServe's answer for a verb a model does not implement,
with a message naming the model type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from customer_classifier.data.contract import GOOD
from customer_classifier.evaluation.contributions import Contributions
from customer_classifier.serving.models import ServedModel
from customer_classifier.serving.records import Records, Scored
from customer_classifier.serving.schema import CUSTOMER_ID


class ExplanationUnsupportedError(NotImplementedError):
    """The served model has no contributions; KServe answers NotImplementedError with 501."""


@dataclass(frozen=True)
class Explained:
    scored: Scored
    contributions: Contributions


def unsupported(model: ServedModel, name: str) -> ExplanationUnsupportedError:
    return ExplanationUnsupportedError(
        f"model {name!r} (version {model.version}) cannot explain: {model.explain_problem}; "
        f"use :predict, or serve a logistic-regression or gradient-boosting version"
    )


def explain_records(model: ServedModel, records: Records, name: str) -> Explained:
    """Scores and contributions of one request's validated records (scoring thread)."""
    if model.explainer is None:
        raise unsupported(model, name)
    scores, labels = model.score(records.columns)
    frame = pd.DataFrame(dict(records.columns), columns=list(model.schema.names), copy=False)
    contributions = model.explainer.explain(frame)
    return Explained(Scored(scores, labels, [model.version] * records.rows), contributions)


def v1_explanations(records: Records, explained: Explained) -> dict[str, Any]:
    """``{"explanations": [{score, label, model_version, baseline, method,
    contributions: {feature: log-odds}, reasons: [...]}, ...]}``."""
    scored, found = explained.scored, explained.contributions
    reasons = found.reasons(scored.labels == GOOD)
    out = []
    for i, (score, label) in enumerate(
        zip(scored.scores.tolist(), scored.labels.tolist(), strict=True)
    ):
        entry: dict[str, Any] = {
            "score": score,
            "label": label,
            "model_version": scored.versions[i],
            "method": found.method,
            "baseline": found.baseline,
            "contributions": found.record(i),
            "reasons": [r for r in reasons[i] if r is not None],
        }
        ids = records.customer_ids
        if ids is not None and ids[i] is not None:
            entry[CUSTOMER_ID] = ids[i]
        out.append(entry)
    return {"explanations": out}
