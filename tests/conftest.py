"""Shared fixtures: repository paths and a throw-away copy of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "resources" / "demo"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo() -> Path:
    return DEMO


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow definition into ``dest``; the (read-only) demo data is linked."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("workflow", "profiles", "envs", "tests", "config", "experiments"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, dest / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "slurm").symlink_to("profiles/slurm")
    (dest / "resources").mkdir()
    for entry in (REPO / "resources").iterdir():
        (dest / "resources" / entry.name).symlink_to(entry)
    return dest


def run_snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 900):
    """Run ``python -m snakemake`` in ``workdir``; return the CompletedProcess (text output)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
