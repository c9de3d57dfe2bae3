"""The one adapter to the Kubeflow Pipelines API: the real ``kfp.Client``, used the way
``make submit`` and ``make schedule`` need it, with every failure turned into a project
error that names the host, the namespace and the fix.

Every call names the namespace itself (multi-user KFP keeps pipelines, experiments and
runs per profile namespace; a standalone KFP ignores it), so the client never falls back
to its context file or the pod's own namespace. The health check before any change has a
timeout: the generated client sets none, and a silent host would hang ``make submit``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import kfp_server_api
import urllib3
from kfp.client import ServiceAccountTokenVolumeCredentials

from customer_classifier.errors import (
    PipelinesApiAuthError,
    PipelinesApiError,
    PipelinesApiUnreachableError,
)
from customer_classifier.orchestration.schedules import RecurringRun, RecurringRunSpec
from customer_classifier.orchestration.targets import Target
from customer_classifier.settings import KfpSettings

PAGE_SIZE = 100
_EQUALS = 1  # the filter operation EQUALS of KFP's filter.proto


@dataclass(frozen=True)
class PipelineVersion:
    """A pipeline version on the server; ``uploaded`` is False when it already existed."""

    pipeline_id: str
    version_id: str
    name: str
    uploaded: bool


@dataclass(frozen=True)
class RunState:
    """A run as CI judges it: its state, each task's state, the server's error if any."""

    run_id: str
    state: str
    tasks: dict[str, str]
    error: str

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


FINISHED_STATES = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"})
"""Run states of the v2beta1 API after which nothing changes any more."""


def _by_name(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": _EQUALS, "key": "display_name", "stringValue": name}]}
    )


def _server_message(exc: kfp_server_api.ApiException) -> str:
    """The server's own words (grpc-gateway puts them under ``message``), else the reason."""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
    try:
        data = json.loads(body or "")
    except ValueError:
        data = None
    if isinstance(data, dict):
        text = data.get("message") or data.get("error")
        if text:
            return str(text).strip()
    return str(body or exc.reason or "no message").strip()[:300]


class KfpApi:
    """Pipelines, versions, experiments, runs and recurring runs of one :class:`Target`."""

    def __init__(self, client: Any, target: Target, settings: KfpSettings) -> None:
        self._client = client
        self.target = target
        self._settings = settings

    @classmethod
    def connect(cls, settings: KfpSettings, target: Target) -> KfpApi:
        """A client for ``settings.host`` with the token the settings give, checked with
        one health request, so that a wrong host fails before anything is compiled."""
        token = settings.token.get_secret_value() if settings.token else None
        credentials = None
        if token is None and settings.token_path.is_file():
            credentials = ServiceAccountTokenVolumeCredentials(str(settings.token_path))
        with warnings.catch_warnings():
            # "This client only works with Kubeflow Pipeline v2.0.0-beta.2 and later":
            # the README names the KFP versions this project supports.
            warnings.simplefilter("ignore", FutureWarning)
            client = kfp.Client(
                host=settings.host,
                namespace=target.namespace,
                existing_token=token,
                credentials=credentials,
            )
        api = cls(client, target, settings)
        with api._answers("check its health"):
            client.healthzs.healthz_service_get_healthz(
                _request_timeout=(settings.timeout_s, settings.timeout_s)
            )
        return api

    @contextmanager
    def _answers(self, action: str) -> Iterator[None]:
        """Turn the client's exceptions for ``action`` into project errors."""
        host, namespace = self._settings.host, self.target.namespace
        try:
            yield
        except kfp_server_api.ApiException as exc:
            said = _server_message(exc)
            if exc.status == 401:
                raise PipelinesApiAuthError(
                    f"Kubeflow Pipelines at {host} answered 401 Unauthorized when asked to "
                    f"{action} ({said}): a request needs a valid bearer token; set "
                    "CC_KFP__TOKEN, or run where the ServiceAccount token is mounted at "
                    f"CC_KFP__TOKEN_PATH ({self._settings.token_path})"
                ) from None
            if exc.status == 403:
                raise PipelinesApiAuthError(
                    f"Kubeflow Pipelines at {host} answered 403 Forbidden when asked to "
                    f"{action} in namespace {namespace!r} ({said}): the token's identity must "
                    "be a contributor of that profile; add it to the profile, or set "
                    "CC_KFP__NAMESPACE to one it may use"
                ) from None
            if exc.status == 0:
                raise PipelinesApiUnreachableError(
                    f"cannot reach Kubeflow Pipelines at {host} ({exc.reason}): the TLS "
                    "handshake failed; check CC_KFP__HOST (http:// or https://)"
                ) from None
            raise PipelinesApiError(
                f"Kubeflow Pipelines at {host} refused to {action} in namespace "
                f"{namespace!r}: HTTP {exc.status}: {said}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out: all wrapped
            reason = getattr(exc, "reason", None) or exc
            raise PipelinesApiUnreachableError(
                f"cannot reach Kubeflow Pipelines at {host} to {action} ({reason}): set "
                "CC_KFP__HOST to its API server, e.g. http://localhost:8888 after "
                "`kubectl port-forward -n kubeflow svc/ml-pipeline 8888:8888`, or "
                "http://ml-pipeline.kubeflow.svc.cluster.local:8888 inside the cluster"
            ) from None

    def experiment_id(self, description: str = "") -> str:
        """The id of the target's experiment, created the first time."""
        with self._answers(f"find or create the experiment {self.target.experiment!r}"):
            experiment = self._client.create_experiment(
                name=self.target.experiment,
                description=description or None,
                namespace=self.target.namespace,
            )
        return str(experiment.experiment_id)

    def pipeline_version(
        self,
        package: Path,
        pipeline_name: str,
        version: str,
        description: str = "",
        *,
        create: bool = True,
    ) -> PipelineVersion:
        """The version ``version`` of ``pipeline_name``: found when it exists, uploaded
        otherwise (the pipeline too, the first time). Without ``create``, a missing one
        comes back with empty ids and nothing is uploaded (a dry run)."""
        with self._answers(f"find the pipeline {pipeline_name!r}"):
            found = self._client.list_pipelines(
                filter=_by_name(pipeline_name), namespace=self.target.namespace, page_size=2
            ).pipelines
        if found:
            pipeline_id = str(found[0].pipeline_id)
        elif not create:
            return PipelineVersion("", "", version, False)
        else:
            with self._answers(f"upload the pipeline {pipeline_name!r}"):
                pipeline = self._client.upload_pipeline(
                    str(package),
                    pipeline_name=pipeline_name,
                    description=description or None,
                    namespace=self.target.namespace,
                )
            pipeline_id = str(pipeline.pipeline_id)
        with self._answers(f"list the versions of the pipeline {pipeline_name!r}"):
            versions = self._client.list_pipeline_versions(
                pipeline_id, filter=_by_name(version), page_size=2
            ).pipeline_versions
        if versions:
            found_id = str(versions[0].pipeline_version_id)
            return PipelineVersion(pipeline_id, found_id, version, False)
        if not create:
            return PipelineVersion(pipeline_id, "", version, False)
        with self._answers(f"upload the version {version!r} of {pipeline_name!r}"):
            uploaded = self._client.upload_pipeline_version(
                str(package),
                pipeline_version_name=version,
                pipeline_id=pipeline_id,
                description=description or None,
            )
        return PipelineVersion(pipeline_id, str(uploaded.pipeline_version_id), version, True)

    def start_run(
        self,
        experiment_id: str,
        name: str,
        version: PipelineVersion,
        params: dict[str, Any],
    ) -> str:
        """Start one run of ``version``; its id."""
        with self._answers(f"start the run {name!r}"):
            run = self._client.run_pipeline(
                experiment_id=experiment_id,
                job_name=name,
                params=params,
                pipeline_id=version.pipeline_id,
                version_id=version.version_id,
                service_account=self._settings.service_account,
            )
        return str(run.run_id)

    def run_state(self, run_id: str) -> RunState:
        """The run and its tasks as the server reports them now (one request)."""
        with self._answers(f"read the run {run_id!r}"):
            run = self._client.get_run(run_id)
        details = run.run_details
        tasks = {
            str(task.display_name): str(task.state)
            for task in ((details.task_details if details else None) or [])
        }
        error = run.error.message if run.error and run.error.message else ""
        return RunState(run_id, str(run.state or "PENDING"), tasks, str(error))

    def recurring_runs(self, experiment_id: str) -> list[RecurringRun]:
        """Every recurring run of the experiment, all pages."""
        found: list[RecurringRun] = []
        token = ""
        while True:
            with self._answers("list the recurring runs of the experiment"):
                page = self._client.list_recurring_runs(
                    experiment_id=experiment_id, page_size=PAGE_SIZE, page_token=token
                )
            found += [_recurring_run(item) for item in page.recurring_runs or []]
            token = page.next_page_token or ""
            if not token:
                return found

    def create_recurring_run(
        self, experiment_id: str, spec: RecurringRunSpec, *, enabled: bool
    ) -> str:
        """Create the recurring run ``spec``; its id."""
        if spec.cron is None or spec.pipeline_id is None or spec.version_id is None:
            raise ValueError(f"{spec.name}: a recurring run needs a cron and a version")
        with self._answers(f"create the recurring run {spec.name!r}"):
            created = self._client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=spec.name,
                description=spec.description or None,
                cron_expression=spec.cron,
                max_concurrency=spec.max_concurrency,
                no_catchup=spec.no_catchup,
                params=dict(spec.params),
                pipeline_id=spec.pipeline_id,
                version_id=spec.version_id,
                enabled=enabled,
                service_account=spec.service_account,
            )
        return str(created.recurring_run_id)

    def disable_recurring_run(self, run: RecurringRun) -> None:
        with self._answers(f"disable the recurring run {run.spec.name!r}"):
            self._client.disable_recurring_run(run.recurring_run_id)

    def enable_recurring_run(self, run: RecurringRun) -> None:
        with self._answers(f"enable the recurring run {run.spec.name!r}"):
            self._client.enable_recurring_run(run.recurring_run_id)

    def delete_recurring_run(self, run: RecurringRun) -> None:
        with self._answers(f"delete the recurring run {run.spec.name!r}"):
            self._client.delete_recurring_run(run.recurring_run_id)


def _recurring_run(item: Any) -> RecurringRun:
    """A server's ``V2beta1RecurringRun`` as plain data."""
    reference = item.pipeline_version_reference
    trigger = item.trigger
    cron = trigger.cron_schedule.cron if trigger and trigger.cron_schedule else None
    runtime = item.runtime_config
    status = str(item.status or item.mode or "")
    return RecurringRun(
        recurring_run_id=str(item.recurring_run_id),
        spec=RecurringRunSpec(
            name=str(item.display_name),
            pipeline_id=reference.pipeline_id if reference else None,
            version_id=reference.pipeline_version_id if reference else item.pipeline_version_id,
            cron=" ".join(cron.split()) if cron else None,
            params=dict(runtime.parameters or {}) if runtime else {},
            max_concurrency=int(item.max_concurrency or 0),
            no_catchup=bool(item.no_catchup),
            service_account=item.service_account or None,
            description=item.description or "",
        ),
        enabled=status in {"ENABLED", "ENABLE"},
    )
