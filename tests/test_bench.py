"""The bench's CI smoke: every part runs in its smallest mode, prints the table, writes JSON.

Timings on a shared CI machine mean nothing, so none are asserted; this only keeps the bench
from rotting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ["relay", "overload", "storm", "peak", "idle", "durability", "search", "widget", "start"]


def test_smoke_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,  # every part, on a busy 2-core machine
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    header = next(line for line in done.stdout.splitlines() if line.startswith("figure"))
    assert header.split() == ["figure", "ours", "baseline", "ratio", "budget", "within"]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["failed"] == []
    assert {row["part"] for row in report["rows"]} == set(PARTS)
    for row in report["rows"]:
        # Every figure is printed in the table, and carries what the README shows.
        assert f"{row['part']}: {row['figure']}" in done.stdout
        assert row["ours"] is not None
        assert set(row) >= {"baseline", "ratio", "budget", "within_budget", "unit"}
    budgets = {row["figure"] for row in report["rows"] if row["budget"]}
    assert any("CPU per message" in f for f in budgets)
    assert any("loader" in f for f in budgets)


def test_an_unknown_part_is_refused_with_the_list() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "nonsense"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown part 'nonsense'" in done.stderr and "relay" in done.stderr
