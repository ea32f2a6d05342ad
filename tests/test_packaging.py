"""The product apart from its dev stack: it imports and runs without devstack, moto, aiosmtpd."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from quoteflow.settings import PROJECT_ROOT

DEV_ONLY = ("devstack", "moto", "aiosmtpd")

# Runs in a fresh interpreter where the dev-only packages cannot be imported, as in an
# installed wheel: every product module that the CLI, the deployments and the flows load.
PROBE = f"""
import json, sys
for name in {DEV_ONLY!r}:
    sys.modules[name] = None  # import fails, find_spec answers None
import blocks.register, deployments.deploy, deployments.worker
import flows.customer_quote, flows.reconcile, flows.send_quote_email, flows.verify_checks
import quoteflow.approval_page.app
from typer.testing import CliRunner
from quoteflow.cli.app import app
result = CliRunner().invoke(app, ["--help"])
db = CliRunner().invoke(app, ["db", "--help"])
print(json.dumps({{"exit": result.exit_code, "help": result.output, "db": db.output}}))
"""


def test_product_runs_without_the_dev_tools() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0
    assert "deploy" in report["help"] and "blocks" in report["help"]
    for dev_command in ("stack ", "demo "):
        assert dev_command not in report["help"]
    assert "migrate" in report["db"] and "seed" not in report["db"]


def test_dev_tools_stay_out_of_the_wheel_and_its_dependencies() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "devstack" not in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    shipped = " ".join(project["project"]["dependencies"])
    dev = " ".join(project["dependency-groups"]["dev"])
    for name in ("moto", "aiosmtpd"):
        assert name not in shipped and name in dev
