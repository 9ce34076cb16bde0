"""Finding the modules of a package that each provide one thing (a step kind, a mechanism): adding one is adding
a module, with no list to keep in step elsewhere."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from pydantic import BaseModel


def discover(package: ModuleType, attribute: str) -> list[Any]:
    """`attribute` of every module of `package` that defines it, in module name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda module: module.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, attribute):
            found.append(getattr(module, attribute))
    return found


def complete_models(package: ModuleType, namespace: dict[str, Any]) -> None:
    """Rebuilds the models of a package that refer to a type only known once every module is found."""
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and not value.__pydantic_complete__:
                value.model_rebuild(_types_namespace=namespace)
