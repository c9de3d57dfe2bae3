"""Online serving: the KServe predictor of the customer classifier and its request checks.

:class:`~customer_classifier.serving.predictor.CustomerClassifier` is the ``kserve.Model``;
``python -m customer_classifier.serving`` starts it in ``kserve.ModelServer``
(:mod:`~customer_classifier.serving.server`). Serving imports the feature schema and the
model registry, never training code.
"""
