"""Register the trained bundle and move the aliases; the decision is a run artifact."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Input, Markdown, Model, Output

from components.image import COMPONENT_IMAGE


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def register_model(model: Input[Model], decision: Output[Markdown]) -> NamedTuple(
    "Registered", [("version", str), ("promoted", bool)]
):
    import pathlib
    from collections import namedtuple

    from customer_classifier.jobs import register_model as run
    from customer_classifier.settings import load_settings

    result = run(load_settings(), pathlib.Path(model.path))
    verdict = "promoted to **champion**" if result["promoted"] else "kept as **challenger**"
    lines = [f"# Model {result['version']}", "", f"{verdict}.", ""]
    lines += [f"- {reason}" for reason in result["reasons"]]
    pathlib.Path(decision.path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    registered = namedtuple("Registered", ["version", "promoted"])
    return registered(result["version"], bool(result["promoted"]))
