"""Start: from `chatserver serve` on an empty data dir to the first /healthz answer.

That includes creating the store, importing the default help centre and building its
search index. The baseline is a bare Starlette app under uvicorn (bare_app.py): what any
server on this stack pays to start.

    python -m bench start [--smoke]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Mode, Row, free_port, median, stop, wait_http


def _seconds(command: list[str], port: int) -> float:
    env = {**os.environ, "CHATSERVER_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env, cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        return time.perf_counter() - start
    finally:
        stop(process)


def run(mode: Mode) -> list[Row]:
    rounds = mode.pick(3, 1)
    print(f"start: {rounds} cold starts on an empty data dir, beside a bare Starlette app",
          flush=True)
    ours, bare = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            ours.append(_seconds([sys.executable, "-m", "chatserver", "serve", "--port",
                                  str(port), "--data-dir", str(Path(tmp) / "data")], port))
        port = free_port()
        bare.append(_seconds([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port)], port))
    return [Row("start", "empty data dir to first /healthz (vs bare Starlette app)", median(ours),
                median(bare), "s")]
