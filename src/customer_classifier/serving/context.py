"""Per-request facts shared between the HTTP middleware and the predictor."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    """Set by the middleware for one inference request; filled in by the predictor."""

    pending: bool = False
    """Counted in :class:`~customer_classifier.serving.batching.Arrivals` until the request
    reaches the batcher."""
    model_version: str | None = None
    rows: int = 0


REQUEST_CONTEXT: ContextVar[RequestContext | None] = ContextVar("cc_request", default=None)
