"""Verify the source tables; the task fails (and the run stops) on blocking problems."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def verify_data(
    report: Output[HTML],
    profile: Output[Artifact],
    metrics: Output[Metrics],
    as_of: str = "",
    nightly: bool = False,
) -> None:
    """Profile the source tables and judge them against the contract.

    ``as_of``: the run's as-of date (empty: the default); ``nightly``: stale sales block.
    """
    import pathlib
    import shutil

    from customer_classifier.jobs.verify import verify_data as run
    from customer_classifier.settings import load_settings

    folder = pathlib.Path(report.path).parent / "verification"
    try:
        settings = load_settings(**({"as_of": as_of} if as_of else {}))
        result = run(settings, folder, nightly=nightly)
    finally:
        if (folder / "verification.html").exists():
            shutil.copyfile(folder / "verification.html", report.path)
    shutil.copyfile(folder / "verification.json", profile.path)
    for name, table in result.profile.tables.items():
        if table.exists:
            metrics.log_metric(f"{name}_rows", table.rows)
    metrics.log_metric("warnings", len(result.warnings))
