"""Config machinery: strict models, YAML loading, dotted overrides, one-line messages.

One YAML file describes one experiment. It is parsed into a tree of pydantic models, one
per component; which models the ``data:`` and ``model:`` sections use depends on
``task:``, so loading first reads the task and then validates against that task's config
class (``schema``; :func:`rnnkit.tasks.load_config` passes the registry's). Unknown keys
are errors that suggest the nearest valid key; every validation error names the dotted
key path and the bad value. Command-line overrides use dotted keys with values parsed as
YAML scalars: ``model.hidden_size=512 train.optimizer.lr=0.5``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, ValidationError

from rnnkit.errors import ConfigError


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    def unread_keys(self) -> set[str]:
        """Fields this section holds but nothing reads with its other values (the
        momentum of Adam, a GRU's Elman nonlinearity): left out of :func:`read_settings`."""
        return set()


# --------------------------------------------------------------------------- loading

#: Picks the config class for a raw mapping's ``task`` value (None when it is missing).
Schema = Callable[[Any], type[BaseModel]]

#: Names the other tasks whose section reads a key: (section, key) -> task names.
KeyOwners = Callable[[str, str], list[str]]


def load(
    source: str | Path | Mapping[str, Any] | BaseModel,
    overrides: Mapping[str, Any] | Iterable[str] | None,
    schema: Schema,
    owners: KeyOwners | None = None,
) -> Any:
    """Read a config from a YAML path, a mapping or a config, apply dotted overrides,
    validate against ``schema(task)``.

    ``overrides`` is either a mapping ``{"model.hidden_size": 512}`` or strings
    ``["model.hidden_size=512"]`` whose values are parsed as YAML scalars.
    """
    if isinstance(source, BaseModel):
        raw: dict[str, Any] = source.model_dump(mode="json", by_alias=True)
    elif isinstance(source, Mapping):
        raw = _deep_copy(dict(source))
    else:
        raw = read_yaml(Path(source))
    parsed = parse_overrides(overrides)
    # The task decides which keys exist, so an override of it goes first.
    if "task" in parsed:
        raw["task"] = parsed.pop("task")
    model = schema(raw.get("task"))
    # An older alias of the task is written under its current name.
    raw["task"] = model.model_fields["task"].default
    for key, value in parsed.items():
        set_dotted(raw, key, value, model, owners)
    return validate(raw, model, owners)


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or ""
        detail = f": {problem}" if problem.startswith("duplicate key") else ""
        raise ConfigError(f"{path}: not valid YAML{where}{detail}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error
    (PyYAML keeps the last silently, so an edit could be undone by an older line)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value (e.g. model.hidden_size=512)")
        try:
            parsed[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from err
    return parsed


def set_dotted(
    raw: dict[str, Any],
    key: str,
    value: Any,
    model: type[BaseModel],
    owners: KeyOwners | None = None,
) -> None:
    """Set ``raw["a"]["b"] = value`` for key ``"a.b"``, checking each part is a known key."""
    parts = key.split(".")
    node: dict[str, Any] = raw
    current: type[BaseModel] | None = model
    for depth, part in enumerate(parts):
        fields = _field_names(current) if current is not None else None
        if fields is not None and part not in _accepted_names(current):
            prefix = ".".join(parts[:depth])
            raise ConfigError(_unknown_key_message(prefix, part, fields, owners))
        if depth == len(parts) - 1:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
        current = _submodel(current, part) if current is not None else None


def validate(raw: dict[str, Any], model: type[BaseModel], owners: KeyOwners | None = None) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, model, owners)) from None


def dump(config: BaseModel) -> str:
    """The config as YAML, with every default filled in."""
    return yaml.safe_dump(
        config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True
    )


def read_settings(config: StrictModel) -> dict[str, Any]:
    """The config as plain data, without the keys nothing reads (see ``unread_keys``)."""
    dumped = config.model_dump(mode="json", by_alias=True)
    settings: dict[str, Any] = {}
    for name, info in type(config).model_fields.items():
        if name in config.unread_keys():
            continue
        value, key = getattr(config, name), info.alias or name
        settings[key] = read_settings(value) if isinstance(value, StrictModel) else dumped[key]
    return settings


def changed_settings(config: StrictModel) -> dict[str, Any]:
    """The read settings that a config gives (required ones) or changes from the
    default, nested as in the config."""
    dumped = config.model_dump(mode="json", by_alias=True)
    changed: dict[str, Any] = {}
    for name, info in type(config).model_fields.items():
        if name in config.unread_keys():
            continue
        value, key = getattr(config, name), info.alias or name
        if isinstance(value, StrictModel):
            inner = changed_settings(value)
            default = None if info.is_required() else info.get_default(call_default_factory=True)
            if inner or default is None:  # a section set where its default is none
                changed[key] = inner
        elif info.is_required() or dumped[key] != _plain(
            info.get_default(call_default_factory=True)
        ):
            changed[key] = dumped[key]
    return changed


def _plain(value: Any) -> Any:
    """A default as model_dump(mode="json") writes it (tuples as lists...)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save(config: BaseModel, path: Path) -> None:
    path.write_text(dump(config), encoding="utf-8")


def dotted_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every leaf key a config class accepts, dotted (for help texts and tuning spaces)."""
    keys: list[str] = []
    for name in _field_names(model):
        sub = _submodel(model, name)
        dotted = f"{prefix}{name}"
        if sub is None:
            keys.append(dotted)
        else:
            keys.extend(dotted_keys(sub, dotted + "."))
    return keys


# --------------------------------------------------------------------------- helpers


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _accepted_names(model: type[BaseModel]) -> set[str]:
    """Field names, aliases and older spellings (``AliasChoices``) a mapping may use."""
    names = set(_field_names(model))
    for name, info in model.model_fields.items():
        names.add(name)
        if isinstance(info.validation_alias, AliasChoices):
            names.update(c for c in info.validation_alias.choices if isinstance(c, str))
        elif isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return names


def _submodel(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The config model stored under ``key``, if that field holds one."""
    for name, info in model.model_fields.items():
        aliases = {name, info.alias}
        if isinstance(info.validation_alias, AliasChoices):
            aliases.update(info.validation_alias.choices)
        if key in aliases:
            for candidate in _annotation_types(info.annotation):
                if isinstance(candidate, type) and issubclass(candidate, StrictModel):
                    return candidate
    return None


def _annotation_types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    out: list[Any] = []
    for arg in args:
        out.extend(_annotation_types(arg))
    return out


def _unknown_key_message(
    prefix: str, key: str, valid: list[str], owners: KeyOwners | None = None
) -> str:
    where = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    hint = f"; did you mean '{(prefix + '.') if prefix else ''}{close[0]}'?" if close else ""
    readers = owners(prefix, key) if owners is not None and prefix else []
    if readers:
        hint += f" ({where} is read by task {', '.join(readers)}, not this one)"
    section = f"'{prefix}'" if prefix else "the top level"
    return f"unknown config key '{where}'{hint} (valid keys in {section}: {', '.join(valid)})"


def _describe(err: ValidationError, root: type[BaseModel], owners: KeyOwners | None) -> str:
    """One line for the first problem, naming the dotted key and the bad value."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if not _is_union_tag(p)]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        model: type[BaseModel] | None = root
        for part in loc[:-1]:
            model = _submodel(model, part) if model is not None else None
        valid = _field_names(model) if model is not None else []
        return _unknown_key_message(".".join(loc[:-1]), loc[-1], valid, owners)
    if first["type"] == "missing":
        return f"config key '{key}' is required"
    message = first["msg"].removeprefix("Value error, ")
    if "input" in first and first["type"] != "model_type":
        bad = first["input"]
        if loc:
            return f"config key '{key}' = {short_repr(bad)}: {message}"
        return f"config: {message}"
    return f"config key '{key}': {message}" if key else f"config: {message}"


#: The longest value a message quotes in full.
MAX_QUOTED = 120


def short_repr(value: Any) -> str:
    """``repr(value)`` for a message: an array or a table by its type and shape
    (``<DataFrame 730x3>``), anything else cut at :data:`MAX_QUOTED` characters."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and not isinstance(value, str | bytes | int | float):
        return f"<{type(value).__name__} {'x'.join(str(n) for n in shape)}>"
    text = repr(value)
    if len(text) > MAX_QUOTED:
        return f"{text[: MAX_QUOTED - 20]}... ({len(text)} characters)"
    return text


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the tried union member into the location: `list[...]`, `RangeSpec`,
    # `literal[...]`, `function-after[...]`; they mean nothing to a user.
    text = str(part)
    return (
        "[" in text
        or text in {"RangeSpec", "int", "float", "str", "bool"}
        or (text[:1].isupper() and text != text.upper())
    )


def _deep_copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _deep_copy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_deep_copy(v) for v in raw]
    return raw
