"""Config errors people can act on: the key, the valid choices, and where the bad value came from."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel, ValidationError


def _section_model(model: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """Follow ``path`` through nested pydantic models; None when it leaves them."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def format_error(err: dict[str, Any], model: type[BaseModel], prefix: str = "") -> str:
    """One of pydantic's errors as a line that names the key and the valid choices (``model``: the
    schema the error's location is in)."""
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc)
    if err["type"] == "extra_forbidden":
        section = _section_model(model, loc[:-1])
        valid = sorted(section.model_fields) if section else []
        hint = get_close_matches(str(loc[-1]), valid, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        return f"unknown key {key!r}{did}; valid keys here: {', '.join(valid)}"
    if err["type"] == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"{key}: {msg}" if len(loc) > 1 or (prefix and loc) else msg
    if err["type"] == "missing":
        return f"missing required key {key!r}"
    return f"{key}: {err['msg']} (got {short(err.get('input'))})"


def format_errors(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """All of a ``ValidationError``'s problems, each as ``format_error`` writes it."""
    return "; ".join(format_error(err, model, prefix) for err in exc.errors())


def short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _override_for(key: str, overrides: list[str]) -> str | None:
    """The command-line override that set ``key`` (or a section holding it), if one did."""
    for item in reversed(overrides):
        given = item.partition("=")[0].strip()
        if key == given or key.startswith(given + ".") or given.startswith(key + "."):
            return item
    return None


def with_provenance(exc: ValidationError, model: type[BaseModel], overrides: list[str], source: str | None) -> str:
    """Each problem with where its value came from: the command-line override, else the config file."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        text = format_error(err, model)
        nested = re.match(r"((?:task|method)\.[\w.]+)", str(err.get("msg", "")).removeprefix("Value error, "))
        item = _override_for(nested.group(1) if nested else key, overrides)
        if item is not None:
            text += f" (from the command line: {item})"
        elif source is not None:
            text += f" (in {source})"
        lines.append(text)
    return "; ".join(lines)
