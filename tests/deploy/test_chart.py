"""The serving half of the helm chart, rendered as ``make render`` renders it.

Lint and render per environment; the restricted Pod Security Standard on every pod the
chart makes; the NetworkPolicy's default deny; values.schema.json refusing mistyped
values by name; the KServe objects against KServe's CRDs (unknown fields refused); and
the canary fields, in each mode, that the rollout controller patches: a step or a
promotion applied to the rendered object must equal what the chart renders for the
values after it, so the controller and a later ``helm upgrade`` never fight.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from customer_classifier.settings import ServingSettings, Settings
from tests.deploy.kserve_schemas import is_kserve, kserve_errors, sdk_errors
from tests.deploy.rendering import (
    CHART,
    ENVIRONMENTS,
    RELEASE,
    by_kind,
    helm_template,
    run_tool,
    values_file,
)

STABLE = "v20261201120000-0a1b2c"
CANARY = "v20261202120000-0d1e2f"
STORE = "s3://mlpipeline/customer-classifier/dev"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
CHALLENGER_KEYS = (
    "CC_SERVING__CHAMPION",
    "CC_SERVING__CHALLENGER",
    "CC_SERVING__CHALLENGER_MODE",
    "CC_SERVING__CANARY_PERCENT",
)
CHART_SET_FIELDS = {
    "model_name",
    "model_uri",
    "champion",
    "challenger",
    "challenger_mode",
    "canary_percent",
}
"""ServingSettings fields the chart sets itself (flags, storage, canary), not values.serving."""

SCENARIOS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "defaults": (None, ()),
    **{env: (env, (f"model.version={STABLE}",)) for env in ENVIRONMENTS},
    "standard-canary": ("dev", (f"model.version={STABLE}", f"canary.version={CANARY}")),
    "knative-canary": (
        "dev",
        ("deploymentMode=knative", f"model.version={STABLE}", f"canary.version={CANARY}"),
    ),
    "predictor-canary": (
        "dev",
        (f"model.version={STABLE}", f"canary.version={CANARY}", "canary.mode=predictor"),
    ),
    "shadow": ("prod", (f"model.version={STABLE}", f"shadow.version={CANARY}")),
    "irsa": (None, ("s3.irsaRoleArn=arn:aws:iam::123456789012:role/cc-predictor",)),
    "knative-no-pod-context": (
        None,
        ("deploymentMode=knative", "podSecurityContext.enabled=false"),
    ),
}


def render(env: str | None, *sets: str) -> list[dict[str, Any]]:
    return helm_template(env, sets=sets)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(env, *sets) for name, (env, sets) in SCENARIOS.items()}


def isvc(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = by_kind(docs, "InferenceService")
    return only


def env_of(predictor: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in predictor["model"].get("env", [])}


# --- lint and render ----------------------------------------------------------------


@pytest.mark.parametrize("env", [None, *ENVIRONMENTS])
def test_lint_strict_is_clean(env: str | None) -> None:
    args = ["lint", "--strict", str(CHART)]
    if env is not None:
        args += ["--values", str(values_file(env))]
    done = run_tool("helm", *args, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout
    assert "[ERROR]" not in done.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_renders_the_serving_objects(
    rendered: dict[str, list[dict[str, Any]]], env: str
) -> None:
    docs = rendered[env]
    kinds = {doc["kind"] for doc in docs}
    assert {"ServingRuntime", "InferenceService", "NetworkPolicy"} <= kinds
    service = isvc(docs)
    assert service["metadata"]["name"] == RELEASE
    uri = service["spec"]["predictor"]["model"]["storageUri"]
    assert re.fullmatch(rf"s3://[a-z0-9.-]+/customer-classifier/{env}/versions/{STABLE}", uri)
    # The overlay owns the predictor's ServiceAccount; the chart must not create it too.
    assert by_kind(docs, "ServiceAccount") == []
    assert service["spec"]["predictor"]["serviceAccountName"] == "customer-classifier-predictor"


def test_replicas_and_budget_per_environment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    replicas = {
        env: (
            isvc(rendered[env])["spec"]["predictor"]["minReplicas"],
            isvc(rendered[env])["spec"]["predictor"]["maxReplicas"],
        )
        for env in ENVIRONMENTS
    }
    assert replicas == {"dev": (1, 1), "test": (2, 3), "prod": (3, 10)}
    assert by_kind(rendered["dev"], "PodDisruptionBudget") == []  # one replica: no budget
    (budget,) = by_kind(rendered["prod"], "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"] == {
        ISVC_LABEL: RELEASE,
        "component": "predictor",
    }


# --- the restricted Pod Security Standard ------------------------------------------


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(where, pod-level fields, containers) of every pod the object makes."""
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "ServingRuntime":
        yield "ServingRuntime", spec, spec["containers"]
    elif kind == "InferenceService":
        predictors = [("spec.predictor", spec["predictor"])]
        predictors += [
            (f"spec.canary[{i}].predictor", entry["predictor"])
            for i, entry in enumerate(spec.get("canary", []))
        ]
        for where, predictor in predictors:
            yield where, predictor, [predictor["model"], *predictor.get("containers", [])]
    else:
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
        if template:
            pod = template["spec"]
            yield kind, pod, [*pod.get("initContainers", []), *pod["containers"]]


def restricted_violations(
    where: str, pod: dict[str, Any], containers: list[dict[str, Any]], runtime_pod: bool
) -> list[str]:
    """What the restricted profile refuses; a ServingRuntime has no pod-level context
    (the InferenceService's predictor carries it), so only its containers count."""
    problems = []
    pod_context = pod.get("securityContext", {})
    if not runtime_pod and pod_context.get("runAsUser") == 0:
        problems.append(f"{where}: runs as root")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{where}: {flag}")
    for volume in pod.get("volumes", []):
        if set(volume) - {"name", "emptyDir", "configMap", "secret", "projected", "csi"}:
            problems.append(f"{where}: volume {volume['name']} is not of a restricted type")
    for container in containers:
        context = container.get("securityContext", {})
        name = f"{where} container {container.get('name')}"
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities.drop must hold ALL")
        if set(context.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem must be true")
        # The pod-level field counts for every container, as the admission check reads it.
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_context.get("runAsUser"))
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if non_root is not True or user in (None, 0):
            problems.append(f"{name}: must run as a non-root user")
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile must be RuntimeDefault")
    return problems


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_pod_passes_the_restricted_standard(
    rendered: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    seen, problems = [], []
    for doc in rendered[scenario]:
        for where, pod, containers in pod_specs(doc):
            seen.append(where)
            problems += restricted_violations(
                where, pod, containers, runtime_pod=doc["kind"] == "ServingRuntime"
            )
    assert "ServingRuntime" in seen
    assert "spec.predictor" in seen
    assert problems == []


def test_writable_paths_are_empty_dirs(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (runtime,) = by_kind(rendered["prod"], "ServingRuntime")
    volumes = {v["name"]: v for v in runtime["spec"]["volumes"]}
    (container,) = runtime["spec"]["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert {"/tmp", "/home/app"} <= set(mounts)
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    assert {"name": "HOME", "value": "/home/app"} in container["env"]


# --- the NetworkPolicy ---------------------------------------------------------------


def peers_allow_all(peers: list[dict[str, Any]]) -> bool:
    for peer in peers:
        if peer == {} or (peer.get("namespaceSelector") == {} and "podSelector" not in peer):
            return True
        block = peer.get("ipBlock", {})
        if block.get("cidr") in ("0.0.0.0/0", "::/0") and not block.get("except"):
            return True
    return False


@pytest.mark.parametrize("scenario", ["defaults", *ENVIRONMENTS, "knative-canary"])
def test_network_policy_denies_by_default(
    rendered: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    (policy,) = by_kind(rendered[scenario], "NetworkPolicy")
    spec = policy["spec"]
    # It selects exactly the pods KServe labels as this InferenceService's predictors
    # (stable and canary alike).
    assert spec["podSelector"] == {"matchLabels": {ISVC_LABEL: RELEASE, "component": "predictor"}}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for rule in spec[direction]:
            assert rule.get(peer_key), f"{direction} rule without peers allows everyone: {rule}"
            assert rule.get("ports"), f"{direction} rule without ports allows every port: {rule}"
            assert not peers_allow_all(rule[peer_key]), rule
    dns = [
        (port["protocol"], port["port"])
        for rule in spec["egress"]
        for port in rule["ports"]
        if port["port"] == 53
    ]
    assert sorted(dns) == [("TCP", 53), ("UDP", 53)]
    store_ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]} - {53}
    assert store_ports == ({443} if scenario == "prod" else {9000})


def test_network_policy_admits_the_gateway_and_prometheus(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    def ingress(scenario: str) -> list[tuple[list[str], set[int]]]:
        (policy,) = by_kind(rendered[scenario], "NetworkPolicy")
        return [
            (
                rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
                {port["port"] for port in rule["ports"]},
            )
            for rule in policy["spec"]["ingress"]
        ]

    gateways = ["istio-system", "knative-serving", "kourier-system"]
    assert ingress("prod") == [(gateways, {8080, 8081}), (["monitoring"], {8080})]
    # Knative: the queue-proxy takes the traffic; its user metrics are scraped too.
    assert ingress("knative-canary") == [
        (gateways, {8012, 8022, 9090}),
        (["monitoring"], {8080, 9091}),
    ]


# --- values.schema.json --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (("canary.trafficPercent=abc",), "trafficPercent"),
        (("canary.trafficPercent=150",), "trafficPercent"),
        (("canary.trafficpercent=10",), "trafficpercent"),
        (("canary.mode=istio",), "mode"),
        (("deploymentMode=serverless",), "deploymentMode"),
        (("modle.version=v1",), "modle"),
        (("model.version=../other",), "version"),
        (("deploymentMode=knative", "autoscaling.scaleMetric=cpu"), "scaleMetric"),
        (("s3.endpoint=https://minio:9000",), "endpoint"),
    ],
)
def test_a_mistyped_value_fails_naming_it(sets: tuple[str, ...], named: str) -> None:
    args = ["template", RELEASE, str(CHART)]
    for item in sets:
        args += ["--set", item]
    done = run_tool("helm", *args, check=False)
    assert done.returncode != 0
    assert "schema" in done.stderr, done.stderr
    assert named in done.stderr, done.stderr


def test_the_canary_needs_its_own_name() -> None:
    done = run_tool(
        "helm",
        *("template", RELEASE, str(CHART)),
        *("--set", f"model.version={STABLE}", "--set", f"canary.version={STABLE}"),
        check=False,
    )
    assert done.returncode != 0
    assert "canary.name" in done.stderr
    assert STABLE in done.stderr


@pytest.mark.parametrize("steps", ["{10,50}", "{50,25,100}"])
def test_canary_steps_must_rise_to_100(steps: str) -> None:
    done = run_tool(
        "helm", "template", RELEASE, str(CHART), "--set", f"canary.steps={steps}", check=False
    )
    assert done.returncode != 0
    assert "canary.steps" in done.stderr, done.stderr


def test_serving_values_are_the_predictors_settings() -> None:
    """values.serving holds every ServingSettings knob the chart does not set itself."""
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    knobs = {
        re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        for name in schema["properties"]["serving"]["properties"]
    }
    assert knobs == set(ServingSettings.model_fields) - CHART_SET_FIELDS
    # The chart's defaults are the predictor's own: installing it changes no behaviour.
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    defaults = ServingSettings()
    for name, value in values["serving"].items():
        field = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
        assert getattr(defaults, field) == value, name


@pytest.mark.parametrize("scenario", ["prod", "predictor-canary", "shadow"])
def test_rendered_environment_is_valid_settings(
    rendered: dict[str, list[dict[str, Any]]], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_of(isvc(rendered[scenario])["spec"]["predictor"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    serving = Settings().serving
    assert serving.max_body_bytes == 4 * 1024 * 1024
    assert serving.challenger == (None if scenario == "prod" else CANARY)


# --- KServe's CRDs -------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_kserve_objects_match_the_crds(
    rendered: dict[str, list[dict[str, Any]]], scenario: str
) -> None:
    objects = [doc for doc in rendered[scenario] if is_kserve(doc)]
    assert {doc["kind"] for doc in objects} == {"ServingRuntime", "InferenceService"}
    assert {doc["metadata"]["name"]: kserve_errors(doc) for doc in objects} == {RELEASE: []}


def test_an_unknown_field_is_refused() -> None:
    service = isvc(render("dev", f"model.version={STABLE}", f"canary.version={CANARY}"))
    service["spec"]["predictor"]["model"]["storageURI"] = "s3://typo"
    service["spec"]["canary"][0]["weight"] = 5
    errors = kserve_errors(service)
    assert any("storageURI" in error for error in errors)
    assert any("weight" in error for error in errors)


def test_the_sdk_fallback_refuses_unknown_fields_too(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Where ../shared/schemas/kserve is absent, the KServe SDK's models check instead."""
    objects = [doc for doc in rendered["standard-canary"] if is_kserve(doc)]
    assert [sdk_errors(doc) for doc in objects] == [[], []]
    service = copy.deepcopy(isvc(rendered["standard-canary"]))
    service["spec"]["canary"][0]["predictor"]["model"]["storageURI"] = "s3://typo"
    assert sdk_errors(service) == [
        "<root>.spec.canary.0.predictor.model.storageURI: unknown field of V1beta1ModelSpec"
    ]


# --- the ServingRuntime --------------------------------------------------------------


def test_serving_runtime_follows_the_image_contract(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    (runtime,) = by_kind(rendered["prod"], "ServingRuntime")
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["v1", "v2", "grpc-v2"]
    assert spec["supportedModelFormats"][0]["name"] == "customer-classifier"
    assert spec["annotations"] == {
        "prometheus.kserve.io/port": "8080",
        "prometheus.kserve.io/path": "/metrics",
    }
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"
    assert "--model_dir=/mnt/models" in container["args"]
    assert "--model_name={{.Name}}" in container["args"]
    assert {p["containerPort"] for p in container["ports"]} == {8080, 8081}
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    predictor = isvc(rendered["prod"])["spec"]["predictor"]
    assert predictor["model"]["runtime"] == runtime["metadata"]["name"]
    assert predictor["model"]["modelFormat"] == {"name": "customer-classifier"}
    assert predictor["model"]["readinessProbe"]["httpGet"]["path"] == (
        f"/v2/models/{RELEASE}/ready"
    )


def test_digest_pins_the_image() -> None:
    digest = "sha256:" + "ab" * 32
    (runtime,) = by_kind(render(None, f"image.digest={digest}"), "ServingRuntime")
    assert runtime["spec"]["containers"][0]["image"] == (
        f"registry.example.com/customer-classifier/serving@{digest}"
    )


# --- S3 access -----------------------------------------------------------------------


def test_service_account_carries_the_s3_annotations_and_a_secret_name(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    (account,) = by_kind(rendered["defaults"], "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "serving.kserve.io/s3-endpoint": "minio-service.kubeflow:9000",
        "serving.kserve.io/s3-usehttps": "0",
        "serving.kserve.io/s3-region": "us-east-1",
        "serving.kserve.io/s3-verifyssl": "1",
    }
    assert account["secrets"] == [{"name": "customer-classifier-store"}]
    (irsa,) = by_kind(rendered["irsa"], "ServiceAccount")
    assert irsa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/cc-predictor"
    )
    assert "secrets" not in irsa
    assert not any(kind == "Secret" for kind in {d["kind"] for d in rendered["defaults"]})


# --- the canary, as the rollout controller patches it --------------------------------


def spec_of(env: str | None, *sets: str) -> dict[str, Any]:
    spec: dict[str, Any] = isvc(render(env, *sets))["spec"]
    return spec


def test_standard_canary_renders_the_fields_the_controller_patches(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    service = isvc(rendered["standard-canary"])
    spec = service["spec"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert spec["predictor"]["name"] == STABLE
    assert spec["predictor"]["model"]["storageUri"] == f"{STORE}/versions/{STABLE}"
    assert "canaryTrafficPercent" not in spec["predictor"]
    (entry,) = spec["canary"]
    assert entry["trafficPercent"] == 50  # values-dev.yaml's first step
    assert entry["predictor"]["name"] == CANARY
    assert entry["predictor"]["model"]["storageUri"] == f"{STORE}/versions/{CANARY}"
    assert set(env_of(spec["predictor"])).isdisjoint(CHALLENGER_KEYS)

    # A step: only spec.canary[0].trafficPercent changes.
    step = copy.deepcopy(spec)
    step["canary"][0]["trafficPercent"] = 100
    assert step == spec_of(
        "dev", f"model.version={STABLE}", f"canary.version={CANARY}", "canary.trafficPercent=100"
    )
    # Promotion: the canary's predictor (its name included) becomes spec.predictor and
    # the entry goes; the chart renders the same for the promoted version.
    promoted = copy.deepcopy(spec)
    promoted["predictor"] = promoted.pop("canary")[0]["predictor"]
    assert promoted == spec_of("dev", f"model.version={CANARY}")


def test_knative_canary_renders_the_fields_the_controller_patches(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    service = isvc(rendered["knative-canary"])
    spec = service["spec"]
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert "serving.kserve.io/autoscalerClass" not in service["metadata"]["annotations"]
    assert "canary" not in spec
    assert "name" not in spec["predictor"]
    assert spec["predictor"]["canaryTrafficPercent"] == 50
    # The new version is the predictor's; Knative keeps the previous revision as stable.
    assert spec["predictor"]["model"]["storageUri"] == f"{STORE}/versions/{CANARY}"
    assert spec["predictor"]["scaleMetric"] == "concurrency"

    knative = ("deploymentMode=knative", f"model.version={STABLE}", f"canary.version={CANARY}")
    step = copy.deepcopy(spec)
    step["predictor"]["canaryTrafficPercent"] = 100
    assert step == spec_of("dev", *knative, "canary.trafficPercent=100")
    promoted = copy.deepcopy(spec)
    del promoted["predictor"]["canaryTrafficPercent"]
    assert promoted == spec_of("dev", "deploymentMode=knative", f"model.version={CANARY}")


def test_predictor_canary_renders_the_fields_the_controller_patches(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    spec = isvc(rendered["predictor-canary"])["spec"]
    predictor = spec["predictor"]
    assert "canary" not in spec
    assert "canaryTrafficPercent" not in predictor
    # The whole store, so that the predictor finds both versions by id.
    assert predictor["model"]["storageUri"] == STORE
    env = env_of(predictor)
    assert {key: env[key] for key in CHALLENGER_KEYS} == {
        "CC_SERVING__CHAMPION": STABLE,
        "CC_SERVING__CHALLENGER": CANARY,
        "CC_SERVING__CHALLENGER_MODE": "canary",
        "CC_SERVING__CANARY_PERCENT": "50",
    }
    assert predictor["name"] == STABLE

    def set_env(target: dict[str, Any], name: str, value: str) -> None:
        (item,) = [i for i in target["predictor"]["model"]["env"] if i["name"] == name]
        item["value"] = value

    step = copy.deepcopy(spec)
    set_env(step, "CC_SERVING__CANARY_PERCENT", "100")
    assert step == spec_of(
        "dev",
        f"model.version={STABLE}",
        f"canary.version={CANARY}",
        "canary.mode=predictor",
        "canary.trafficPercent=100",
    )
    # Promotion: the canary's version folder, its name, no challenger variables.
    promoted = copy.deepcopy(spec)
    model = promoted["predictor"]["model"]
    model["env"] = [i for i in model["env"] if i["name"] not in CHALLENGER_KEYS]
    model["storageUri"] = f"{STORE}/versions/{CANARY}"
    promoted["predictor"]["name"] = CANARY
    promoted["predictor"]["labels"]["customer-classifier/model-version"] = CANARY
    assert promoted == spec_of("dev", f"model.version={CANARY}")


def test_shadow_challenger_scores_on_the_side(rendered: dict[str, list[dict[str, Any]]]) -> None:
    predictor = isvc(rendered["shadow"])["spec"]["predictor"]
    env = env_of(predictor)
    assert env["CC_SERVING__CHALLENGER_MODE"] == "shadow"
    assert env["CC_SERVING__CHALLENGER"] == CANARY
    assert "CC_SERVING__CANARY_PERCENT" not in env
    assert predictor["model"]["storageUri"] == (
        "s3://customer-classifier-prod/customer-classifier/prod"
    )


def test_no_version_follows_the_champion_alias(rendered: dict[str, list[dict[str, Any]]]) -> None:
    predictor = isvc(rendered["defaults"])["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "s3://models/customer-classifier"
    assert env_of(predictor)["CC_SERVING__CHAMPION"] == "champion"
    assert predictor["name"] == "champion"


def test_canary_steps_are_on_the_inference_service(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    steps = {
        env: json.loads(
            isvc(rendered[env])["metadata"]["annotations"]["customer-classifier/canary-steps"]
        )
        for env in ENVIRONMENTS
    }
    assert steps == {"dev": [50, 100], "test": [25, 50, 100], "prod": [10, 25, 50, 100]}


def test_older_kserve_gets_its_own_names() -> None:
    """Before 0.16 the modes are RawDeployment / Serverless; before 0.20 Standard mode has
    no spec.predictor.name, which strict field validation would refuse."""
    old = render(None, "kserveVersion=0.15.2", f"model.version={STABLE}")
    service = isvc(old)
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == (
        "RawDeployment"
    )
    assert "name" not in service["spec"]["predictor"]
    knative = isvc(render(None, "kserveVersion=0.15", "deploymentMode=knative"))
    assert knative["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    done = run_tool(
        "helm",
        *("template", RELEASE, str(CHART)),
        *("--set", "kserveVersion=0.19.0", "--set", f"canary.version={CANARY}"),
        check=False,
    )
    assert done.returncode != 0
    assert "kserveVersion is 0.19.0" in done.stderr, done.stderr
