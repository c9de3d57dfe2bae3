"""The candidates' names: what ``CC_CANDIDATES`` lists and a version records as its
``candidate``. A leaf module, so the settings can check them without loading a model."""

HEURISTIC = "heuristic"
"""Recency, frequency and spend rules: the baseline every model must beat."""
LOGISTIC_REGRESSION = "logistic_regression"
GRADIENT_BOOSTING = "gradient_boosting"
BG_NBD = "bg_nbd"
"""The BG/NBD repeat-purchase model (``models/bg_nbd.py``)."""
KERAS_MLP = "keras_mlp"
"""The Keras network, trained on a GPU node in the pipeline."""

DEFAULT_CANDIDATES = (HEURISTIC, LOGISTIC_REGRESSION, GRADIENT_BOOSTING, BG_NBD)
KNOWN_CANDIDATES = (*DEFAULT_CANDIDATES, KERAS_MLP)
