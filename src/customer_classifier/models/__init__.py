"""Deployable models that need more than a pickle: loaded by scoring and serving.

Serving imports features and registry, never training; a model class that a registered
version unpickles into therefore lives here, free of any training code.
"""
