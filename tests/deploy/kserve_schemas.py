"""KServe objects checked as the API server checks them, unknown fields included.

The CRDs' ``openAPIV3Schema`` (``../shared/schemas/kserve`` beside the checkout) is the
reference: a field that is not declared fails, as it does under ``kubectl apply``'s strict
field validation, except below ``x-kubernetes-preserve-unknown-fields``. Where those files
are absent, the KServe SDK's models stand in: every key must be one of a model's
``attribute_map`` names, recursively down to the Kubernetes client's own models.

    from tests.deploy.kserve_schemas import kserve_errors
    assert kserve_errors(doc) == []
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT.parent / "shared" / "schemas" / "kserve"
GROUP = "serving.kserve.io"
Schema = dict[str, Any]


def is_kserve(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith(f"{GROUP}/")


def strict(schema: Any) -> Any:
    """A copy of ``schema`` where every object that lists its ``properties`` refuses
    others, unless it preserves unknown fields (as the API server prunes or rejects)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas(folder: Path = SCHEMA_DIR) -> dict[tuple[str, str], Schema]:
    """(apiVersion, kind) -> strict schema, for every served version of every CRD file."""
    schemas: dict[tuple[str, str], Schema] = {}
    for path in sorted(folder.glob("*.yaml")):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # 2 MB of YAML: C is 10x
        for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                schemas[(f"{group}/{version['name']}", kind)] = strict(copy.deepcopy(schema))
    return schemas


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<root>"


def crd_errors(doc: dict[str, Any], folder: Path = SCHEMA_DIR) -> list[str]:
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    schema = crd_schemas(folder).get(key)
    if schema is None:
        return [f"{key[1]} {key[0]}: no CRD in {folder} declares it"]
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{_path(e)}: {e.message}" for e in validator.iter_errors(doc))


# --- the SDK's models, where the CRD files are absent -------------------------------

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\((\w+), (.+)\)$")
_PRIMITIVE: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "object": object,
    "datetime": str,
    "date": str,
}


def _model(name: str) -> Any:
    import kserve
    import kubernetes.client

    for module in (kserve, kubernetes.client):
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _walk(value: Any, type_name: str, where: str) -> Iterator[str]:
    if value is None:
        return
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            yield f"{where}: expected a list ({type_name}), got {type(value).__name__}"
            return
        for index, item in enumerate(value):
            yield from _walk(item, match.group(1), f"{where}.{index}")
        return
    if match := _DICT.match(type_name):
        if not isinstance(value, dict):
            yield f"{where}: expected a map ({type_name}), got {type(value).__name__}"
            return
        for key, item in value.items():
            yield from _walk(item, match.group(2), f"{where}.{key}")
        return
    if type_name in _PRIMITIVE:
        expected = _PRIMITIVE[type_name]
        if type_name == "str" and isinstance(value, (int, float)) and where.endswith("port"):
            return  # IntOrString
        if not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool)):
            yield f"{where}: expected {type_name}, got {value!r}"
        return
    model = _model(type_name)
    if model is None:
        return  # a type the SDK does not model (quantities, IntOrString): not checked
    if not isinstance(value, dict):
        yield f"{where}: expected an object ({type_name}), got {value!r}"
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            yield f"{where}.{key}: unknown field of {type_name}"
            continue
        yield from _walk(item, model.openapi_types[by_json[key]], f"{where}.{key}")


def sdk_errors(doc: dict[str, Any]) -> list[str]:
    version = str(doc.get("apiVersion", "")).split("/")[-1]
    name = f"{version.capitalize()}{doc.get('kind')}"
    if _model(name) is None:
        return [f"{doc.get('kind')} {doc.get('apiVersion')}: the KServe SDK has no model {name}"]
    return sorted(_walk(doc, name, "<root>"))


def kserve_errors(doc: dict[str, Any], folder: Path = SCHEMA_DIR) -> list[str]:
    """What the API server would refuse in one KServe object: [] when it is valid."""
    if folder.is_dir() and any(folder.glob("*.yaml")):
        return crd_errors(doc, folder)
    return sdk_errors(doc)


def findings(doc: dict[str, Any]) -> list[str]:
    """:func:`kserve_errors` over the folder the module names at call time, so a test can
    point ``SCHEMA_DIR`` elsewhere to exercise the SDK fallback."""
    return kserve_errors(doc, SCHEMA_DIR)
