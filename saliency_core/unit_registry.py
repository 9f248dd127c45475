"""A named registry of plug-in units (methods, metrics), shared by both interfaces.

A unit registers itself in its own module; nothing else names it. The registry
finds the built-in units by importing every public module of their package, and
user units through an entry-point group or a plug-in file (:mod:`saliency_core.plugins`).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Iterator, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Units by name (and alias), listed in name order (whatever the import order).

    Args:
        kind: What the units are ("method", "metric"), for messages.
        package: The package whose public modules hold the built-in units; they are
            imported on first use, so importing the registry has no side effects.
        group: The entry-point group where installed plug-ins declare units.
    """

    def __init__(self, kind: str, package: str, group: str):
        self.kind, self.package, self.group = kind, package, group
        self._units: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._loaded = False

    def add(self, name: str, unit: T, *, aliases: tuple[str, ...] = (), replace: bool = False) -> T:
        """Register ``unit`` under ``name``; ValueError if taken (unless ``replace``)."""
        if not name or name != name.strip().lower():
            raise ValueError(f"{self.kind} name must be lower-case without spaces, got {name!r}")
        for key in (name, *aliases):
            owner = self._aliases.get(key, key if key in self._units else None)
            if owner is not None and not (replace and owner == name):
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._units[name] = unit
        for alias in aliases:
            self._aliases[alias] = name
        return unit

    def remove(self, name: str) -> None:
        """Forget ``name`` and its aliases (for tests and plug-in reloads)."""
        self._units.pop(name, None)
        for alias in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[alias]

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases; ValueError naming the choices."""
        self._load()
        key = str(name).strip().lower()
        key = self._aliases.get(key, key)
        if key not in self._units:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {', '.join(self.names())}")
        return key

    def get(self, name: str) -> T:
        return self._units[self.canonical(name)]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._units)

    def aliases(self) -> dict[str, str]:
        self._load()
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        self._load()
        key = str(name).strip().lower()
        return self._aliases.get(key, key) in self._units

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter([self._units[name] for name in sorted(self._units)])

    def __len__(self) -> int:
        self._load()
        return len(self._units)

    def _load(self) -> None:
        """Import the built-in units' modules, then installed plug-ins (once)."""
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{self.package}.{info.name}")
        from .plugins import load_entry_points

        load_entry_points(self.group)
