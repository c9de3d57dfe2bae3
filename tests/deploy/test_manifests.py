"""The kustomize overlays, and the security rules that hold for the chart too.

Per environment: its namespace with the labels Kubeflow and Pod Security admission read,
the ServiceAccounts, the namespaced Role, the ConfigMaps (the settings one generated
from the settings tree and accepted by ``config check``), and one object store named the
same way everywhere. For every render (overlay, training TFJob, chart): the restricted
pod security fields, the RBAC scope and no secret value; the checks themselves are shown
to bite on small broken objects.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from customer_classifier.cli import main as cli
from pipelines import configmap
from pipelines.platform import (
    CONFIG_KEYS,
    CONFIG_MAP,
    DATABASE_SECRET,
    PIPELINE_SERVICE_ACCOUNT,
    STORE_SECRET,
)
from tests.deploy import policies
from tests.deploy.rendering import CHART, ENVIRONMENTS, NAMESPACES, ROOT, by_kind
from tests.deploy.renders import chart, everything, overlay, training

BASE_CONFIG = ROOT / "manifests" / "base" / "config" / "customer-classifier-config.yaml"
PIPELINE_SA = PIPELINE_SERVICE_ACCOUNT
PREDICTOR_SA = "customer-classifier-predictor"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterServingRuntime"}


def one(docs: Any, kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


# -- the settings ConfigMap ---------------------------------------------------------------


def test_the_committed_configmap_is_what_the_generator_writes() -> None:
    assert BASE_CONFIG.read_text(encoding="utf-8") == configmap.render(), (
        "regenerate it: python -m pipelines.configmap --write "
        "manifests/base/config/customer-classifier-config.yaml (or make config-reference)"
    )


def test_the_generator_check_names_a_stale_file_and_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert configmap.main(["--check", str(BASE_CONFIG)]) == 0
    stale = tmp_path / "config.yaml"
    stale.write_text(configmap.render().replace("'365'", "'30'"))
    assert configmap.main(["--check", str(stale)]) == 1
    assert f"python -m pipelines.configmap --write {stale}" in capsys.readouterr().err
    assert configmap.main(["--write", str(stale)]) == 0
    assert stale.read_text() == configmap.render()


def test_its_keys_are_the_settings_a_task_reads() -> None:
    doc = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    assert doc["metadata"]["name"] == CONFIG_MAP
    assert set(doc["data"]) <= set(CONFIG_KEYS)
    commented = {k for k in CONFIG_KEYS if f"# {k}: unset by default" in BASE_CONFIG.read_text()}
    assert set(doc["data"]) | commented == set(CONFIG_KEYS)
    assert all(isinstance(value, str) for value in doc["data"].values())


def test_config_check_accepts_the_base(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["config", "check", str(BASE_CONFIG)]) == 0
    assert '"valid": true' in capsys.readouterr().out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_config_check_accepts_each_overlay(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered = tmp_path / f"{CONFIG_MAP}-{env}.yaml"
    rendered.write_text(yaml.safe_dump(one(overlay(env), "ConfigMap", CONFIG_MAP)))
    assert cli(["config", "check", str(rendered)]) == 0
    assert '"valid": true' in capsys.readouterr().out


def test_config_check_refuses_a_misspelt_overlay_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = one(overlay("dev"), "ConfigMap", CONFIG_MAP)
    doc["data"]["CC_STORE_URL"] = "s3://mlpipeline/x"
    rendered = tmp_path / "bad.yaml"
    rendered.write_text(yaml.safe_dump(doc))
    assert cli(["config", "check", str(rendered)]) == 2
    assert "CC_STORE_URL is not a setting; did you mean CC_STORE_URI?" in capsys.readouterr().err


# -- each overlay -------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_namespace_carries_the_kubeflow_and_pod_security_labels(env: str) -> None:
    (namespace,) = by_kind(overlay(env), "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACES[env] == f"ml-{env}"
    labels = namespace["metadata"]["labels"]
    assert labels["pipelines.kubeflow.org/enabled"] == "true"
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_is_in_the_namespace_and_labelled(env: str) -> None:
    for doc in (*overlay(env), *training(env)):
        metadata = doc["metadata"]
        labels = metadata.get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "customer-classifier", doc["kind"]
        assert labels.get("app.kubernetes.io/part-of") == "customer-classifier", doc["kind"]
        assert labels.get("app.kubernetes.io/instance") == "customer-classifier", doc["kind"]
        assert labels.get("environment") == env, doc["kind"]
        if doc["kind"] not in CLUSTER_SCOPED:
            assert metadata.get("namespace") == NAMESPACES[env], policies.name_of(doc)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pipeline_runs_hold_only_their_role(env: str) -> None:
    docs = overlay(env)
    one(docs, "ServiceAccount", PIPELINE_SA)
    binding = one(docs, "RoleBinding", PIPELINE_SA)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": PIPELINE_SA,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PIPELINE_SA, "namespace": NAMESPACES[env]}
    ]
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"])): r
        for r in one(docs, "Role", PIPELINE_SA)["rules"]
    }
    isvc = rules[(("serving.kserve.io",), ("inferenceservices",))]
    assert set(isvc["verbs"]) == {"get", "list", "watch", "patch"}
    configmaps = rules[(("",), ("configmaps",))]
    assert set(configmaps["resourceNames"]) == {CONFIG_MAP, "kfp-launcher"}
    assert configmaps["verbs"] == ["get"]
    secrets = rules[(("",), ("secrets",))]
    assert set(secrets["resourceNames"]) == {DATABASE_SECRET, STORE_SECRET}
    assert secrets["verbs"] == ["get"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_predictor_account_names_the_store_secret_and_holds_no_token(env: str) -> None:
    account = one(overlay(env), "ServiceAccount", PREDICTOR_SA)
    assert account["secrets"] == [{"name": STORE_SECRET}]
    assert account["automountServiceAccountToken"] is False
    assert not [b for b in by_kind(overlay(env), "RoleBinding") if PREDICTOR_SA in str(b)]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_store_and_pipeline_root_are_the_environments_own_and_agree(env: str) -> None:
    docs = overlay(env)
    config = one(docs, "ConfigMap", CONFIG_MAP)["data"]
    launcher = one(docs, "ConfigMap", "kfp-launcher")["data"]
    annotations = one(docs, "ServiceAccount", PREDICTOR_SA)["metadata"]["annotations"]
    store = urlsplit(config["CC_STORE_URI"])
    root = urlsplit(launcher["defaultPipelineRoot"])
    assert store.scheme == root.scheme == "s3"
    assert store.path.rstrip("/").endswith(f"/{env}")
    assert root.path.rstrip("/").endswith(f"/pipeline-root/{env}")
    endpoint = urlsplit(config["CC_S3__ENDPOINT"])
    https = endpoint.scheme == "https"
    provider = yaml.safe_load(launcher["providers"])["s3"]["default"]
    assert provider["endpoint"] == annotations["serving.kserve.io/s3-endpoint"] == endpoint.netloc
    assert provider["disableSSL"] is not https
    assert annotations["serving.kserve.io/s3-usehttps"] == ("1" if https else "0")
    assert provider["region"] == annotations["serving.kserve.io/s3-region"]
    assert provider["region"] == config["CC_S3__REGION"]
    assert provider["credentials"]["secretRef"]["secretName"] == STORE_SECRET


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_training_job_runs_in_the_environment_only_on_demand(env: str) -> None:
    (job,) = by_kind(training(env), "TFJob")
    assert job["metadata"]["namespace"] == NAMESPACES[env]
    assert not by_kind(overlay(env), "TFJob")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_chart_creates_nothing_the_overlay_already_owns(env: str) -> None:
    rendered = chart(env)
    if rendered is None:
        pytest.skip(f"{CHART.name}/values-{env}.yaml does not exist yet")
    ours = {(d["kind"], d["metadata"]["name"]) for d in overlay(env)}
    both = sorted(ours & {(d["kind"], d["metadata"]["name"]) for d in rendered})
    assert not both, (
        f"{both} are created by manifests/overlays/{env} and by the chart: helm refuses to "
        f"adopt them; set serviceAccount.create: false (name {PREDICTOR_SA}) in values-{env}.yaml"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_chart_serves_under_the_overlays_predictor_account(env: str) -> None:
    rendered = chart(env)
    if rendered is None:
        pytest.skip(f"{CHART.name}/values-{env}.yaml does not exist yet")
    services = by_kind(rendered, "InferenceService")
    assert services, f"the chart renders no InferenceService with values-{env}.yaml"
    for service in services:
        account = service["spec"]["predictor"].get("serviceAccountName")
        assert account == PREDICTOR_SA, (
            f"{policies.name_of(service)} runs as {account!r}; set serviceAccount.name: "
            f"{PREDICTOR_SA} in values-{env}.yaml (the overlay's account holds the store Secret)"
        )


# -- security, over every render ----------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_template_meets_the_restricted_standard(env: str) -> None:
    templates = [
        (f"{source} {where}", pod)
        for source, doc in everything(env)
        for where, pod in policies.pod_templates(doc)
    ]
    assert any("TFJob" in where for where, _ in templates)
    found = [line for where, pod in templates for line in policies.restricted_findings(where, pod)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rbac_stays_in_the_namespace_without_wildcards(env: str) -> None:
    objects = everything(env)
    assert any(doc["kind"] == "Role" for _, doc in objects)
    found = [f"{source}: {line}" for source, doc in objects for line in policies.rbac_findings(doc)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_render_carries_a_secret_value(env: str) -> None:
    objects = everything(env)
    assert not [doc for _, doc in objects if doc["kind"] == "Secret"]
    found = [line for source, doc in objects for line in policies.value_findings(source, doc)]
    found += [
        line
        for source, doc in objects
        for line in policies.text_findings(source, yaml.safe_dump(doc))
    ]
    assert not found, "\n".join(found)


def test_no_file_of_the_chart_or_the_manifests_carries_a_secret_value() -> None:
    files = policies.repository_files(CHART, ROOT / "manifests")
    assert ROOT / "manifests" / "base" / "kustomization.yaml" in files
    found: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        found += policies.text_findings(where, text)
        if path.suffix in {".yaml", ".yml"} and path.parent.name != "templates":
            for doc in yaml.safe_load_all(text):
                found += policies.value_findings(where, doc)
    assert not found, "\n".join(found)


# -- the checks bite ----------------------------------------------------------------------

GOOD_CONTAINER: dict[str, Any] = {
    "name": "app",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
}
GOOD_POD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [GOOD_CONTAINER],
}


def deployment(pod: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": pod}}}


def test_a_compliant_pod_has_no_findings() -> None:
    ((where, pod),) = policies.pod_templates(deployment(GOOD_POD))
    assert policies.restricted_findings(where, pod) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"securityContext": {}}, "runAsNonRoot"),
        ({"securityContext": {"runAsNonRoot": True}}, "seccompProfile"),
        ({"hostNetwork": True}, "hostNetwork"),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, "hostPath"),
        ({"containers": [{"name": "app"}]}, "allowPrivilegeEscalation"),
        (
            {
                "containers": [
                    {
                        **GOOD_CONTAINER,
                        "securityContext": {
                            **GOOD_CONTAINER["securityContext"],
                            "readOnlyRootFilesystem": False,
                        },
                    }
                ]
            },
            "readOnlyRootFilesystem",
        ),
        (
            {
                "containers": [
                    {
                        **GOOD_CONTAINER,
                        "securityContext": {
                            **GOOD_CONTAINER["securityContext"],
                            "capabilities": {"add": ["SYS_ADMIN"]},
                        },
                    }
                ]
            },
            "capabilities",
        ),
        ({"initContainers": [{"name": "init"}]}, "'init'"),
    ],
)
def test_each_restricted_rule_is_checked(change: dict[str, Any], expected: str) -> None:
    ((where, pod),) = policies.pod_templates(deployment({**GOOD_POD, **change}))
    found = policies.restricted_findings(where, pod)
    assert any(expected in line for line in found), found


def test_the_training_operators_replicas_and_kserve_runtimes_are_found() -> None:
    tfjob = {
        "kind": "TFJob",
        "metadata": {"name": "t"},
        "spec": {"tfReplicaSpecs": {"Worker": {"template": {"spec": GOOD_POD}}}},
    }
    runtime = {"kind": "ServingRuntime", "metadata": {"name": "r"}, "spec": GOOD_POD}
    assert [w for w, _ in policies.pod_templates(tfjob)] == ["TFJob/t spec.tfReplicaSpecs.Worker"]
    assert [w for w, _ in policies.pod_templates(runtime)] == ["ServingRuntime/r spec"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"kind": "ClusterRole", "metadata": {"name": "c"}}, "cluster-wide"),
        ({"kind": "ClusterRoleBinding", "metadata": {"name": "c"}}, "cluster-wide"),
        (
            {
                "kind": "RoleBinding",
                "metadata": {"name": "b"},
                "roleRef": {"kind": "ClusterRole", "name": "edit"},
            },
            "ClusterRole 'edit'",
        ),
        (
            {
                "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}],
            },
            "apiGroups holds a wildcard",
        ),
        (
            {
                "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}],
            },
            "verbs holds a wildcard",
        ),
        (
            {
                "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
            },
            "without resourceNames",
        ),
        (
            {
                "kind": "Role",
                "metadata": {"name": "r"},
                "rules": [
                    {
                        "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["roles"],
                        "verbs": ["escalate"],
                    }
                ],
            },
            "escalate",
        ),
    ],
)
def test_each_rbac_rule_is_checked(doc: dict[str, Any], expected: str) -> None:
    found = policies.rbac_findings(doc)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {url: x}\n",
        # Assembled here so that no scanner of this repository mistakes them for real keys.
        "env:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: " + "wJalrXUtnFEMI" + "K" * 27 + "\n",
        "s3:\n  accessKeyId: " + "AKIA" + "IOSFODNN7EXAMPLE" + "\n",
        "database:\n  password: hunter2\n",
        "url: postgresql://app:hunter2@db:5432/sales\n",
    ],
)
def test_each_kind_of_secret_value_is_found(text: str) -> None:
    found = policies.text_findings("f", text)
    for doc in yaml.safe_load_all(text):
        found += policies.value_findings("f", doc)
    assert found


@pytest.mark.parametrize(
    "text",
    [
        "env:\n  - name: AWS_SECRET_ACCESS_KEY\n    valueFrom: {secretKeyRef: {name: s, key: k}}\n",
        "# --from-literal=url='postgresql+psycopg://USER:PASSWORD@HOST:5432/DB'\n",
        "secretRef: {secretName: customer-classifier-store, secretKeyKey: AWS_SECRET_ACCESS_KEY}\n",
        "automountServiceAccountToken: false\n",
    ],
)
def test_references_and_placeholders_are_not_secret_values(text: str) -> None:
    found = policies.text_findings("f", text)
    for doc in yaml.safe_load_all(text):
        found += policies.value_findings("f", doc)
    assert found == []


# -- make render / make deploy ------------------------------------------------------------


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("target", ["render", "deploy"])
@pytest.mark.parametrize("env", ["", "staging"])
def test_an_unknown_environment_is_named_and_refused(target: str, env: str) -> None:
    done = make(target, f"ENV={env}")
    assert done.returncode == 2
    assert f"ENV='{env}' is not an environment" in done.stderr
    assert "kubectl" not in done.stdout


def test_deploy_applies_the_overlay_then_the_chart_into_its_namespace() -> None:
    done = make("-n", "deploy", "ENV=test")
    assert done.returncode == 0, done.stderr
    commands = done.stdout.replace("\\\n", " ").splitlines()
    apply, upgrade = (" ".join(line.split()) for line in commands if ".tools/bin/" in line)
    assert apply.endswith("kubectl apply -k manifests/overlays/test")
    assert "helm upgrade --install customer-classifier helm/customer-classifier" in upgrade
    assert "--namespace ml-test" in upgrade
    assert "--values helm/customer-classifier/values-test.yaml" in upgrade
    assert "--rollback-on-failure" in upgrade
