"""A stand-in for the `motia` Python module, so step files that import names from it load without Motia.

Motia 0.17's Python steps rarely import from `motia` (type hints at most). When the real package is not
installed, `import motia` / `from motia import X` gives a module whose every attribute is a permissive
placeholder type (usable in annotations, subscriptable, callable). A real `motia` installed in the
environment is left alone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from typing import Any, Iterator


class _Placeholder:
    """Stands for any name of the `motia` module: a type usable in annotations, generics and calls."""

    def __class_getitem__(cls, _item: Any) -> type:
        return cls

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class _MotiaShim(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = type(name, (_Placeholder,), {"__module__": "motia"})
        setattr(self, name, placeholder)
        return placeholder


def _real_motia_available() -> bool:
    try:
        return importlib.util.find_spec("motia") is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Makes `import motia` work while a step file loads (and after: handlers may import it lazily)."""
    if "motia" not in sys.modules and not _real_motia_available():
        shim = _MotiaShim("motia", "CFP's stand-in for Motia's Python module")
        from . import errors

        shim.NonRetriableError = errors.NonRetriableError  # type: ignore[attr-defined]
        sys.modules["motia"] = shim
    yield
