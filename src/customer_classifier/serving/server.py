"""Entry point of the serving image: ``python -m customer_classifier.serving [KServe flags]``.

The container contract:

* HTTP on ``--http_port`` (8080): KServe V1 and V2 REST, ``/metrics``, health routes;
* gRPC on ``--grpc_port`` (8081): the V2 open inference protocol;
* ``--model_name`` (default ``CC_SERVING__MODEL_NAME``), ``--model_dir`` (default
  ``CC_SERVING__MODEL_URI``, else ``/mnt/models``): a version folder or a model store;
* every other knob is a ``CC_SERVING__*`` variable (:class:`ServingSettings`);
* one process per container (``--workers 1``): scale with replicas.

The server listens at once; the model loads in the background and the model's readiness
(``/v1/models/NAME``, ``/v2/models/NAME/ready``) turns true when the champion is loaded.
``POST /v2/repository/models/NAME/load`` re-resolves the aliases at once.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from typing import Any

from customer_classifier.entrypoint import CurrentStreamHandler, exit_on_user_error
from customer_classifier.serving.config import ServingSettings
from customer_classifier.settings import Settings, load_settings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from customer_classifier.serving.kserve_compat import server_parser

    parser = argparse.ArgumentParser(
        prog="python -m customer_classifier.serving",
        parents=[server_parser()],
        description="KServe predictor of the customer classifier (V1, V2, gRPC).",
    )
    parser.add_argument(
        "--model_dir",
        default=None,
        help="Version folder or model store; default CC_SERVING__MODEL_URI, else /mnt/models.",
    )
    parser.set_defaults(model_name=None)
    return parser


def configure_logging(settings: ServingSettings) -> None:
    """KServe's log format for everything; our JSON access log replaces uvicorn's and
    KServe's per-request trace lines (same facts, one line, machine-readable)."""
    from customer_classifier.serving.kserve_compat import configure_logging as kserve_logging

    kserve_logging()
    access = logging.getLogger("customer_classifier.serving.access")
    if not access.handlers:
        handler = CurrentStreamHandler("stdout")
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    ours = logging.getLogger("customer_classifier")
    if not ours.handlers:
        handler = CurrentStreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)s %(name)s %(levelname)s %(message)s")
        )
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False
    if settings.access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        logging.getLogger("kserve.trace").setLevel(logging.WARNING)


def settle_memory(first: bool) -> None:
    """Keep the long-lived objects (libraries, the model) out of the garbage collector's
    way. A full collection walks every tracked object and stalls all requests for a
    hundred milliseconds and more; frozen objects are never walked. The first load also
    collects the start-up garbage, before the predictor turns ready."""
    if first:
        gc.collect()
    gc.freeze()


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings tree, with KServe's flags on top of its ``serving`` group."""
    overrides: dict[str, Any] = {}
    if args.model_dir:
        overrides["model_uri"] = args.model_dir
    if args.model_name:
        overrides["model_name"] = args.model_name
    return load_settings(serving=overrides)


def serve(tree: Settings, args: argparse.Namespace) -> None:
    """Build the model and KServe's server around it; returns when the server stops."""
    from kserve import ModelRepository, ModelServer

    from customer_classifier.serving import v2_rest
    from customer_classifier.serving.asgi import install
    from customer_classifier.serving.kserve_compat import server_app, start_without_models
    from customer_classifier.serving.predictor import CustomerClassifier

    # Fewer, larger young-generation collections: each request allocates thousands of
    # short-lived objects, and every collection costs a pass over the survivors.
    gc.set_threshold(20_000, 20, 100)
    settings = tree.serving
    model = CustomerClassifier(settings, on_loaded=settle_memory, s3=tree.s3)

    class Repository(ModelRepository):  # type: ignore[misc]
        """KServe's model repository whose ``load`` re-resolves the aliases now."""

        async def load(self, name: str) -> bool:
            await asyncio.get_running_loop().run_in_executor(None, model.refresh)
            return bool(model.ready)

    server = ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=1,
        enable_grpc=args.enable_grpc,
        enable_docs_url=args.enable_docs_url,
        enable_latency_logging=not settings.access_log,
        registered_models=Repository(),
    )
    server.register_model(model)
    app = server_app()
    install(
        app,
        arrivals=model.arrivals,
        max_body_bytes=settings.max_body_bytes,
        log_requests=settings.access_log,
    )
    v2_rest.install(app, model)
    model.start_watching()
    # The model is registered above and turns ready when loaded.
    start_without_models(server)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers != 1:
        parser.error("--workers must be 1: run more replicas to use more cores")
    with exit_on_user_error():
        settings = settings_from(args)
        configure_logging(settings.serving)
        serve(settings, args)
    return 0
