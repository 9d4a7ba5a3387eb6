"""Form fields generated from the registries: each task's and method's declared ``Options`` (a pydantic
model) becomes a fieldset (its fields' types, defaults, bounds and descriptions), so a new method or
task appears in the web interface without an edit here; and the values a form sends back become the
config section, keeping only what differs from the defaults.

Example:
    >>> form = option_forms(METHODS)[0]
    >>> form.name, [f.key for f in form.fields][:2]
    ('adalora', ['merge', 'init_r'])
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from ..config import safe_yaml
from ..errors import ConfigError

SELECTORS = ("name", "type")  # the field that names the entry: chosen by the select, not a field of its own


@dataclass
class FormField:
    """One option as an input: ``kind`` is bool, int, float, text, choice or yaml (lists, mappings, nested
    sections: typed as YAML)."""

    key: str
    kind: str
    default: Any
    default_text: str
    description: str = ""
    required: bool = False
    optional: bool = False  # None (empty) is a valid value
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"


@dataclass
class OptionForm:
    """The fieldset of one registered task or method."""

    name: str
    doc: str
    fields: list[FormField]


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _text(value: Any) -> str:
    """A default as the input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return str(value)


def form_field(key: str, info) -> FormField:
    """One pydantic field as a form field: its kind from the type, bounds from its constraints."""
    inner, optional = _unwrap(info.annotation)
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    if inner is bool:
        kind = "bool"
    elif inner is int:
        kind = "int"
    elif inner is float:
        kind = "float"
    elif inner is str:
        kind = "text"
    elif typing.get_origin(inner) is typing.Literal:
        kind = "choice"
    else:
        kind = "yaml"
    made = FormField(key=key, kind=kind, default=default, default_text=_text(default),
                     description=info.description or "", required=info.is_required(), optional=optional,
                     choices=[str(c) for c in typing.get_args(inner)] if kind == "choice" else [],
                     step="1" if kind == "int" else "any")
    for bound in info.metadata:
        for name, attribute in (("ge", "minimum"), ("gt", "minimum"), ("le", "maximum"), ("lt", "maximum")):
            if isinstance(getattr(bound, name, None), (int, float)):
                setattr(made, attribute, getattr(bound, name))
    return made


def option_form(name: str, entry: Any) -> OptionForm:
    """The fieldset of one registry entry (a task instance or a method class)."""
    fields = [form_field(key, info) for key, info in entry.Options.model_fields.items() if key not in SELECTORS]
    doc = (entry.__doc__ or "").strip().splitlines()[0] if entry.__doc__ else ""
    return OptionForm(name, doc, fields)


def option_forms(registry) -> list[OptionForm]:
    """A fieldset per registered entry, in the registry's order."""
    return [option_form(name, registry.get(name)) for name in registry.names()]


def parse_field(made: FormField, text: Any) -> Any:
    """The value a form sent for ``made`` (a string, or a bool from a checkbox) as the config takes it."""
    if made.kind == "bool":
        return text if isinstance(text, bool) else str(text).strip().lower() in ("true", "1", "on", "yes")
    text = "" if text is None else str(text).strip()
    if text == "":
        if made.optional:
            return None
        if made.required:
            raise ConfigError(f"{made.key}: a value is required")
        return made.default
    try:
        if made.kind == "int":
            return int(text)
        if made.kind == "float":
            return float(text)
    except ValueError:
        raise ConfigError(f"{made.key}: {text!r} is not a{'n integer' if made.kind == 'int' else ' number'}") from None
    if made.kind == "yaml":
        return safe_yaml(text, f"option {made.key}")
    return text


def section_values(registry, name: str, sent: dict[str, Any]) -> dict[str, Any]:
    """The options of entry ``name`` that the form set away from their defaults (unknown keys ignored)."""
    form = option_form(name, registry.get(name))
    values = {}
    for made in form.fields:
        if made.key not in sent:
            continue
        value = parse_field(made, sent[made.key])
        default = made.default.model_dump(mode="json") if isinstance(made.default, BaseModel) else made.default
        if json.dumps(value, sort_keys=True, default=str) != json.dumps(default, sort_keys=True, default=str):
            values[made.key] = value
    return values
