"""Loading what registers itself: the project's own modules, installed entry points, and plugin
modules or folders named by a config. Shared by the policy and the training-method registries."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from lapa_bench.errors import UserError


def _why(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"


def import_modules(names, broken: dict) -> None:
    """Import each module; a failure is recorded in ``broken`` (a broken optional module must not hide the rest)."""
    for mod in names:
        try:
            importlib.import_module(mod)
        except Exception as e:
            broken[mod] = _why(e)


def load_entry_points(group: str, broken: dict, on_load=None) -> None:
    """Load every installed entry point of ``group``; ``on_load(name, obj)`` registers what it gives."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        try:
            obj = ep.load()
            if on_load is not None:
                on_load(ep.name, obj)
        except Exception as e:
            broken[f"entry point {ep.name} ({ep.value})"] = _why(e)


def unknown(kind: str, plural: str, name: str, known, broken: dict) -> str:
    """The error for an unknown registered name: what is known, and what failed to import."""
    msg = f"unknown {kind} {name!r}. Known {plural}: {', '.join(sorted(known))}."
    if broken:
        msg += " Modules that failed to import: " + "; ".join(f"{k} ({v})" for k, v in broken.items())
    return msg


def load_plugin(spec: str) -> None:
    """Import a module that registers methods/policies: a dotted name, or a path to a .py file or a method
    folder (its ``policy.py`` and ``train.py`` are imported too)."""
    p = Path(spec)
    if not p.exists():
        if "/" in spec or spec.endswith(".py"):
            raise UserError(f"plugin {spec!r}: no such file or folder (give a path that exists, or a module name)")
        try:
            importlib.import_module(spec)
        except ModuleNotFoundError as e:
            raise UserError(f"plugin {spec!r}: no module {e.name!r} can be imported (install it, or give the path "
                             "of its file or folder)") from None
        return
    p = p.resolve()
    init = p / "__init__.py" if p.is_dir() else p
    name = p.name if p.is_dir() else p.stem
    if name in sys.modules:
        return
    s = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(p)] if p.is_dir() else None)
    if s is None or not init.is_file():
        raise UserError(f"plugin {spec!r} is not a Python module or a package folder (with __init__.py)")
    mod = importlib.util.module_from_spec(s)
    sys.modules[name] = mod
    if str(p.parent) not in sys.path:
        sys.path.insert(0, str(p.parent))
    s.loader.exec_module(mod)
    for sub in ("policy", "train"):  # a method folder: its policy and its training module
        if p.is_dir() and (p / f"{sub}.py").is_file():
            importlib.import_module(f"{name}.{sub}")
