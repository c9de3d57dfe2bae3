"""Reads the keys and values of a ConfigMap manifest or an env file, for ``config check``.

A platform engineer checks the ConfigMap of an overlay before it reaches a cluster; the
same check takes the ``KEY=VALUE`` file a laptop or a CI job sources.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from customer_classifier.errors import ConfigurationError


def read_keys(path: Path) -> dict[str, str]:
    """The ``data`` of every ConfigMap in a YAML file, or the pairs of an env file."""
    if not path.is_file():
        raise ConfigurationError(f"{path} does not exist; give a ConfigMap YAML or an env file")
    text = path.read_text(encoding="utf-8")
    if path.suffix in {".yaml", ".yml"}:
        return _configmap_data(path, text)
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigurationError(f"{path}:{number}: {line!r} is not KEY=VALUE")
        pairs[key.strip()] = value.strip().strip("'\"")
    return pairs


def _configmap_data(path: Path, text: str) -> dict[str, str]:
    try:
        documents = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from None
    data: dict[str, str] = {}
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
            continue
        data.update({str(k): str(v) for k, v in (document.get("data") or {}).items()})
    if not documents or not any(
        isinstance(d, dict) and d.get("kind") == "ConfigMap" for d in documents
    ):
        raise ConfigurationError(f"{path} holds no ConfigMap; give a kind: ConfigMap manifest")
    return data
