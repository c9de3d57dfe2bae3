"""KServe objects checked as the API server checks them, unknown fields included.

With ``--validate=strict`` (kubectl's default since 1.27, helm's server-side apply) the
API server rejects a field the CRD's schema does not declare; a plain JSON-schema check
lets it through. So every object schema that neither lists ``additionalProperties`` nor
carries ``x-kubernetes-preserve-unknown-fields`` is closed here.

The schemas are the CRDs in ``../shared/schemas/kserve`` when that folder exists; without
it, the KServe SDK's models (``kserve.models``: each class lists its fields) check the
field names, which catches the same misspellings but not the types.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas" / "kserve"
GROUP = "serving.kserve.io"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are large
SDK_CLASSES = {
    "InferenceService": "V1beta1InferenceService",
    "ServingRuntime": "V1alpha1ServingRuntime",
    "ClusterServingRuntime": "V1alpha1ClusterServingRuntime",
}


def is_kserve(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(GROUP + "/")


def _closed(schema: Any) -> Any:
    """The schema with every object that declares properties closed to others."""
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@functools.cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any] | None:
    """The closed openAPIV3Schema of one kind and version (its CRD file is read once)."""
    path = SCHEMAS / f"{GROUP}_{kind.lower()}s.yaml"
    if not path.is_file():
        return None
    crd = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    for version in crd["spec"]["versions"]:
        if f"{crd['spec']['group']}/{version['name']}" == api_version:
            closed: dict[str, Any] = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            return closed
    return None


def findings(doc: Mapping[str, Any]) -> list[str]:
    """What the API server would refuse in one KServe object (empty when it is valid)."""
    where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
    if SCHEMAS.is_dir():
        schema = crd_schema(str(doc.get("kind")), str(doc.get("apiVersion")))
        if schema is None:
            return [f"{where}: no CRD schema for {doc.get('apiVersion')} {doc.get('kind')}"]
        validator = jsonschema.Draft7Validator(schema)
        return [
            f"{where} {'.'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in sorted(validator.iter_errors(dict(doc)), key=lambda e: list(e.path))
        ]
    return _sdk_findings(where, doc)


# -- without the CRDs: the SDK's field lists ------------------------------------------------


def _model_class(name: str) -> Any:
    import kserve.models as kserve_models
    import kubernetes.client.models as kubernetes_models

    return getattr(kserve_models, name, None) or getattr(kubernetes_models, name, None)


def _sdk_findings(where: str, doc: Mapping[str, Any]) -> list[str]:
    name = SDK_CLASSES.get(str(doc.get("kind")))
    if name is None:
        return [f"{where}: the KServe SDK has no model of {doc.get('kind')}"]
    return _walk(where, name, doc, "")


def _walk(where: str, type_name: str, value: Any, path: str) -> list[str]:
    listed = re.fullmatch(r"list\[(.+)\]", type_name)
    if listed:
        items = value if isinstance(value, list) else []
        return [
            f
            for n, item in enumerate(items)
            for f in _walk(where, listed.group(1), item, f"{path}[{n}]")
        ]
    mapped = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if mapped:
        entries = value.items() if isinstance(value, Mapping) else []
        return [f for k, v in entries for f in _walk(where, mapped.group(1), v, f"{path}.{k}")]
    cls = _model_class(type_name)
    if cls is None or not isinstance(value, Mapping):
        return []
    fields = {wire: attr for attr, wire in cls.attribute_map.items()}
    found: list[str] = []
    for key, child in value.items():
        here = f"{path}.{key}" if path else str(key)
        if key not in fields:
            found.append(f"{where} {here}: unknown field of {type_name}")
        else:
            found += _walk(where, cls.openapi_types[fields[key]], child, here)
    return found
