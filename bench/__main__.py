"""python -m bench [PART ...] [--smoke] [--out FILE]

Runs each part (all by default), prints one table of every figure beside its baseline
measured in the same run, with its budget, and writes the same rows as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import ROOT, Mode, Row, raise_fd_limit

PARTS = ("relay", "overload", "storm", "peak", "limits", "idle", "durability", "search", "widget", "start",
         "webhooks", "files", "api_latency")
RESULTS = ROOT / "bench" / "results" / "latest.json"


def machine() -> str:
    """Describe the machine in one line: CPU model, cores, memory, Python."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return (f"{os.cpu_count()} cores ({model}), {memory} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def _number(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row], markdown: bool = False) -> str:
    """Render the rows as an aligned text table, or as Markdown for the README."""
    head = ["figure", "ours", "baseline", "ratio", "budget", "within"]
    cells = []
    for row in rows:
        unit = f" ({row.unit})" if row.unit else ""
        within = {True: "yes", False: "NO", None: ""}[row.ok]
        cells.append([
            f"{row.part}: {row.figure}{unit}", _number(row.ours), _number(row.baseline),
            "-" if row.ratio is None else f"{row.ratio:.2f}x", row.budget_text(), within,
        ])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *cells]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                       enumerate(zip(r, widths, strict=True))) for r in [head, *cells]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[2])
    parser.add_argument("parts", nargs="*", metavar="PART",
                        help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes for CI: checks the bench runs, figures mean nothing")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    mode = Mode(smoke=args.smoke)
    fds = raise_fd_limit()
    print(f"bench on {machine()}; open files limit {fds}" + ("; SMOKE run" if mode.smoke else ""),
          flush=True)
    rows: list[Row] = []
    failed: list[str] = []
    timings: dict[str, float] = {}
    for part in args.parts or PARTS:
        start = time.perf_counter()
        try:
            module: Any = importlib.import_module(f"bench.{part}")
            rows += module.run(mode)
        except Exception:
            # One broken part must not hide the others' figures; it is reported and fails the run.
            traceback.print_exc()
            failed.append(part)
        timings[part] = round(time.perf_counter() - start, 1)
        print(f"{part}: done in {timings[part]} s", flush=True)
    print()
    print(table(rows))
    if args.markdown:
        print()
        print(table(rows, markdown=True))
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "smoke": mode.smoke,
        "seconds": timings,
        "failed": failed,
        "rows": [
            {"part": r.part, "figure": r.figure, "unit": r.unit, "ours": r.ours,
             "baseline": r.baseline, "ratio": r.ratio, "budget": r.budget_text() or None,
             "within_budget": r.ok, "note": r.note or None}
            for r in rows
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    notes = [f"{r.part}: {r.figure}: {r.note}" for r in rows if r.note]
    for note in notes:
        print(f"note: {note}")
    print(f"\nwrote {args.out}")
    if failed:
        print(f"failed parts: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
