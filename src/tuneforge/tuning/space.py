"""Search spaces: dotted config keys mapped to ranges or choices, checked before any trial runs."""

from __future__ import annotations

import logging
from typing import Any

from ..config import ParamSpec, RunConfig, get_value, with_values
from ..errors import ConfigError
from ..methods import METHODS

log = logging.getLogger("tuneforge")



def default_space(cfg: RunConfig) -> dict[str, ParamSpec]:
    """Learning rate (log scale, /5 to x3 the config's), epochs (/2 to x2), batch size, warmup, weight decay,
    plus the method's declared ``search_space``.

    Example:
        >>> sorted(default_space(load_config("configs/sst2_lora.yaml")))[:2]
        ['method.dropout', 'method.r']
    """
    lr, epochs = cfg.train.learning_rate, cfg.train.epochs
    space = {
        "train.learning_rate": ParamSpec(low=lr / 5, high=lr * 3, log=True),
        "train.epochs": ParamSpec(low=max(epochs / 2, 0.5), high=epochs * 2),
        "train.batch_size": ParamSpec(choices=[16, 32, 64]),
        "train.warmup_ratio": ParamSpec(low=0.0, high=0.2),
        "train.weight_decay": ParamSpec(low=0.0, high=0.1),
    }
    for key, spec in METHODS.get(cfg.method.name).search_space.items():
        try:
            get_value(cfg, key)
        except KeyError:
            continue
        space[key] = spec
    return space


def resolve_space(cfg: RunConfig) -> dict[str, ParamSpec]:
    """The config's ``tune.space``, or the default space for its method; every key checked.

    Each key must name a config option, and the ends of its range (or each choice) must make a
    valid config; otherwise ConfigError names the key, before anything trains.
    """
    space = dict(cfg.tune.space) or default_space(cfg)
    for key, spec in space.items():
        try:
            get_value(cfg, key)
        except KeyError:
            raise ConfigError(f"tune.space: {key!r} is not an option of this config (e.g. train.learning_rate, "
                              f"method.r)") from None
        probes = spec.choices if spec.choices is not None else [spec.low, spec.high]
        for value in probes:
            if spec.integer and spec.choices is None:
                value = int(value)
            try:
                with_values(cfg, {key: value})
            except ConfigError as exc:
                raise ConfigError(f"tune.space: {key} = {value!r} is not a valid setting: {exc}") from None
    return space


def suggest(trial, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per dimension."""
    values = {}
    for key, spec in space.items():
        if spec.choices is not None:
            values[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.integer:
            values[key] = trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log,
                                            step=int(spec.step or 1))
        else:
            values[key] = trial.suggest_float(key, spec.low, spec.high, log=spec.log, step=spec.step)
    return values


def config_values(cfg: RunConfig, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """The config's own value on each dimension (the hand-picked default as a trial).

    A value outside a dimension's choices is left out (the sampler picks that one) with a warning.
    """
    values = {}
    for key, spec in space.items():
        value = get_value(cfg, key)
        if spec.choices is not None and value not in spec.choices:
            log.warning("tune: the config's %s = %r is not among the choices %s; the default trial samples it",
                        key, value, spec.choices)
            continue
        values[key] = value
    return values
