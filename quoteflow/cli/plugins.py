"""The development plugin: commands and a Prefect server that only a source checkout has.

The shipped package holds the product. A checkout also holds ``devstack`` (the local
service stack, the fakes, the demo data, the demo); when it is importable its
``devstack.cli`` module is the plugin, with two hooks:

- ``install(app)`` adds its commands to the ``quoteflow`` CLI (``stack``, ``demo``,
  ``db seed``);
- ``local_api_url()`` names the local stack's Prefect API (None when no stack runs),
  used when PREFECT_API_URL is not set.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Protocol, cast

import typer

DEV_PLUGIN = "devstack.cli"


class DevPlugin(Protocol):
    def install(self, app: typer.Typer) -> None: ...

    def local_api_url(self) -> str | None: ...


def dev_plugin() -> DevPlugin | None:
    """The dev plugin module, or None in an installed wheel (no ``devstack`` package)."""
    if importlib.util.find_spec(DEV_PLUGIN.split(".", 1)[0]) is None:
        return None
    module: ModuleType = importlib.import_module(DEV_PLUGIN)
    return cast(DevPlugin, module)
