"""Which code produced a run: the git commit and whether the tree had uncommitted changes."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_state(root: str | Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout at ``root``, or (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
