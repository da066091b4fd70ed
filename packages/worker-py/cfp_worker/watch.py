"""Polls a project's Python files for changes (hot reload in `--watch` mode): every `.py` file under the project
except ignored directories (`node_modules`, dot-directories such as `.cfp`, `dist`, `__pycache__`)."""

from __future__ import annotations

import os

from .loader import is_ignored_dir


def snapshot(root: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not is_ignored_dir(x) and x not in ("venv", "python_modules")]
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(d, f)
                try:
                    out[p] = os.stat(p).st_mtime_ns
                except OSError:
                    pass
    return out


def changed(before: dict[str, float], after: dict[str, float]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
