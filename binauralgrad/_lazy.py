"""Public names that load their defining module on first use (cheap package imports)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str],
                 names: Iterable[str]) -> tuple[Callable, Callable]:
    """A package's module-level `__getattr__` and `__dir__` for names imported on first use.

    Args:
        package: the package's `__name__`, for the error message.
        exports: public name -> the module that defines it.
        names: what `dir(package)` lists (its `__all__`).
    """
    listed = sorted(names)

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__
