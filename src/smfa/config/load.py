"""Reading a configuration: defaults, then a YAML file, then `section.key=value` overrides.

Unknown keys are errors with a "did you mean" hint, so a typo never silently falls back to a
default; each value is checked against its field's declared type (`_coerce`) and, once all
are applied, against its bounds (`smfa.config.bounds.check_values`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from smfa.config.bounds import check_values
from smfa.config.sections import RunConfig
from smfa.errors import ConfigError


def _hint(key: str, choices: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{prefix}{close[0]}'?)"
    return f" (known keys: {', '.join(choices)})"


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert a YAML or CLI value to the field's declared type."""
    origin = typing.get_origin(annotation)
    if origin is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]  # `--set compare.methods=smfa` means a one-item list
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner,) = typing.get_args(annotation)
        return [_coerce(item, inner, where) for item in value]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{where}: union-typed fields are not supported")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}") from None
        if annotation is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _apply(obj: Any, data: dict[str, Any], where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"unknown config key '{path}'{_hint(str(key), names, prefix)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, path)
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: expected a mapping, got {value!r}")
            setattr(obj, key, _merge(current, value))
        else:
            setattr(obj, key, _coerce(value, hints[key], path))


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_section(obj: Any, data: dict[str, Any], where: str) -> Any:
    """Check `data` against dataclass instance `obj` (same errors and hints as the run config)."""
    _apply(obj, data, where)
    return obj


def load_config(
    path: Path | None = None, overrides: list[str] | None = None, base: RunConfig | None = None
) -> RunConfig:
    """Defaults (or `base`), then the YAML file (if any), then `key.sub=value` overrides."""
    config = base if base is not None else RunConfig()

    def apply(data: Any, where: str) -> None:
        try:
            _apply(config, data, "")
        except OverflowError:  # int(inf): name the key as check_values names a float's
            stack: list[tuple[str, Any]] = [("", data)]
            while stack:
                key, value = stack.pop()
                if isinstance(value, dict):
                    stack += [(f"{key}.{k}".lstrip("."), v) for k, v in value.items()]
                elif isinstance(value, float) and not math.isfinite(value):
                    raise ConfigError(
                        f"{where}{key} must be a finite number, got {value!r}"
                    ) from None
            raise

    if path is not None:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a YAML text file (not UTF-8: {exc.reason})") from None
        except RecursionError:
            raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        try:
            apply(data, "")
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        dotted, raw = item.split("=", 1)
        try:
            nested: Any = yaml.safe_load(raw) if raw else ""
        except (yaml.YAMLError, RecursionError):
            raise ConfigError(f"override '{item}': the value is not valid YAML") from None
        for part in reversed(dotted.strip().split(".")):
            nested = {part: nested}
        apply(nested, "")
    return check_values(config)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
