"""quoteflow's development tools, not shipped in the wheel: the local service stack
(Prefect server, moto S3, fake NetSuite, SMTP sink, approval page), the fakes, the demo
dataset and the demo. ``devstack.cli`` plugs their commands into ``quoteflow``
(see ``quoteflow.cli.plugins``); their dependencies are in the ``dev`` dependency group.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "QUOTEFLOW_STATE_DIR"
# The checkout the dev tools run from: its .var/ holds the local stack, its database and logs.
CHECKOUT_STATE_DIR = Path(__file__).resolve().parent.parent / ".var"


def use_checkout_state_dir() -> Path:
    """Make <checkout>/.var quoteflow's state dir in this process (and the processes it
    starts) unless QUOTEFLOW_STATE_DIR names another; the installed product's default is
    the user's data directory. Returns the state dir in force."""
    from quoteflow.settings import get_settings

    os.environ.setdefault(STATE_DIR_ENV, str(CHECKOUT_STATE_DIR))
    get_settings.cache_clear()
    return Path(os.environ[STATE_DIR_ENV])
