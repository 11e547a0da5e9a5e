"""Shared helpers: result files, machine info, and the Markdown table in benchmarks/README.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent
CONSTRAINTS = ROOT / "constraints.txt"


def throwaway_venv(name: str, *installs: list[str]) -> Path:
    """The python of ``benchmarks/.venv-<name>`` (git-ignored), built on first use by one
    ``pip install`` per entry of ``installs`` (so torch's CPU pin can go in before anything
    that would pull another build), and reused after: a stamp marks a finished build, so an
    interrupted one is redone rather than half used. A peer tool lives there, never in the
    project's own venv."""
    venv = HERE / f".venv-{name}"
    py = venv / "bin" / "python"
    stamp = venv / ".built"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        for args in installs:
            subprocess.run([str(py), "-m", "pip", "install", "-q", *args], check=True)
        stamp.write_text("\n".join(" ".join(a) for a in installs) + "\n")
    return py


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_result(name: str, payload: dict[str, Any], folder: Path = RESULTS) -> Path:
    """``folder/<name>.json``: results/ for a measurement, elsewhere for a smoke run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
