"""User extensions: methods and metrics from installed packages or from a file.

* Installed: a package declares modules in the entry-point groups
  ``saliency_bench.methods`` or ``saliency_bench.metrics``; importing the module
  registers its units (``@register_method`` / ``@register_metric``).
* A file: ``saliency-bench --plugin my_metric.py ...`` (or :func:`load_plugin_file`)
  imports the file as a module once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

__all__ = ["PluginError", "load_entry_points", "load_plugin_file"]

log = logging.getLogger(__name__)


class PluginError(RuntimeError):
    """A plug-in could not be loaded; the message names it."""


def load_entry_points(group: str) -> list[str]:
    """Import every module declared in the entry-point ``group``; returns their names."""
    loaded = []
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as exc:
            raise PluginError(
                f"plug-in {ep.name!r} ({ep.value}) in {group} failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        loaded.append(ep.name)
    return loaded


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a Python file as a module (once per resolved path) and return it.

    Raises:
        PluginError: the file does not exist, is not a .py file, or raises on import.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file() or path.suffix != ".py":
        raise PluginError(f"plug-in {str(path)!r} is not a Python file")
    name = "saliency_bench_plugin_" + hashlib.blake2b(str(path).encode(), digest_size=6).hexdigest()
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plug-in {str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"plug-in {str(path)!r} failed to import: {type(exc).__name__}: {exc}") from exc
    log.info("loaded plug-in %s", path)
    return module
