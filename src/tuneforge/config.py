"""The run schema: one YAML file (plus dotted overrides) describes a whole run.

Example:
    >>> cfg = load_config("configs/sst2.yaml", ["train.epochs=1", "method.name=full"])
    >>> cfg.train.epochs
    1.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from .config_errors import format_errors, short, with_provenance
from .data.readers import data_format_of
from .errors import ConfigError
from .methods import DEFAULT_METHOD, METHODS, MethodOptions
from .schema import ParamSpec, StrictModel  # noqa: F401  (ParamSpec: part of the config schema)
from .tasks import DEFAULT_TASK, TASKS, task_reading_only
from .tasks.base import TaskOptions

DEFAULT_BACKBONE = "default"
DataFormat = Literal["csv", "tsv", "jsonl", "json", "conll", "idx", "imagefolder", "image"]


class SplitConfig(StrictModel):
    """How to carve validation/test sets out of the training file when they are not given."""

    validation: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)
    seed: int = Field(42, ge=0, lt=2**32)


class FewShotConfig(StrictModel):
    """Sample ``per_class`` training examples per class, once per seed: one run each, then mean and std."""

    per_class: int = Field(..., ge=1)
    seeds: list[Annotated[int, Field(ge=0, lt=2**32)]] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)


class ParaphraseConfig(StrictModel):
    """``data.augment.paraphrase``: rewrites by a local instruction-tuned LM, filtered (``data/paraphrase.py``)."""

    model: str = Field(..., description="a generation bundle, a causal-LM folder or a packaged model "
                                        "(smollm2-135m-instruct)")
    copies: int = Field(1, ge=1, le=8, description="rewrites asked for per training example")
    min_similarity: float = Field(0.75, ge=0, le=1, description="least cosine similarity of a rewrite's "
                                                                "embedding to its original's")
    filter_bundle: Path | None = Field(None, description="a classifier bundle: keep rewrites it labels as the "
                                                         "original is labelled")


class AugmentConfig(StrictModel):
    """``data.augment``: EDA token operations on the training split (``tuneforge.data.augment``), and
    optionally paraphrases."""

    factor: int = Field(1, ge=0, le=16, description="EDA copies per training example (0: paraphrases only)")
    operations: list[Literal["synonym", "insert", "swap", "delete", "mention"]] = Field(
        default_factory=lambda: ["synonym", "insert", "swap", "delete"], min_length=1,
        description="text: synonym, insert, swap, delete; entity data: synonym, mention")
    alpha: float = Field(0.1, gt=0, le=0.5, description="share of the words each operation changes")
    synonyms: Path | None = Field(None, description="a synonym file ('word: a, b' per line); default: the "
                                                    "backbone's embedding neighbours")
    seed: int = Field(0, ge=0, lt=2**32)
    paraphrase: ParaphraseConfig | None = None


PiiType = Literal["email", "phone", "credit_card", "iban", "ip", "url", "person", "location", "organization"]


class DataConfig(StrictModel):
    """Where the data is and how to read it."""

    train: Path
    validation: Path | None = None
    test: Path | None = None
    format: DataFormat | None = None
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_delimiter: str | None = None
    label_names: list[str] | dict[str, str] | None = Field(
        None, description="label names: a list (integer labels index it) or a mapping raw label -> name")
    prompt_column: str | None = Field(None, description="generation: the column holding the prompt")
    response_column: str | list[str] | None = Field(
        None, description="generation: the answer column (a list: the first present is the target, all are references)")
    system_column: str | None = Field(None, description="generation: an optional system message column")
    prompt_template: str | None = Field(None, description="generation: wraps the prompt column, e.g. "
                                                          "'Summarize this dialogue:\\n{prompt}'")
    max_train_samples: int | None = Field(None, gt=0)
    max_eval_samples: int | None = Field(None, gt=0, description="at most N validation and test examples (the first ones)")
    few_shot: FewShotConfig | None = None
    split: SplitConfig = SplitConfig()
    augment: AugmentConfig | None = Field(None, description="add augmented copies of the training examples")
    mask_pii: list[PiiType] | None = Field(None, description="mask personal data in every split before training, "
                                                             "e.g. [email, phone, credit_card]")
    pii_ner_bundle: Path | None = Field(None, description="an entity-tagging bundle that finds names and places "
                                                          "for mask_pii (person, location, organization)")

    @field_validator("label_names", mode="before")
    @classmethod
    def _raw_labels_as_text(cls, value: Any) -> Any:
        """YAML reads ``{1: terrible}`` with integer keys; the labels read from files are text."""
        if isinstance(value, dict):
            for key, name in value.items():
                if isinstance(key, (bool, float, list, dict)) or key is None or not isinstance(name, (str, int)):
                    raise ValueError("data.label_names as a mapping takes raw labels (text or integers) to names")
            names = {str(k).strip(): str(v) for k, v in value.items()}
            if len(set(names.values())) < 2:
                raise ValueError("data.label_names needs at least two distinct names")
            return names
        return value


class ModelConfig(StrictModel):
    """Which pretrained backbone to start from."""

    name: str = DEFAULT_BACKBONE
    max_length: int | None = Field(None, gt=8, le=4096)


class AdversarialConfig(StrictModel):
    """``train.adversarial``: perturbations of the word embeddings (``tuneforge.training.adversarial``)."""

    method: Literal["fgm", "pgd", "freelb"] = Field(..., description="fgm: one step; pgd: steps; freelb: mean")
    epsilon: float = Field(0.1, gt=0, description="largest L2 norm of an example's perturbation (MiniLM: 1.0 stalls "
                                                  "learning, 0.3 slows it)")
    steps: int = Field(3, ge=1, le=10, description="ascent steps (pgd, freelb)")
    step_size: float | None = Field(None, gt=0, description="default: epsilon (fgm), 2 * epsilon / steps otherwise")


class TrainConfig(StrictModel):
    """Optimisation settings, passed on to transformers' TrainingArguments."""

    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    batch_size: int = Field(32, gt=0)
    eval_batch_size: int = Field(128, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    lr_scheduler: str = "linear"
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = Field(42, ge=0, lt=2**32)
    early_stopping_patience: int | None = Field(2, ge=1)
    eval_steps: int | None = Field(None, gt=0)
    logging_steps: int = Field(50, gt=0)
    group_by_length: bool = True
    resume: bool = False
    report_to: list[Literal["tensorboard", "mlflow"]] = Field(default_factory=lambda: ["tensorboard"],
                                                            description="experiment trackers; [] for none")
    mlflow_tracking_uri: str | None = Field(None, description="setting it adds mlflow to report_to")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast where the CPU has AMX or AVX512-BF16, fp32 elsewhere")
    compile: bool = Field(False, description="torch.compile the model (inductor; needs a C++ compiler)")
    gradient_checkpointing: bool = Field(False, description="recompute activations backward: less memory, more time")
    adversarial: AdversarialConfig | None = Field(None, description="fgm, pgd or freelb on the embeddings")
    deepspeed: Path | None = Field(None, description="a DeepSpeed JSON config (ZeRO); needs --nproc or a launcher")
    fused_optimizer: bool = Field(True, description="AdamW with its fused kernel (adamw_torch_fused, transformers' "
                                                    "default with torch >= 2.8); false: adamw_torch")
    mask_dropout: bool = Field(False, description="cheaper CPU dropout masks (training/mask_dropout.py)")


class EvalConfig(StrictModel):
    """How to pick the best checkpoint and evaluate."""

    metric: str | None = None
    calibrate: Literal["none", "temperature"] = Field(
        "none", description="temperature: fit temperature scaling on the validation split after training "
                            "(classification, multi-label); stored in the bundle, applied by every backend")
    robustness: bool = Field(False, description="also evaluate under seeded noise (typos, case, punctuation, word "
                                                "drop, synonyms): a report section")


class TuneConfig(StrictModel):
    """Hyperparameter search (``tuneforge tune``): the space, keyed by dotted config paths."""

    space: dict[str, ParamSpec] = Field(default_factory=dict, description="empty: a default space for the method")
    include_default: bool = Field(True, description="first trial = this config's own values")
    eval_every_samples: int | None = Field(None, gt=0, description="evaluate (and prune) every N training examples")
    n_startup_trials: int = Field(4, ge=1, description="random trials before TPE takes over")
    n_warmup_evaluations: int = Field(1, ge=0, description="evaluations before a trial may be pruned")
    seed: int = Field(42, ge=0, lt=2**32)


class OutputConfig(StrictModel):
    """Where the run folder goes."""

    dir: Path | None = None
    keep_checkpoints: bool = False


class RunConfig(StrictModel):
    """A whole run: data -> task -> method -> train -> evaluate -> bundle."""

    name: str = "run"
    data: DataConfig
    model: ModelConfig = ModelConfig()
    task: SerializeAsAny[TaskOptions] = Field(default_factory=lambda: TASKS.get(DEFAULT_TASK).Options(type=DEFAULT_TASK))
    method: SerializeAsAny[MethodOptions] = Field(default_factory=lambda: METHODS.get(DEFAULT_METHOD).Options())
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()
    tune: TuneConfig = TuneConfig()

    @model_validator(mode="before")
    @classmethod
    def _task_from_data(cls, value: Any) -> Any:
        """Without ``task.type``, data only one task reads (CoNLL: entity tagging) names the task."""
        if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
            return value
        task, data = value.get("task"), value["data"]
        named = "type" in task if isinstance(task, dict) else task is not None
        if named or not isinstance(data.get("train"), (str, Path)):
            return value
        inferred = task_reading_only(data_format_of(data["train"], data.get("format")))
        return {**value, "task": {**(task or {}), "type": inferred}} if inferred else value

    @field_validator("task", mode="before")
    @classmethod
    def _task_options(cls, value: Any) -> TaskOptions:
        return _registered_options(value, TaskOptions, TASKS, "task", "type", DEFAULT_TASK,
                                   lambda task: task.Options)

    @field_validator("method", mode="before")
    @classmethod
    def _method_options(cls, value: Any) -> MethodOptions:
        return _registered_options(value, MethodOptions, METHODS, "method", "name", DEFAULT_METHOD,
                                   lambda method: method.Options)


def _registered_options(value: Any, base: type, registry, section: str, key: str, default: str, options_of):
    """A ``task:`` or ``method:`` section validated by the options model of the entry it names."""
    if isinstance(value, base):
        return value
    if isinstance(value, str):
        value = {key: value}
    if not isinstance(value, dict):
        raise ValueError(f"{section} must be a mapping with at least '{key}'")
    name = value.get(key, default)
    try:
        model = options_of(registry.get(name))
    except ConfigError as exc:
        raise ValueError(f"{section}.{key}: {exc}") from None
    try:
        return model(**{**value, key: name})
    except ValidationError as exc:
        raise ValueError(format_errors(exc, model, prefix=section)) from None


MAX_YAML_VALUES = 100_000


def _expanded_size(value: Any, memo: dict[int, int]) -> int:
    """How many values ``value`` holds once YAML aliases are expanded (shared objects counted each time)."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) in memo:
        return memo[id(value)]
    memo[id(value)] = MAX_YAML_VALUES + 1  # a cycle counts as too large
    items = value.values() if isinstance(value, dict) else value
    total = 1 + sum(_expanded_size(item, memo) for item in items)
    memo[id(value)] = total
    return total


def safe_yaml(text: str, source: str) -> Any:
    """Parse YAML (safe loader) and refuse alias bombs: documents that expand to more than
    ``MAX_YAML_VALUES`` values, which would take minutes and gigabytes to print or validate."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {short(str(exc), 300)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    if _expanded_size(value, {}) > MAX_YAML_VALUES:
        raise ConfigError(f"{source}: the YAML expands to more than {MAX_YAML_VALUES} values (aliases of aliases?); "
                          "refusing it")
    return value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["train.epochs=3", "method.name=lora"]`` into a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = safe_yaml(raw, f"override {key.strip()}") if raw.strip() else None
    return nested


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_config(raw: dict[str, Any], overrides: list[str] | None = None, source: str | None = None) -> RunConfig:
    """Validate a config mapping (plus dotted overrides) into a RunConfig or raise ConfigError.

    Each error names where the bad value came from: the override (``train.epochs=abc``) or ``source``,
    the config file."""
    merged = _deep_merge(raw, parse_overrides(overrides or []))
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {with_provenance(exc, RunConfig, overrides or [], source)}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config; ``name`` defaults to the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    raw = safe_yaml(text, str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    raw.setdefault("name", path.stem)
    _resolve_data_paths(raw, path.parent)
    return build_config(raw, overrides, source=str(path))


def _resolve_data_paths(raw: dict[str, Any], folder: Path) -> None:
    """Data files named in a config file are found relative to that file; a path that exists only relative
    to the current folder (how configs were written before) still works. Both become absolute, so errors
    and the run's ``config.yaml`` name the file exactly. (Paths given on the command line stay relative
    to the current folder.)"""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    places = [(data, key) for key in ("train", "validation", "test", "pii_ner_bundle")]
    if isinstance(data.get("augment"), dict):
        places.append((data["augment"], "synonyms"))
        if isinstance(data["augment"].get("paraphrase"), dict):
            places.append((data["augment"]["paraphrase"], "filter_bundle"))
    for section, key in places:
        value = section.get(key)
        if not isinstance(value, str) or not value.strip() or Path(value).is_absolute():
            continue
        beside = (folder / value).resolve()
        section[key] = str(beside if beside.exists() or not Path(value).exists() else Path(value).resolve())


def dump_config(cfg: RunConfig, path: str | Path) -> None:
    """Write the resolved config (every default filled in) as YAML."""
    from .fileops import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def with_values(cfg: RunConfig, values: dict[str, Any]) -> RunConfig:
    """A copy of ``cfg`` with dotted keys set to Python values, validated like a loaded config.

    Example:
        >>> with_values(cfg, {"train.learning_rate": 3e-5, "method.r": 16}).train.learning_rate
        3e-05
    """
    nested: dict[str, Any] = {}
    for key, value in values.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return build_config(_deep_merge(cfg.model_dump(mode="json"), nested))


def get_value(cfg: RunConfig, key: str) -> Any:
    """The value at a dotted key, e.g. ``get_value(cfg, "train.learning_rate")``; KeyError when absent."""
    node: Any = cfg.model_dump(mode="json")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node
