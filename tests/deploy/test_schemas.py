"""Every object that ``make deploy`` applies is one the API server would accept.

Core and built-in kinds go through kubernetes-validate's strict schemas (unknown fields
rejected), for the oldest Kubernetes the chart supports (Chart.yaml's kubeVersion) and for
the kubectl this project pins; KServe's kinds through their CRD schemas
(tests/deploy/kserve_schemas.py). The other custom kinds (the Training Operator's TFJob,
the Prometheus Operator's monitors and rules) have no schema here: they are listed, so a
misspelt core kind can never slip through as "unknown".
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy import kserve_schemas
from tests.deploy.rendering import CHART, ENVIRONMENTS
from tests.deploy.renders import everything

LATEST = "1.35"
"""The minor of the pinned kubectl (scripts/ensure-k8s-tools.sh)."""
OTHER_CUSTOM_KINDS = {
    ("kubeflow.org", "TFJob"),
    ("monitoring.coreos.com", "PodMonitor"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
}


def oldest_supported() -> str:
    """The minor version of Chart.yaml's ``kubeVersion: >=1.x.y-0``."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    major, minor = str(chart["kubeVersion"]).lstrip(">= ").split(".")[:2]
    return f"{major}.{minor}"


def schema_findings(doc: dict[str, Any], version: str) -> list[str]:
    """Why the API server of ``version`` would refuse ``doc``; [] when it would accept it."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if kserve_schemas.is_kserve(doc):
        return kserve_schemas.findings(doc)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.path) or "(root)"
        return [f"{where} {path}: {error.message} (Kubernetes {version})"]
    except kubernetes_validate.SchemaNotFoundError:
        group = str(doc.get("apiVersion", "")).rpartition("/")[0]
        if (group, doc.get("kind")) not in OTHER_CUSTOM_KINDS:
            return [f"{where}: {doc.get('apiVersion')} {doc.get('kind')} is no known kind"]
    return []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_validates_against_the_kubernetes_schemas(env: str) -> None:
    objects = everything(env)
    assert len(objects) >= 8
    found = [
        f"{source}: {line}"
        for source, doc in objects
        for version in (oldest_supported(), LATEST)
        for line in schema_findings(doc, version)
    ]
    assert not found, "\n".join(found)


def test_the_oldest_version_comes_from_the_chart() -> None:
    assert oldest_supported() == "1.29"


# -- the checks bite ----------------------------------------------------------------------


def test_an_unknown_field_of_a_core_kind_is_refused() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "x"},
        "automountToken": False,
    }
    (line,) = schema_findings(doc, LATEST)
    assert "automountToken" in line


def test_a_misspelt_core_kind_is_not_taken_for_a_custom_one() -> None:
    doc = {"apiVersion": "v1", "kind": "ConfigMaps", "metadata": {"name": "x"}}
    assert schema_findings(doc, LATEST) == ["ConfigMaps/x: v1 ConfigMaps is no known kind"]


MINIMAL_ISVC: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "customer-classifier"},
    "spec": {
        "predictor": {
            "model": {
                "modelFormat": {"name": "customer-classifier"},
                "storageUri": "s3://mlpipeline/customer-classifier/versions/v1",
            }
        }
    },
}


@pytest.fixture(params=["crd", "sdk"])
def kserve_source(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The KServe check over the shared CRDs, and over the SDK's models without them."""
    if request.param == "crd" and not kserve_schemas.SCHEMA_DIR.is_dir():
        pytest.skip(f"{kserve_schemas.SCHEMA_DIR} is absent here")
    if request.param == "sdk":
        monkeypatch.setattr(kserve_schemas, "SCHEMA_DIR", kserve_schemas.ROOT / "no-such-folder")
    return str(request.param)


def test_a_valid_inference_service_passes_the_kserve_check(kserve_source: str) -> None:
    assert kserve_schemas.findings(MINIMAL_ISVC) == []


@pytest.mark.parametrize(
    "path", [("spec", "predictor", "model", "storageURI"), ("spec", "predictor", "canaryPercent")]
)
def test_an_unknown_field_of_an_inference_service_is_refused(
    path: tuple[str, ...], kserve_source: str
) -> None:
    doc = copy.deepcopy(MINIMAL_ISVC)
    node: dict[str, Any] = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "x"
    found = kserve_schemas.findings(doc)
    assert found
    assert path[-1] in " ".join(found)
