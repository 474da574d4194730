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

import pytest

from bench.__main__ import PARTS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("part", PARTS)
def test_each_part_runs_in_smoke_mode_and_prints_its_figures(tmp_path: Path, part: str) -> None:
    """One part per test, so the workers share the parts out."""
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", part, "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    header = next(line for line in done.stdout.splitlines() if line.startswith("figure"))
    assert header.split() == ["figure", "ours", "baseline", "ratio", "budget", "within"]
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["failed"] == []
    assert {row["part"] for row in report["rows"]} == {part}, "the part gives figures"
    for row in report["rows"]:
        # Every figure is printed in the table, and carries what the README shows.
        assert f"{row['part']}: {row['figure']}" in done.stdout
        assert row["ours"] is not None
        assert set(row) >= {"baseline", "ratio", "budget", "within_budget", "unit"}
    budgets = {row["figure"] for row in report["rows"] if row["budget"]}
    if part == "relay":
        assert any("CPU per message" in f for f in budgets)
    if part == "widget":
        assert any("loader" in f for f in budgets)


def test_an_unknown_part_is_refused_with_the_list() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "nonsense"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown part 'nonsense'" in done.stderr and "relay" in done.stderr
