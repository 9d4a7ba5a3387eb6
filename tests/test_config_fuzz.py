"""Every config field, given a value of the wrong type or just past its bounds, ends in one ``error:``
line and exit status 2, never a traceback (finding 9 of issue 12: ``train.epochs: .inf`` gave an
OverflowError, ``train.seed: -1`` reached numpy).

The table of cases is built from the schema itself, so a field added later is covered too.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path

import annotated_types
import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from tuneforge.cli import app
from tuneforge.config import RunConfig, build_config
from tuneforge.errors import ConfigError
from tuneforge.methods import METHODS

runner = CliRunner()
WRONG_TYPES = {"number": ["abc", [1], {"a": 1}], "str": [[], {"a": 1}, 3.5], "bool": ["maybe", [], 2],
               "list": ["not a list", {"a": 1}, 7], "dict": ["x", [1, 2]], "path": [[], {"a": 1}]}


def _kind(annotation) -> str | None:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return _kind(args[0]) if len(args) == 1 else None
    if origin is list:
        return "list"
    if origin is dict:
        return "dict"
    if origin is typing.Literal:
        return "literal"
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    if annotation is str:
        return "str"
    if annotation is Path:
        return "path"
    return None


def _bound_values(field) -> list:
    """Values just past the field's numeric bounds."""
    values = []
    for item in field.metadata:
        if isinstance(item, annotated_types.Gt):
            values.append(item.gt)
        elif isinstance(item, annotated_types.Ge):
            values.append(item.ge - 1)
        elif isinstance(item, annotated_types.Lt):
            values.append(item.lt)
        elif isinstance(item, annotated_types.Le):
            values.append(item.le + 1)
    return values


def bad_values(field) -> list:
    kind = _kind(field.annotation)
    if kind is None:
        return []
    if kind == "literal":
        return ["no-such-choice", 3]
    values = list(WRONG_TYPES[kind])
    if kind == "number":
        values += [math.inf, -math.inf, math.nan, 10**40, *_bound_values(field)]
    return values


def leaf_fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        if name == "method":
            continue
        nested = [a for a in (field.annotation, *typing.get_args(field.annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested and name != "space":
            yield from leaf_fields(nested[0], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def cases():
    found = [(key, value, {}) for key, field in leaf_fields(RunConfig) for value in bad_values(field)]
    found += [("method.name", value, {}) for value in WRONG_TYPES["str"]]
    for method in METHODS.names():
        for name, field in METHODS.get(method).Options.model_fields.items():
            if name != "name":
                found += [(f"method.{name}", value, {"name": method}) for value in bad_values(field)]
    return found


CASES = cases()


def test_the_table_covers_every_section():
    keys = {key.split(".")[0] for key, _, _ in CASES}
    assert {"data", "model", "task", "train", "eval", "output", "tune", "method"} <= keys
    assert len(CASES) > 300


def nested(key: str, value, method: dict) -> dict:
    config: dict = {"data": {"train": "reviews.csv"}, "method": dict(method or {"name": "full"})}
    node = config
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return config


@pytest.mark.parametrize("key, value, method", CASES, ids=[f"{k}={v!r}"[:60] for k, v, _ in CASES])
def test_a_bad_value_is_refused_by_name(key, value, method):
    with pytest.raises(ConfigError) as err:
        build_config(nested(key, value, method))
    assert key in str(err.value), (key, str(err.value)[:200])


def test_every_bad_value_through_the_cli_is_one_error_line(tmp_path):
    """The same table through ``tuneforge train`` in-process: exit 2, one ``error:`` line naming the key (the
    config refused it: the data file does not exist, so a value let through would fail on that instead)."""
    config = tmp_path / "cfg.yaml"
    failures = []
    for key, value, method in CASES:
        config.write_text(yaml.safe_dump(nested(key, value, method)))
        result = runner.invoke(app, ["train", str(config)])
        text = " ".join(result.output.split())
        if result.exit_code != 2 or "Traceback" in result.output or not text.startswith("error:") or key not in text:
            failures.append((key, value, result.exit_code, text[:200], repr(result.exception)))
    assert not failures, failures[:5]
