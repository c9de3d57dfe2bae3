"""The cluster rules every rendered object must keep, as functions that return findings.

The same checks run over the kustomize overlays and the helm chart (tests/deploy/
test_manifests.py), and over small broken examples that prove each check bites. A
finding is one line naming the object, the field and the rule it breaks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

Doc = Mapping[str, Any]

# -- pod templates ------------------------------------------------------------------------

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
"""The volume types the restricted Pod Security Standard allows (besides ``name``)."""


def name_of(doc: Doc) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def pod_templates(doc: Doc) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, pod spec) of every pod the object makes: workloads, CronJobs, the Training
    Operator's replica specs, KServe's runtimes and InferenceService components."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    where = name_of(doc)
    if kind == "Pod":
        yield where, spec
    elif kind in WORKLOADS:
        yield f"{where} spec.template", spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        job = spec.get("jobTemplate", {}).get("spec", {})
        yield f"{where} spec.jobTemplate", job.get("template", {}).get("spec", {})
    elif kind in {"ServingRuntime", "ClusterServingRuntime"}:
        yield f"{where} spec", spec
    elif kind == "InferenceService":
        for part in ("predictor", "transformer", "explainer"):
            component = spec.get(part)
            # A predictor with `model:` runs the runtime's container (checked on the
            # ServingRuntime); its own containers, when it lists any, are checked here.
            if component and component.get("containers"):
                yield f"{where} spec.{part}", component
    else:
        for key, replicas in spec.items():
            if key.endswith("ReplicaSpecs") and isinstance(replicas, Mapping):
                for role, replica in replicas.items():
                    template = (replica or {}).get("template", {}).get("spec", {})
                    yield f"{where} spec.{key}.{role}", template


def restricted_findings(where: str, pod: Mapping[str, Any]) -> list[str]:
    """What breaks the restricted Pod Security Standard, plus this project's read-only root
    filesystem rule, in one pod spec. Pod-level settings count for every container that
    does not override them."""
    found: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"{where}: {flag} is true; restricted pods share no host namespace")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(
                f"{where}: volume {volume.get('name')!r} is {sorted(kinds)}; restricted pods "
                f"use only {sorted(RESTRICTED_VOLUMES)}"
            )
    containers = [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]
    if not containers:
        found.append(f"{where}: no containers to check")
    for container in containers:
        found += _container_findings(
            f"{where} container {container.get('name')!r}", container, pod_context
        )
    return found


def _container_findings(
    where: str, container: Mapping[str, Any], pod_context: Mapping[str, Any]
) -> list[str]:
    context = container.get("securityContext") or {}

    def effective(field: str) -> Any:
        return context.get(field, pod_context.get(field))

    found: list[str] = []
    if context.get("privileged"):
        found.append(f"{where}: privileged is true")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        found.append(f"{where}: securityContext.capabilities.drop must hold ALL")
    added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        found.append(f"{where}: capabilities {sorted(added)} added; only NET_BIND_SERVICE may be")
    if effective("runAsNonRoot") is not True:
        found.append(f"{where}: runAsNonRoot must be true (pod or container securityContext)")
    if effective("runAsUser") == 0:
        found.append(f"{where}: runAsUser is 0 (root)")
    seccomp = (effective("seccompProfile") or {}).get("type")
    if seccomp not in {"RuntimeDefault", "Localhost"}:
        found.append(f"{where}: seccompProfile.type is {seccomp!r}; set RuntimeDefault")
    if context.get("readOnlyRootFilesystem") is not True:
        found.append(
            f"{where}: securityContext.readOnlyRootFilesystem must be true (writable paths "
            "as emptyDir volumes)"
        )
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            found.append(f"{where}: hostPort {port['hostPort']} is set")
    return found


# -- RBAC ---------------------------------------------------------------------------------

ESCALATING_VERBS = {"escalate", "bind", "impersonate"}


def rbac_findings(doc: Doc) -> list[str]:
    """Anything cluster-wide, any wildcard, any verb that lets a holder grant itself more,
    and any Secret access not pinned to names."""
    kind, where = doc.get("kind"), name_of(doc)
    if kind in {"ClusterRole", "ClusterRoleBinding"}:
        return [f"{where}: a {kind} is cluster-wide; use a namespaced Role and RoleBinding"]
    found: list[str] = []
    if kind == "RoleBinding":
        ref = doc.get("roleRef") or {}
        if ref.get("kind") != "Role":
            found.append(
                f"{where}: binds the {ref.get('kind')} {ref.get('name')!r}; bind a Role of "
                "this namespace"
            )
    if kind == "Role":
        for number, rule in enumerate(doc.get("rules") or []):
            at = f"{where} rules[{number}]"
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                if any("*" in str(item) for item in rule.get(field) or []):
                    found.append(f"{at}: {field} holds a wildcard; name each one")
            if rule.get("nonResourceURLs"):
                found.append(f"{at}: nonResourceURLs are cluster-wide")
            verbs = set(rule.get("verbs") or [])
            if verbs & ESCALATING_VERBS:
                found.append(f"{at}: verbs {sorted(verbs & ESCALATING_VERBS)} escalate")
            if "secrets" in (rule.get("resources") or []):
                if not rule.get("resourceNames"):
                    found.append(f"{at}: Secret access without resourceNames reads them all")
                if verbs - {"get"}:
                    found.append(f"{at}: Secrets allow {sorted(verbs - {'get'})}; only get")
    return found


# -- secret values ------------------------------------------------------------------------

SENSITIVE_KEY = re.compile(
    r"(password|passwd|passphrase|token|secret[_-]?(access[_-]?)?key|access[_-]?key([_-]?id)?"
    r"|api[_-]?key|private[_-]?key|client[_-]?secret|database[_-]?url)$",
    re.IGNORECASE,
)
AWS_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
AWS_SECRET = re.compile(r"(?i)aws.{0,20}secret.{0,20}['\"]?[=:]\s*['\"]?[A-Za-z0-9/+]{40}\b")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://([^\s/:@'\"]+):([^\s/@'\"]+)@")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def is_placeholder(value: str) -> bool:
    """A stand-in a reader replaces: PASSWORD, <password>, ${VAR}, $(VAR), ... or empty."""
    value = value.strip()
    return (
        not value
        or "..." in value
        or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value))
        or bool(re.fullmatch(r"<[^>]+>|\$\{[^}]+\}|\$\([^)]+\)|\{\{.*\}\}", value))
    )


def text_findings(where: str, text: str) -> list[str]:
    """Credentials in any text (comments included): AWS keys, passwords in URLs, PEM keys."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        at = f"{where}:{number}"
        if AWS_ACCESS_KEY.search(line):
            found.append(f"{at}: an AWS access key id")
        if AWS_SECRET.search(line):
            found.append(f"{at}: an AWS secret access key")
        if PRIVATE_KEY.search(line):
            found.append(f"{at}: a private key")
        for match in URL_CREDENTIALS.finditer(line):
            if not is_placeholder(match.group(2)):
                found.append(f"{at}: a URL with a password ({match.group(1)}:***@)")
    return found


def value_findings(where: str, node: Any, path: str = "") -> list[str]:
    """Literal values under keys that name a credential, env entries that carry one, and
    Secret objects with data, anywhere in a parsed document."""
    found: list[str] = []
    if isinstance(node, Mapping):
        if node.get("kind") == "Secret" and (node.get("data") or node.get("stringData")):
            found.append(f"{where}: Secret {name_of(node)} carries data; create it by hand")
        name, value = node.get("name"), node.get("value")
        literal = isinstance(value, str) and not is_placeholder(value)
        if isinstance(name, str) and SENSITIVE_KEY.search(name) and literal:
            found.append(f"{where} {path}: env {name} has a literal value; use secretKeyRef")
        for key, child in node.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(child, str):
                if SENSITIVE_KEY.search(str(key)) and not is_placeholder(child):
                    found.append(f"{where} {here}: a literal credential")
            else:
                found += value_findings(where, child, here)
    elif isinstance(node, list):
        for number, child in enumerate(node):
            found += value_findings(where, child, f"{path}[{number}]")
    return found


def repository_files(*roots: Path) -> list[Path]:
    """The text files under ``roots`` (chart, manifests): templates, values, YAML, JSON."""
    suffixes = {".yaml", ".yml", ".json", ".tpl", ".txt", ".md"}
    return sorted(p for root in roots for p in root.rglob("*") if p.suffix in suffixes)
