"""The ``quoteflow`` command: one CLI, one sub-command group per concern.

``main`` points Prefect at the local stack *before* Prefect is imported: Prefect reads
PREFECT_API_URL once, at import, and without it a process silently starts an ephemeral
server of its own whose runs nobody else sees.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _state_file() -> Path:
    state_dir = os.environ.get("QUOTEFLOW_STATE_DIR")
    root = Path(state_dir) if state_dir else Path(__file__).resolve().parents[2] / ".var"
    return root / "stack.json"


def point_at_local_stack() -> None:
    """Set PREFECT_API_URL from the local stack's state file when it is not set."""
    if os.environ.get("PREFECT_API_URL"):
        return
    try:
        state = json.loads(_state_file().read_text())
        os.environ["PREFECT_API_URL"] = state["prefect"]["api_url"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no stack yet: commands that need Prefect say so


def main() -> None:
    point_at_local_stack()
    from quoteflow.cli.app import app

    app()


if __name__ == "__main__":  # pragma: no cover
    main()
