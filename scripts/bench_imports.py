"""What loading the customer-quote flow module costs a flow-run process: ``python -X
importtime`` of ``flows.customer_quote`` after ``prefect.flow_engine`` (which every
flow-run process has already imported), repeated, medians.

Run: ``uv run python scripts/bench_imports.py [--project-dir DIR] [--repeat N]``;
``--project-dir`` measures another checkout (e.g. main, for "before"). Prints figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
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


if __name__ == "__main__":
    main()
