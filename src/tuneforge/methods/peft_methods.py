"""Parameter-efficient methods from peft: LoRA, AdaLoRA, IA3, prefix-, prompt- and p-tuning.

Each is a small options class plus the peft config it builds. The task head always trains
(peft's ``modules_to_save`` for sequence and token classification).
"""

from __future__ import annotations

from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..schema import ParamSpec
from . import METHODS, Method, MethodOptions

# Sensible targets per architecture (peft's own default elsewhere).
ENCODER_LORA_TARGETS = {
    "bert": ["query", "value"],  # Hu et al.'s choice; every dense layer costs ~25% more per step on CPU
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    # decoders: the attention and MLP projections (QLoRA's finding: every linear layer, not only q and v)
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    # image models: the 1x1 convolutions hold 93% of the weights; LoRA on a depthwise k x k filter saves nothing
    "efficientnet-lite0": r".*\.(_expand_conv|_project_conv|_conv_head)",
}
ENCODER_IA3_TARGETS = {
    "bert": (["key", "value", "output.dense"], ["output.dense"]),
    "roberta": (["key", "value", "output.dense"], ["output.dense"]),
}


def _task_type(task) -> str | None:
    """peft's task type for the task's model (None: a model that is not a task's own, which peft wraps
    as a plain ``PeftModel``, e.g. prompt-based fine-tuning's masked LM, or an image model)."""
    return (task.peft_task_type or None) if task is not None else None


def _has_pooler_head(model, task_type: str | None) -> bool:
    """A sequence classifier whose backbone has a pooler (BERT-style): the pooler belongs to the head."""
    from . import head_parameter_names

    return task_type == "SEQ_CLS" and any(".pooler." in n for n in head_parameter_names(model))


def _import_peft():
    try:
        import peft
    except ImportError:
        raise ConfigError("this method needs peft: pip install peft==0.21.2") from None
    return peft


class PeftMethod(Method):
    """Shared apply/merge for methods built on a peft config."""

    trains_pooler = False  # train a BERT-style pooler whole, as part of the head (peft modules_to_save)

    def peft_config(self, model, options, task_type: str | None):
        """The peft config of this method for ``model`` (``task_type``: peft's, from the task)."""
        raise NotImplementedError

    def apply(self, model, options, task):
        """Wrap ``model`` with peft; options that do not fit the backbone fail here, before training."""
        peft = _import_peft()
        task_type = _task_type(task)
        config = self.peft_config(model, options, task_type)
        if self.trains_pooler and _has_pooler_head(model, task_type):
            config.modules_to_save = [*(config.modules_to_save or []), "pooler"]  # part of the head: trains whole
        if task is not None and not task_type:  # a task model peft has no type for (images): the head trains whole
            from . import head_parameter_names

            heads = sorted({name.split(".")[0] for name in head_parameter_names(model)})
            config.modules_to_save = [*(config.modules_to_save or []), *heads]
        if self.trains_pooler and task_type is None:
            # the MLM head's transform may have started as the identity (checkpoint without MLM head)
            transforms = [n for n, _ in model.named_modules() if n.endswith("predictions.transform")]
            config.modules_to_save = [*(config.modules_to_save or []), *transforms]
        try:
            return peft.get_peft_model(model, config)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"method {options.name} cannot be applied to {type(model).__name__}: {exc}") from None

    def merge(self, model):
        """Fold the adapter into the base weights and return the plain transformers model."""
        return model.merge_and_unload()


class LoraOptions(MethodOptions):
    """LoRA: rank ``r`` updates, scaled by ``alpha / r``, on ``target_modules``."""

    name: str = "lora"
    r: int = Field(8, ge=1)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] | None = None


def _targets(model, options, table) -> list[str] | str | None:
    """The modules to adapt: the user's, else the table's for the architecture (a list of names or a
    regular expression), else None (peft's own default)."""
    if options.target_modules is not None:
        return options.target_modules
    config = getattr(model, "config", None)
    return table.get(getattr(config, "model_type", None) or getattr(model, "model_type", ""))


@METHODS.register("lora")
class Lora(PeftMethod):
    """LoRA (Hu et al. 2021) via peft."""

    Options = LoraOptions
    default_learning_rate = 2e-3
    search_space = {"method.r": ParamSpec(choices=[4, 8, 16]), "method.dropout": ParamSpec(low=0.0, high=0.2)}
    prompt_adaptable = True
    compared_by_default = True
    trains_pooler = True
    model_families = ("transformers", "vision")

    def starter_choice(self, task, n_train: int, data: dict) -> tuple[str, dict, float | None] | None:
        """The pick for a language model that generates text."""
        if not task.generates_text:
            return None
        return ("a language model: LoRA trains about 3% of its parameters on every attention and MLP projection, "
                "so training fits a CPU's memory and the bundle holds the adapter only",
                {"r": 16, "alpha": 32, "dropout": 0.05, "merge": False}, 5e-4)

    def peft_config(self, model, options: LoraOptions, task_type):
        peft = _import_peft()
        return peft.LoraConfig(
            task_type=task_type, r=options.r, lora_alpha=options.alpha,
            lora_dropout=options.dropout, target_modules=_targets(model, options, ENCODER_LORA_TARGETS),
        )


class AdaLoraOptions(MethodOptions):
    """AdaLoRA: ranks start at ``init_r`` and are pruned towards an average of ``target_r``."""

    name: str = "adalora"
    init_r: int = Field(12, ge=1)
    target_r: int = Field(8, ge=1)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    tinit: float = Field(0.1, ge=0, lt=1, description="share of steps before pruning starts")
    tfinal: float = Field(0.2, ge=0, lt=1, description="share of final steps with fixed ranks")
    delta_t: int = Field(10, ge=1, description="steps between rank re-allocations")
    orth_reg_weight: float = Field(0.5, ge=0)
    target_modules: list[str] | None = None


class _AdaLoraSchedule:
    """Trainer callback: tell AdaLoRA the step count and re-allocate ranks after each optimizer step."""

    def __new__(cls, options: AdaLoraOptions):
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, model=None, **kwargs):
                config = model.peft_config["default"]
                config.total_step = state.max_steps
                config.tinit = int(options.tinit * state.max_steps)
                config.tfinal = int(options.tfinal * state.max_steps)

            def on_optimizer_step(self, args, state, control, model=None, **kwargs):
                model.base_model.update_and_allocate(state.global_step)

        return Callback()


@METHODS.register("adalora")
class AdaLora(PeftMethod):
    """AdaLoRA (Zhang et al. 2023) via peft, with its rank schedule driven by a Trainer callback."""

    Options = AdaLoraOptions
    default_learning_rate = 2e-3
    search_space = {"method.target_r": ParamSpec(choices=[4, 8, 16])}
    prompt_adaptable = True
    trains_pooler = True

    def peft_config(self, model, options: AdaLoraOptions, task_type):
        peft = _import_peft()
        if options.target_r > options.init_r:
            raise ConfigError("method.target_r must not exceed method.init_r")
        return peft.AdaLoraConfig(
            task_type=task_type, init_r=options.init_r, target_r=options.target_r,
            lora_alpha=options.alpha, lora_dropout=options.dropout, tinit=0, tfinal=0, deltaT=options.delta_t,
            orth_reg_weight=options.orth_reg_weight, total_step=10_000,  # set from the Trainer at train start
            target_modules=_targets(model, options, ENCODER_LORA_TARGETS),
        )

    def callbacks(self, options: AdaLoraOptions) -> list:
        return [_AdaLoraSchedule(options)]


class IA3Options(MethodOptions):
    """IA3: learned scaling vectors on keys, values and feed-forward activations."""

    name: str = "ia3"
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None


@METHODS.register("ia3")
class IA3(PeftMethod):
    """IA3 (Liu et al. 2022) via peft."""

    Options = IA3Options
    default_learning_rate = 3e-3
    prompt_adaptable = True

    def peft_config(self, model, options: IA3Options, task_type):
        peft = _import_peft()
        default = ENCODER_IA3_TARGETS.get(getattr(model.config, "model_type", ""), (None, None))
        targets = options.target_modules if options.target_modules is not None else default[0]
        feedforward = options.feedforward_modules if options.feedforward_modules is not None else default[1]
        return peft.IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=feedforward)


class PromptOptions(MethodOptions):
    """Prompt methods: ``num_virtual_tokens`` learned vectors prepended to the input."""

    name: str = "prompt_tuning"
    merge: bool = False
    num_virtual_tokens: int = Field(20, ge=1, le=512)


class PTuningOptions(PromptOptions):
    """P-tuning: virtual tokens produced by a small prompt encoder (MLP)."""

    name: str = "p_tuning"
    encoder_hidden_size: int = Field(128, ge=1)


class RealTokenLogits(nn.Module):
    """A prompt-tuned token classifier that returns one logit row per real token.

    peft prepends the virtual tokens to the input embeddings, so the encoder's outputs (and its
    loss) are ``num_virtual_tokens`` positions longer than the labels. This wrapper runs the peft
    model without labels, cuts the virtual positions off the logits and computes the loss on what
    remains, so training, prediction and word alignment see real tokens only.
    """

    def __init__(self, peft_model, num_virtual_tokens: int) -> None:
        super().__init__()
        self.peft_model = peft_model
        self.num_virtual_tokens = num_virtual_tokens

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        output = self.peft_model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                 **kwargs)
        output.logits = output.logits[:, self.num_virtual_tokens:, :]  # (batch, virtual + seq, labels) -> (batch, seq, labels)
        if labels is not None:
            logits = output.logits
            output.loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).to(logits.device), ignore_index=-100
            )
        return output


class _PromptMethod(PeftMethod):
    """Shared parts of prefix, prompt and p-tuning: they cannot fold into the base weights."""

    can_merge = False
    prepends_embeddings = True  # prompt and p-tuning lengthen the input; prefix tuning does not

    def check_task(self, task, cfg) -> None:
        """Virtual tokens need a task model peft knows how to feed (a transformers task head)."""
        if not task.peft_task_type:
            raise ConfigError(f"method {cfg.method.name} adds virtual tokens, which needs a transformers task model; "
                              f"task {task.name}'s model is its own: use full, freeze, bitfit, lora or adapter methods")

    def apply(self, model, options, task):
        """Wrap with peft; token classifiers get logits for the real tokens only (``RealTokenLogits``)."""
        model = super().apply(model, options, task)
        if _task_type(task) == "TOKEN_CLS" and self.prepends_embeddings:
            model = RealTokenLogits(model, options.num_virtual_tokens)
        return model

    def merge(self, model):
        raise ConfigError(f"{type(self).__name__} adds virtual tokens and cannot be merged into the base weights")


@METHODS.register("prompt_tuning")
class PromptTuning(_PromptMethod):
    """Prompt tuning (Lester et al. 2021) via peft."""

    Options = PromptOptions
    default_learning_rate = 3e-2
    search_space = {"method.num_virtual_tokens": ParamSpec(choices=[10, 20, 30])}

    def peft_config(self, model, options: PromptOptions, task_type):
        return _import_peft().PromptTuningConfig(task_type=task_type, num_virtual_tokens=options.num_virtual_tokens)


class PrefixOptions(PromptOptions):
    """Prefix tuning: learned key/value prefixes in every layer."""

    name: str = "prefix_tuning"


@METHODS.register("prefix_tuning")
class PrefixTuning(_PromptMethod):
    """Prefix tuning (Li & Liang 2021) via peft."""

    Options = PrefixOptions
    default_learning_rate = 1e-2
    search_space = {"method.num_virtual_tokens": ParamSpec(choices=[10, 20, 30])}
    prepends_embeddings = False

    def peft_config(self, model, options: PrefixOptions, task_type):
        return _import_peft().PrefixTuningConfig(task_type=task_type, num_virtual_tokens=options.num_virtual_tokens)


@METHODS.register("p_tuning")
class PTuning(_PromptMethod):
    """P-tuning (Liu et al. 2021) via peft."""

    Options = PTuningOptions
    default_learning_rate = 1e-2

    def peft_config(self, model, options: PTuningOptions, task_type):
        return _import_peft().PromptEncoderConfig(
            task_type=task_type, num_virtual_tokens=options.num_virtual_tokens,
            encoder_hidden_size=options.encoder_hidden_size,
        )
