"""The README's Quick start demo command, run on Debian's own Python in a copy of the checkout."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
# Root's PATH on a stock Debian: no pyenv or other Python in front of the system's.
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Making the venv and installing from a warm pip cache takes about 20 s on 2 busy cores; a
# cold cache downloads every package.
INSTALL_TIMEOUT = 300.0
# A re-run installs nothing, so the demo answers as soon as the server has started.
RERUN_TIMEOUT = 30.0


def demo_command() -> str:
    """Return the first of the Quick start's two command lines."""
    section = (ROOT / "README.md").read_text().split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)
    assert len(commands) == 2 and all("\n" not in command for command in commands), commands
    return commands[0]


def needs_system_python() -> None:
    """Skip without Debian's Python 3.11+ at /usr/bin/python3; in CI, fail instead."""
    found = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"], capture_output=True
    ) if os.path.exists(SYSTEM_PYTHON) else None
    if found is None or found.returncode != 0:
        message = f"the Quick start test needs Debian's Python 3.11+ at {SYSTEM_PYTHON}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def copy_checkout(destination: Path) -> None:
    """Copy the files git would commit, as they are in the work tree (nothing ignored, no .venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    )
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():  # a file deleted in the work tree is still listed
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def newcomer_env() -> dict[str, str]:
    """Return this environment without our venv, pyenv or settings: a shell on a fresh machine."""
    ours = ("PYTHON", "PYENV", "VIRTUAL_ENV", "CHATSERVER_")
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(ours) and key not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")
    }
    return env | {"PATH": DEBIAN_PATH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run_demo(checkout: Path, log: Path, timeout: float) -> None:
    """Run the demo command on a free port until /healthz answers, then stop it."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"{demo_command()} --port {port}"], cwd=checkout, env=newcomer_env(),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                output = log.read_text()
                if "externally-managed-environment" in output:
                    pytest.fail(f"the demo command stopped on PEP 668:\n{output}")
                pytest.fail(f"the demo command exited with {process.returncode}:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not answer /healthz in {timeout:.0f} s:\n{log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        # The script, and the server it became, are one process group of their own.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_demo_installs_into_a_venv_of_the_system_python_and_serves(tmp_path: Path) -> None:
    needs_system_python()
    checkout = tmp_path / "checkout"
    copy_checkout(checkout)

    run_demo(checkout, tmp_path / "first.log", INSTALL_TIMEOUT)
    assert "home = /usr/bin\n" in (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert "admin sign-in" in (tmp_path / "first.log").read_text()

    # Nothing changed, so the second run reuses the venv and installs nothing.
    stamp = checkout / ".venv" / ".chatserver-installed"
    installed = stamp.stat().st_mtime_ns
    run_demo(checkout, tmp_path / "again.log", RERUN_TIMEOUT)
    assert stamp.stat().st_mtime_ns == installed
