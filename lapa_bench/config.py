"""One config source: typed, nested dataclasses, built from YAML/JSON dicts and command-line flags.

Every default lives in a dataclass field; nothing else defines one. This module turns such a
dataclass into:

* an object from a (nested) dict, e.g. a YAML file: :func:`from_dict`. Unknown keys and wrongly
  typed values are errors (:class:`ConfigError`) naming the key, the expected type and the valid
  keys, raised before any work starts.
* command-line flags, one per leaf field, dotted for nesting (``--train.lr 1e-4``,
  ``--model.image_size 128``): :func:`add_arguments` / :func:`from_args`. The same dotted keys
  are the override syntax everywhere (``--policy.noise 0.01`` at evaluation time too).
* a printable, re-loadable dict: :func:`to_dict` (``--print-config`` prints it as YAML).

A nested dataclass whose class has a ``PRESETS`` dict (name -> factory) accepts a ``preset`` key:
``model: {preset: full, image_size: 128}`` starts from ``PRESETS["full"]()``, then applies the rest.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from lapa_bench.errors import MissingFile, UserError

MISSING = dataclasses.MISSING


class ConfigError(UserError):
    """A config value or key is wrong; the message names it and says what would be right."""


# -- types ---------------------------------------------------------------------------------
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, dict):
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]" if args else origin.__name__
    return getattr(tp, "__name__", str(tp))


def _parse_text(text: str, tp):
    """A command-line string -> a Python value for type ``tp`` (JSON for containers)."""
    if tp is str:
        return text
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if tp is bool:
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def coerce(value, tp, where: str):
    """Check ``value`` against the annotation ``tp``; return it (converted where lossless)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = ConfigError(f"{where}: expected {type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(e)
        raise bad
    if origin is Literal:
        if value in args:
            return value
        raise bad
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return from_dict(tp, value, where=where)
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        inner = args[0] if args else Any
        return [coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        if args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values ({type_name(tp)}), got {value!r}")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        inner = args[0] if args else Any
        return tuple(coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise bad


# -- dicts <-> dataclasses -----------------------------------------------------------------
def from_dict(cls, data: dict | None, base=None, where: str = ""):
    """Build ``cls`` from a nested dict, starting from ``base`` (default: ``cls()`` or its preset)."""
    data = dict(data or {})
    label = where or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping of {cls.__name__} fields, got {data!r}")
    presets = getattr(cls, "PRESETS", None)
    if "preset" in data and presets is not None and "preset" not in {f.name for f in dataclasses.fields(cls)}:
        name = data.pop("preset")
        if name not in presets:
            raise ConfigError(f"{label}.preset: unknown preset {name!r}; choose from {sorted(presets)}")
        base = presets[name]()
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        keys = sorted(fields) + (["preset"] if presets else [])
        raise ConfigError(f"{label}: unknown key(s) {unknown}; valid keys: {keys}")
    values = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if base is not None:
            cur = getattr(base, name)
        elif f.default_factory is not MISSING:  # e.g. a method's own TrainConfig defaults
            cur = f.default_factory()
        else:
            cur = f.default
        if name in data:
            tp = hints[name]
            if dataclasses.is_dataclass(tp) and isinstance(data[name], dict):
                values[name] = from_dict(tp, data[name], base=None if cur is MISSING else cur, where=sub)
            else:
                values[name] = coerce(data[name], tp, sub)
        elif cur is not MISSING:
            values[name] = cur
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{label}: missing required key {name!r} ({type_name(hints[name])})")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{label}: {e}") from None


def to_dict(obj) -> dict:
    """Plain, JSON/YAML-serialisable dict of a (nested) dataclass."""
    def plain(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v
    return plain(obj)


def nest(flat: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict = {}
    for key, v in flat.items():
        parts = key.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


def merge(base: dict, extra: dict) -> dict:
    """Deep merge of nested dicts (``extra`` wins)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def field_default(cls, name: str):
    """The default of field ``name`` of dataclass ``cls`` (``MISSING`` when it has none)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default_factory() if f.default_factory is not MISSING else f.default


def leaves(cls, prefix: str = "", base=None):
    """(dotted key, type, default) of every leaf field; a nested dataclass is walked into."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        key = prefix + f.name
        default = getattr(base, f.name) if base is not None else field_default(cls, f.name)
        if dataclasses.is_dataclass(tp):
            if getattr(tp, "PRESETS", None):
                yield key + ".preset", str, MISSING
            yield from leaves(tp, key + ".", None if default is MISSING else default)
        else:
            yield key, tp, default


# -- command line --------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser, cls, prefix: str = "", skip=()) -> None:
    """One ``--dotted.key VALUE`` flag per leaf field of ``cls`` (defaults stay in the dataclass)."""
    group = parser.add_argument_group(f"{cls.__name__} settings (--KEY VALUE; JSON for lists/dicts)")
    for key, tp, default in leaves(cls, prefix):
        if key in skip:
            continue
        shown = "required" if default is MISSING else f"default {json.dumps(to_dict(default), default=str)}"
        flags = ["--" + key] + (["--" + key.replace("_", "-")] if "_" in key else [])
        many = _is_list(tp)
        group.add_argument(*flags, dest="cfg:" + key, default=argparse.SUPPRESS, nargs="+" if many else None,
                           metavar=_metavar(tp, many),
                           help=f"{type_name(tp)}; {shown}")


def _metavar(tp, many: bool) -> str:
    if many:
        return "VALUE"
    if typing.get_origin(tp) is Literal:
        return "{" + ",".join(map(str, typing.get_args(tp))) + "}"
    return type_name(tp).upper().replace(" ", "")


def _is_list(tp) -> bool:
    """list[...] (or an optional one): one flag takes several values, ``--data a b``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) in (Union, types.UnionType) \
        else [tp]
    return len(args) == 1 and (typing.get_origin(args[0]) is list or args[0] is list)


def overrides_from_args(args: argparse.Namespace, cls, prefix: str = "") -> dict:
    """The flags given on the command line (typed), as a nested dict for :func:`from_dict`."""
    types_ = {k: tp for k, tp, _ in leaves(cls, prefix)}
    flat = {}
    for dest, text in vars(args).items():
        if not dest.startswith("cfg:"):
            continue
        key = dest[4:]
        tp = types_.get(key, str)
        if isinstance(text, list):  # nargs="+": each value parsed as the list's item type
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            item = (typing.get_args(inner[0]) or (str,))[0] if inner and typing.get_origin(tp) is not list \
                else (typing.get_args(tp) or (str,))[0]
            flat[key[len(prefix):]] = [_parse_text(t, item) for t in text]
        else:
            flat[key[len(prefix):]] = _parse_text(text, tp) if isinstance(text, str) else text
    return nest(flat)


def parse_dotted(tokens: list[str], prefix: str) -> dict:
    """``["--policy.noise", "0.1", "--policy.x=2"]`` -> ``{"noise": "0.1", "x": "2"}`` (strings)."""
    out, i = {}, 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--" + prefix):
            raise ConfigError(f"unrecognized argument {tok!r}")
        key = tok[2 + len(prefix):]
        if "=" in key:
            key, val = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens):
                raise ConfigError(f"{tok} needs a value")
            val, i = tokens[i + 1], i + 2
        out[key.replace("-", "_")] = val
    return out


def yaml_values(flat_text: dict, where: str = "--") -> dict:
    """String values of dotted keys read as YAML (``"25"`` -> 25, ``"[10, 25]"`` -> a list, ``"true"`` -> True,
    ``"all"`` stays a string): for configs given as YAML, whose overrides should read as the file would."""
    import yaml

    out = {}
    for key, text in flat_text.items():
        try:
            out[key] = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError as e:
            raise ConfigError(f"{where}{key} {text!r} is not a YAML value ({str(e).splitlines()[0]}); quote lists "
                              f"and mappings in the shell, e.g. --{key} '[10, 25]'") from None
    return out


def typed_overrides(cls, flat_text: dict, where: str = "") -> dict:
    """String values of dotted keys -> typed nested dict (for configs whose class is known late)."""
    types_ = {k: tp for k, tp, _ in leaves(cls)}
    out = {}
    for key, text in flat_text.items():
        if key not in types_:
            raise ConfigError(f"{where}{key}: unknown key; valid keys: {sorted(types_)}")
        out[key] = _parse_text(text, types_[key]) if isinstance(text, str) else text
    return nest(out)


def load_yaml(path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MissingFile(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ConfigError(f"{p}: not valid YAML{at}: {getattr(e, 'problem', None) or e}") from None
    if raw is None:
        raise ConfigError(f"{p} is empty: a config needs at least one key (see configs/ for examples); to run every "
                          "default on purpose, write `{}`")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    return raw


def dump_yaml(obj) -> str:
    import yaml

    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=None)
