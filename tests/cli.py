"""Running the command line as a person would: `python app.py …` in a subprocess with the test's environment."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `python app.py ARGS` in a subprocess with the test's environment."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)
