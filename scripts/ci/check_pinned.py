"""Check that every container image of the compiled pipelines is pinned to a digest.

The compile job compiles with ``CC_IMAGES__*`` set to the digests the build job pushed
(``build/images.env``); a tag instead (``:0.1.0``) means the dotenv artifact was missing
and the cluster would run whatever that tag points to tomorrow. Reads every ``*.yaml`` in
the folder given (default ``compiled``); prints each executor's image, exits 1 naming the
unpinned ones, 2 when there is nothing to check.

    python scripts/ci/check_pinned.py compiled
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def images(document: dict[str, Any]) -> dict[str, str]:
    """Executor name -> image of one pipeline spec (the IR's deploymentSpec)."""
    executors = (document.get("deploymentSpec") or {}).get("executors") or {}
    return {
        name: str(spec["container"]["image"])
        for name, spec in executors.items()
        if "container" in spec and "image" in spec["container"]
    }


def unpinned(folder: Path) -> tuple[dict[str, str], list[str]]:
    """Every ``file:executor`` with its image, and those without a digest."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict):
                for name, image in images(document).items():
                    found[f"{path.name}:{name}"] = image
    return found, [key for key, image in found.items() if not DIGEST.search(image)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "compiled")
    found, bad = unpinned(folder)
    if not found:
        print(
            f"error: no pipeline executors in {folder}/*.yaml; run 'make compile'", file=sys.stderr
        )
        return 2
    for key, image in found.items():
        print(f"{key}: {image}")
    for key in bad:
        print(
            f"check_pinned: {key} runs {found[key]}, not pinned to a digest; compile with "
            "CC_IMAGES__COMPONENTS and CC_IMAGES__TRAINING_GPU from build/images.env",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
