"""Prompt-based fine-tuning (PET, Schick & Schütze 2021; LM-BFF, Gao et al. 2021).

The text goes into a template with a mask slot (``"{text} It was [MASK]."``); a label's score
is the masked-LM head's log-probability of that label's words (the verbalizer) at the slot.
Training is cross-entropy over those label scores, so the pretrained MLM head does the work a
fresh classification head would have to learn from scratch: this is what makes it useful
with a handful of examples.

- A label may have several words (their probabilities are averaged) and a word may be several
  sub-word tokens: the template gets as many mask tokens as the longest word has, and a word's
  log-probability is the mean over its tokens, each read at its own mask position.
- Checkpoints without an MLM head (sentence-embedding models such as all-MiniLM-L6-v2) get one
  that starts sensibly: the decoder is tied to the input embeddings and the transform starts
  as the identity, so the mask position is scored by similarity to each word's embedding.
- What trains is decided by another method (``method.adapt``): ``full`` by default, or
  ``lora``, ``bitfit``, ``freeze``, ``adapter``... applied to the masked-LM model.
- The model is a ``PromptClassifier`` around a transformers ``...ForMaskedLM`` model; the template
  and verbalizer travel in its ``config.json`` as ``tuneforge_prompt``, so a bundle reloads without
  the training config.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from ..errors import ConfigError
from ..tasks.base import BuiltModel
from . import DEFAULT_METHOD, METHODS, Method, MethodOptions, single_label_only

MASK_SLOT = re.compile(r"\[MASK\]|\{mask\}")


def adaptable() -> list[str]:
    """Methods that can decide what trains in a masked-LM model (they declare ``prompt_adaptable``)."""
    return [name for name in METHODS.names() if METHODS.get(name).prompt_adaptable]


class PromptBasedOptions(MethodOptions):
    """Template, verbalizer (label -> word or words) and the method that decides what trains."""

    name: str = "prompt"
    template: str = "{text} It was [MASK]."
    verbalizer: dict[str, list[str]] | None = Field(None, description="label -> label words; default: the label name")
    adapt: dict[str, Any] = Field(default_factory=lambda: {"name": DEFAULT_METHOD})

    @field_validator("verbalizer", mode="before")
    @classmethod
    def _words_as_lists(cls, value):
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("template")
    @classmethod
    def _one_text_one_mask(cls, value: str) -> str:
        if value.count("{text}") != 1 or len(MASK_SLOT.findall(value)) != 1:
            raise ValueError("method.template needs exactly one {text} and one [MASK] (or {mask})")
        return value

    @model_validator(mode="after")
    def _check_adapt(self):
        name = self.adapt.get("name")
        if name not in adaptable():
            raise ValueError(f"method.adapt.name must be one of {', '.join(adaptable())} (got {name!r})")
        options = adapt_options(self)
        if not (METHODS.get(name).can_merge and options.merge):
            object.__setattr__(self, "merge", False)  # an adapter that cannot fold keeps the bundle unmerged
        return self


def adapt_options(options: PromptBasedOptions) -> MethodOptions:
    """The ``method.adapt`` section validated by its own method's options (errors name the option)."""
    from pydantic import ValidationError

    name = options.adapt.get("name")
    try:
        return METHODS.get(name).Options.model_validate(options.adapt)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"method.adapt.{where}: {first['msg']}") from None


def prompt_spec(tokenizer, options: PromptBasedOptions, label_names: list[str]) -> dict[str, Any]:
    """Token ids of the template around the text, the mask slots and each label's words.

    Example:
        >>> spec = prompt_spec(tokenizer, PromptBasedOptions(verbalizer={"neg": "bad", "pos": "great"}), ["neg", "pos"])
        >>> spec["mask_count"], len(spec["label_words"])
        (1, 2)
    """
    if tokenizer.mask_token_id is None:
        raise ConfigError("prompt-based fine-tuning needs a tokenizer with a mask token (a masked-LM backbone)")
    words = options.verbalizer or {name: [name] for name in label_names}
    missing = [n for n in label_names if not words.get(n)]
    unknown = sorted(set(words) - set(label_names))
    if missing or unknown:
        raise ConfigError(f"method.verbalizer must give words for exactly the labels {label_names}"
                          f" (missing {missing}, unknown {unknown})")
    label_words = [[tokenizer(" " + w.strip(), add_special_tokens=False)["input_ids"] for w in words[n]]
                   for n in label_names]
    seen: dict[tuple, str] = {}
    for name, token_lists in zip(label_names, label_words):
        for word, ids in zip(words[name], token_lists):
            if not ids or tokenizer.unk_token_id in ids:
                raise ConfigError(f"verbalizer word {word!r} of label {name!r} is not in the tokenizer's vocabulary")
            if tuple(ids) in seen and seen[tuple(ids)] != name:
                raise ConfigError(f"verbalizer word {word!r} is used for labels {seen[tuple(ids)]!r} and {name!r}")
            seen[tuple(ids)] = name
    mask_count = max(len(ids) for token_lists in label_words for ids in token_lists)
    before, after = options.template.split("{text}")
    masks = " ".join([tokenizer.mask_token] * mask_count)
    encode = lambda s: tokenizer(MASK_SLOT.sub(masks, s).strip(), add_special_tokens=False)["input_ids"] if s.strip() else []
    probe = tokenizer("a")["input_ids"]
    if len(probe) < 3 or probe[0] not in tokenizer.all_special_ids or probe[-1] not in tokenizer.all_special_ids:
        raise ConfigError("prompt-based fine-tuning expects an encoder tokenizer that wraps text as [CLS] ... [SEP]")
    return {"template": options.template, "prefix_ids": encode(before), "suffix_ids": encode(after),
            "mask_count": mask_count, "mask_token_id": tokenizer.mask_token_id,
            "label_words": label_words, "label_names": label_names}


def _lm_head(model):
    """The module that maps hidden states to vocabulary logits (BERT: ``cls``; RoBERTa & co.: ``lm_head``)."""
    for name in ("cls", "lm_head"):
        if hasattr(model, name):
            return getattr(model, name)
    raise ConfigError(f"prompt-based fine-tuning does not know the masked-LM head of {type(model).__name__}")


def wrap_in_template(input_ids, attention_mask, spec: dict[str, Any], max_positions: int):
    """``[CLS] text [SEP]`` rows -> ``[CLS] prefix text suffix [SEP]`` rows, and where the masks sit.

    Shapes: (batch, seq) -> ids (batch, seq'), mask (batch, seq'), slots (batch, mask_count).
    """
    prefix = torch.tensor(spec["prefix_ids"], dtype=input_ids.dtype)
    suffix = torch.tensor(spec["suffix_ids"], dtype=input_ids.dtype)
    room = max_positions - 2 - len(prefix) - len(suffix)
    rows, slots = [], []
    for ids, mask in zip(input_ids, attention_mask):
        n = int(mask.sum())
        body = ids[1 : n - 1][:room]
        row = torch.cat([ids[:1], prefix, body, suffix, ids[n - 1 : n]])
        rows.append(row)
        slots.append((row == spec["mask_token_id"]).nonzero().flatten()[-spec["mask_count"]:])
    width = max(len(r) for r in rows)
    out = torch.zeros(len(rows), width, dtype=input_ids.dtype)
    out_mask = torch.zeros(len(rows), width, dtype=attention_mask.dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
        out_mask[i, : len(row)] = 1
    return out.to(input_ids.device), out_mask.to(input_ids.device), torch.stack(slots).to(input_ids.device)


class PromptClassifier(nn.Module):
    """A masked-LM model with the prompt forward: inputs as for a classifier, logits per label.

    ``mlm`` is the transformers ``...ForMaskedLM`` model (possibly wrapped by the ``adapt``
    method, e.g. a peft model); the prompt ``spec`` travels in its config as ``tuneforge_prompt``.
    """

    def __init__(self, mlm, spec: dict[str, Any]) -> None:
        super().__init__()
        mlm.config.tuneforge_prompt = spec
        self.mlm = mlm
        self.config = mlm.config
        self.spec = spec
        # (labels, words, mask_count) token ids and masks of real entries, for one gather per batch
        words = max(len(w) for w in spec["label_words"])
        table = torch.zeros(len(spec["label_words"]), words, spec["mask_count"], dtype=torch.long)
        real = torch.zeros(table.shape)
        word_real = torch.zeros(table.shape[:2])
        for i, token_lists in enumerate(spec["label_words"]):
            for j, ids in enumerate(token_lists):
                table[i, j, : len(ids)] = torch.tensor(ids)
                real[i, j, : len(ids)] = 1.0
                word_real[i, j] = 1.0
        self.register_buffer("table", table, persistent=False)
        self.register_buffer("real", real, persistent=False)
        self.register_buffer("word_real", word_real, persistent=False)
        self.max_positions = getattr(mlm.config, "max_position_embeddings", 512)

    def _plain(self):
        """The transformers model inside any adapt wrapper (peft), whose encoder and head we call."""
        return self.mlm.get_base_model() if hasattr(self.mlm, "get_base_model") else self.mlm

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        """Classifier inputs -> ``SequenceClassifierOutput`` with one logit per label (log mean word probability)."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        plain = self._plain()
        ids, mask, slots = wrap_in_template(input_ids, attention_mask, self.spec, self.max_positions)
        hidden = getattr(plain, plain.base_model_prefix)(input_ids=ids, attention_mask=mask).last_hidden_state
        picked = hidden[torch.arange(len(ids), device=ids.device)[:, None], slots]  # (batch, masks, width)
        log_probs = torch.log_softmax(_lm_head(plain)(picked).float(), dim=-1)  # (batch, masks, vocab)
        n_labels, n_words, n_masks = self.table.shape
        index = self.table.permute(2, 0, 1).reshape(1, n_masks, -1).expand(len(ids), -1, -1)
        token_lp = log_probs.gather(2, index).reshape(len(ids), n_masks, n_labels, n_words).permute(0, 2, 3, 1)
        word_lp = (token_lp * self.real).sum(-1) / self.real.sum(-1).clamp(min=1)  # (batch, labels, words)
        word_lp = word_lp.masked_fill(self.word_real == 0, float("-inf"))
        logits = torch.logsumexp(word_lp, dim=-1) - torch.log(self.word_real.sum(-1))  # log of the mean word probability
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path, **kwargs) -> None:
        """The masked-LM folder (``save_pretrained``); its config carries the prompt."""
        self.mlm.save_pretrained(path, **kwargs)

    def state_dict(self, *args, **kwargs):
        """The state without tied aliases (the MLM decoder shares the input embeddings): Trainer writes
        a plain module's checkpoints with safetensors, which refuses shared tensors. Loading the
        remaining name fills the shared tensor, so nothing is lost."""
        state = super().state_dict(*args, **kwargs)
        for name in self._aliases(state):
            del state[name]
        return state

    @staticmethod
    def _aliases(state) -> list[str]:
        seen, aliases = set(), []
        for name, tensor in state.items():
            key = (tensor.data_ptr(), tuple(tensor.shape))
            if key in seen:
                aliases.append(name)
            seen.add(key)
        return aliases

    @property
    def _keys_to_ignore_on_save(self) -> list[str]:
        """What ``state_dict`` leaves out (Trainer reads this after loading a checkpoint, then ties weights)."""
        return self._aliases(super().state_dict())

    def tie_weights(self) -> None:
        """Tie the masked LM's decoder to its input embeddings again (they stay tied; for Trainer)."""
        self._plain().tie_weights()


def _fill_missing_head(model, missing: list[str]) -> None:
    """Initialise an absent MLM head: identity transform, unit LayerNorm, zero biases (decoder is tied)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in missing:
            param = params.get(name)
            if param is None:
                continue
            if name.endswith("dense.weight") and param.shape[0] == param.shape[1]:
                param.copy_(torch.eye(param.shape[0]))
            elif "norm" in name.lower() and name.endswith("weight"):
                param.fill_(1.0)
            elif name.endswith("bias"):
                param.zero_()


@METHODS.register("prompt")
class PromptBased(Method):
    """Prompt-based fine-tuning through the masked-LM head; ``method.adapt`` picks what trains.

    Example:
        >>> tuneforge train configs/sst2_prompt_k16.yaml method.adapt.name=lora
    """

    Options = PromptBasedOptions
    default_learning_rate = 5e-5
    compared_by_default = True

    def check_task(self, task, cfg) -> None:
        """Single-text classification: the text goes into a template with one mask."""
        single_label_only("prompt", task, cfg)

    def can_export(self, options: PromptBasedOptions) -> bool:
        """No: the template is put around the text in Python, per row."""
        return False

    def _inner(self, options: PromptBasedOptions):
        name = options.adapt["name"]
        return METHODS.get(name)(), adapt_options(options)

    def build_model(self, task, model_path: str, label_names: list[str], options: PromptBasedOptions):
        """A masked-LM model (head filled in when the checkpoint lacks it) with the prompt forward."""
        from ..model_files import load_model, load_tokenizer

        model, info = load_model("AutoModelForMaskedLM", model_path, output_loading_info=True)
        missing = sorted(info.get("missing_keys") or ())
        _fill_missing_head(model, missing)
        spec = prompt_spec(load_tokenizer(model_path), options, label_names)
        return BuiltModel(PromptClassifier(model, spec), missing)

    def model_config_problem(self, task, config: dict, label_names: list[str]) -> str | None:
        """The prompt in ``config.json`` must score the manifest's labels, in order."""
        saved = (config.get("tuneforge_prompt") or {}).get("label_names")
        if saved != list(label_names):
            return f"labels {list(label_names)} in the manifest, {saved} in config.json's prompt"
        return None

    def load_trained(self, task, model_dir: str, options: PromptBasedOptions):
        """Reload a merged prompt model: a masked-LM folder whose config holds the prompt."""
        from ..model_files import load_model

        model = load_model("AutoModelForMaskedLM", model_dir)
        spec = getattr(model.config, "tuneforge_prompt", None)
        if not spec:
            raise ConfigError(f"{model_dir}: config.json holds no tuneforge_prompt")
        return PromptClassifier(model, spec)

    def apply(self, model: PromptClassifier, options: PromptBasedOptions, task):
        """Apply the ``adapt`` method to the masked-LM model inside (its head is the MLM head; it is
        not the task's own model, so the adapt method gets no task)."""
        method, inner = self._inner(options)
        self._adapt = method  # merge folds what this method trained
        model.mlm = method.apply(model.mlm, inner, None)
        return model

    def callbacks(self, options: PromptBasedOptions) -> list:
        method, inner = self._inner(options)
        return method.callbacks(inner)

    def merge(self, model: PromptClassifier):
        """Fold the adapt method's weights into the masked-LM model; the prompt travels in its config."""
        adapt = getattr(self, "_adapt", None)
        if adapt is None:
            raise ConfigError("merge needs the model that apply() prepared")
        return PromptClassifier(adapt.merge(model.mlm), model.spec)
