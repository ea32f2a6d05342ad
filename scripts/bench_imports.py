"""What a flow-run process imports before its first task, and what loading the
customer-quote flow module costs: ``python -X importtime`` of ``flows.customer_quote``
after ``prefect.flow_engine`` (which every flow-run process has already imported), and
the wall time of the three stages (Prefect's engine, the flow module, the Prefect
collections the engine loads with the results block), with and without bytecode,
repeated, medians.

Run: ``uv run python scripts/bench_imports.py [--project-dir DIR] [--repeat N]``;
``--project-dir`` measures another checkout (e.g. main, for "before"). "Without
bytecode" points ``PYTHONPYCACHEPREFIX`` at an empty directory: Python then compiles
every module from source, as each flow-run process did when the venv had no .pyc files
and PYTHONDONTWRITEBYTECODE was set. Prints figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
WATCH = ("xhtml2pdf", "reportlab", "prefect_aws", "boto3", "botocore", "psycopg", "sqlalchemy")


def one(project_dir: Path) -> tuple[float, dict[str, float], set[str]]:
    """(flow module cumulative s, its direct children's cumulative s, WATCH packages it loads)."""
    code = "import prefect.flow_engine, prefect.engine; import flows.customer_quote"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [m for line in proc.stderr.splitlines() if (m := LINE.match(line))]
    end = next(i for i, m in enumerate(rows) if m.group(4) == "flows.customer_quote")
    start = end
    while start > 0 and len(rows[start - 1].group(3)) > 1:
        start -= 1  # the flow module's own import tree precedes its line
    children: dict[str, float] = {}
    watched: set[str] = set()
    for m in rows[start:end]:
        depth, name, cumulative = len(m.group(3)), m.group(4), int(m.group(2)) / 1e6
        if depth == 3:
            children[name] = cumulative
        watched |= {w for w in WATCH if name == w or name.startswith(w + ".")}
    return int(rows[end].group(2)) / 1e6, children, watched


STAGES = (
    "import time; t0 = time.perf_counter(); import prefect.engine; t1 = time.perf_counter(); "
    "import flows.customer_quote; t2 = time.perf_counter(); "
    "from prefect.plugins import load_prefect_collections; load_prefect_collections(); "
    "t3 = time.perf_counter(); print(t1 - t0, t2 - t1, t3 - t2)"
)
STAGE_NAMES = ("import prefect.engine", "import flows.customer_quote", "Prefect collections")


def stages(project_dir: Path, *, bytecode: bool) -> list[float]:
    """Wall seconds of each stage in a new interpreter."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as empty:
        if not bytecode:
            env["PYTHONPYCACHEPREFIX"] = empty
        proc = subprocess.run(
            [sys.executable, "-c", STAGES],
            cwd=project_dir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return [float(x) for x in proc.stdout.split()]


def print_stages(project_dir: Path, repeat: int) -> None:
    print("a new flow-run process up to its first task (wall s, median):")
    print(f"  {'stage':<32}{'bytecode':>10}{'none':>10}")
    runs = {b: [stages(project_dir, bytecode=b) for _ in range(repeat)] for b in (True, False)}
    for i, name in enumerate((*STAGE_NAMES, "total")):
        row = []
        for b in (True, False):
            values = [sum(r) if name == "total" else r[i] for r in runs[b]]
            row.append(f"{statistics.median(values):10.2f}")
        print(f"  {name:<32}{''.join(row)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    totals, children, watched = [], {}, set()
    for _ in range(args.repeat):
        total, kids, seen = one(args.project_dir)
        totals.append(total)
        for name, value in kids.items():
            children.setdefault(name, []).append(value)
        watched |= seen
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; {args.project_dir}")
    print(
        f"import flows.customer_quote (prefect.flow_engine already loaded): "
        f"median {statistics.median(totals):.2f} s over {args.repeat}"
    )
    print("largest direct imports (median s):")
    top = sorted(children.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
    for name, values in top:
        print(f"  {name:<32}{statistics.median(values):6.2f}")
    print("heavy packages it loads: " + (", ".join(sorted(watched)) or "none"))
    print_stages(args.project_dir, args.repeat)


if __name__ == "__main__":
    main()
