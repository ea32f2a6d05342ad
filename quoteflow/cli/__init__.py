"""The ``quoteflow`` command: one CLI, one sub-command group per concern.

``main`` points Prefect at one server before any command runs (``quoteflow.prefect_api``):
PREFECT_API_URL when it is set, else the server a dev plugin names (the local dev stack's,
see ``quoteflow.cli.plugins``); without either a command that needs Prefect says so.
"""

from __future__ import annotations

import os
from contextlib import nullcontext


def main() -> None:
    from quoteflow.cli.plugins import dev_plugin

    url = os.environ.get("PREFECT_API_URL")
    plugin = dev_plugin()
    if not url and plugin is not None:
        url = plugin.local_api_url()
    from quoteflow.cli.app import app
    from quoteflow.prefect_api import pointed_at

    with pointed_at(url) if url else nullcontext():
        app()


if __name__ == "__main__":  # pragma: no cover
    main()
