"""The built wheel is the product: installed into a fresh virtualenv without the dev group,
and run from a directory outside the checkout, it shows the contract with every fan-out
step REAL, plans its deployments from the prefect.yaml it ships (their flows found in the
installed packages), and keeps its state in the user's data directory.

Packages come from uv's cache (the lock's versions, exported without the dev group), so
this needs no network once ``uv sync`` has run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.deploy import deployment_specs
from quoteflow.run_rules import FANOUT_STEPS

CHECKOUT = Path(__file__).resolve().parent.parent
# Variables that would point the installed product back at the checkout or at a server.
_SCRUBBED_PREFIXES = ("QUOTEFLOW_", "PREFECT_", "VIRTUAL_ENV", "UV_PROJECT", "PYTHONPATH")

pytestmark = pytest.mark.wheel


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found and (Path.home() / ".local/bin/uv").is_file():
        found = str(Path.home() / ".local/bin/uv")
    assert found, "uv is needed to build and install the wheel (./dev.sh installs it)"
    return found


def _uv_run(*args: str | Path, cwd: Path) -> None:
    """A uv command from the cache only; online only if the cache lacks something."""
    command = [_uv(), *map(str, args)]
    for extra in (["--offline"], []):
        done = subprocess.run(
            [*command, *extra], cwd=cwd, capture_output=True, text=True, timeout=600
        )
        if done.returncode == 0:
            return
    raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel built from this checkout, installed with the shipped dependencies only."""
    root = tmp_path_factory.mktemp("wheel")
    dist, venv = root / "dist", root / "venv"
    _uv_run("build", "--wheel", "--out-dir", dist, "--quiet", CHECKOUT, cwd=root)
    [wheel] = dist.glob("quoteflow-*.whl")
    requirements = root / "requirements.txt"
    _uv_run(
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--format",
        "requirements-txt",
        "--project",
        CHECKOUT,
        "--output-file",
        requirements,
        "--quiet",
        cwd=CHECKOUT,
    )
    _uv_run("venv", "--python", sys.executable, "--quiet", venv, cwd=root)
    python = venv / "bin" / "python"
    _uv_run("pip", "install", "--python", python, "--quiet", "-r", requirements, wheel, cwd=root)
    outside = root / "elsewhere"
    outside.mkdir()
    return {"root": root, "venv": venv, "python": python, "outside": outside}


def _run(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """Run in the fresh venv, from a directory outside the checkout, with a clean env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["XDG_DATA_HOME"] = str(installed["root"] / "xdg")
    env["PREFECT_HOME"] = str(installed["root"] / "prefect-home")
    env["PATH"] = f"{installed['venv'] / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        list(args),
        cwd=installed["outside"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


PROBE = """
import importlib.util, json, sysconfig
import quoteflow
from quoteflow.settings import get_settings
print(json.dumps({
    "package": quoteflow.__file__,
    "site": sysconfig.get_paths()["purelib"],
    "state_dir": str(get_settings().state_dir),
    "project_dir": str(get_settings().project_dir),
    "devstack": importlib.util.find_spec("devstack") is not None,
}))
"""


def test_the_installed_package_is_not_the_checkout_and_keeps_state_in_the_user_data_dir(
    installed,
) -> None:
    done = _run(installed, str(installed["python"]), "-c", PROBE)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    site = Path(probe["site"])
    assert Path(probe["package"]).parent == site / "quoteflow"
    assert not Path(probe["package"]).is_relative_to(CHECKOUT)
    assert probe["state_dir"] == str(installed["root"] / "xdg" / "quoteflow")
    assert Path(probe["project_dir"]) == site
    assert probe["devstack"] is False


def test_the_contract_shows_every_fanout_step_real(installed) -> None:
    done = _run(installed, "quoteflow", "contract", "--no-live")
    assert done.returncode == 0, done.stderr
    assert "## 6. Fan-out targets: 5 total · 5 real · 0 stub" in done.stdout
    assert len(FANOUT_STEPS) == 5
    assert "STUB" not in done.stdout.replace("0 stub", "")
    assert "FileNotFoundError" not in done.stderr


def test_deploy_help_and_dry_run_find_the_flows_in_the_installed_packages(installed) -> None:
    helped = _run(installed, "quoteflow", "deploy", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--dry-run" in helped.stdout

    cli_help = _run(installed, "quoteflow", "--help")
    assert cli_help.returncode == 0 and "deploy" in cli_help.stdout
    assert "stack " not in cli_help.stdout and "demo " not in cli_help.stdout  # dev tools

    planned = _run(installed, "quoteflow", "deploy", "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    lines = planned.stdout.splitlines()
    site = _run(
        installed,
        str(installed["python"]),
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ).stdout.strip()
    assert f"prefect.yaml  {site}/deployments/prefect.yaml" in lines
    assert f"project dir   {site}" in lines
    declared = len(deployment_specs())
    rows = [line for line in lines if " flows/" in line]
    assert len(rows) == declared and all(" ok " in row for row in rows), planned.stdout
    assert f"{declared} deployments; nothing was deployed (dry run)." in lines
    # Nothing was written beside the installed code.
    assert not (Path(site) / ".var").exists()
