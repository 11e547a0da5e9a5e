"""The command that started this sweep, to start its workers: the same app, not cellsweep-train.

A worker is one more process of the app that was launched, with the same overrides: a script
(``python app.py``), a module (``python -m pkg.app``) or a console script (``cellsweep-train``,
whose file is a Python script). When none of these can be told (the app was called in-process,
as tests do), the module of the task function is run with ``-m``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def app_command(task_function: Any, cwd: str | Path | None = None) -> list[str]:
    """``[python, <how the app was started>]``, without its arguments."""
    main = sys.modules.get("__main__")
    module = getattr(task_function, "__module__", None) or ""
    base = Path(cwd) if cwd else Path.cwd()
    if module == "__main__" and main is not None:
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:  # python -m pkg.app
            return [sys.executable, "-m", spec.name.removesuffix(".__main__")]
        return [sys.executable, str((base / sys.argv[0]).resolve())]  # python app.py
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and (base / script).is_file():  # a console script, or a wrapper
        return [sys.executable, str((base / script).resolve())]
    return [sys.executable, "-m", module]
