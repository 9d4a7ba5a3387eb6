"""A transformers encoder with a task head of TuneForge's own, saved and loaded like a transformers model:
``config.json`` (the encoder's config plus the head's keys and ``architectures``) and ``model.safetensors``.

Subclasses set ``architecture``, build their head in ``__init__`` and say which config keys they add
(``head_config``) and how to rebuild from them (``from_head_config``).

Example:
    >>> model.save_pretrained("bundle/model")
    >>> EntityStartClassifier.from_pretrained("bundle/model", BundleError)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def without_pooler(encoder):
    """The encoder without its [CLS] pooler (BERT-style), which these heads never read: no parameters that
    train nothing or come from nowhere."""
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    return encoder


def load_encoder(folder: str | Path):
    """The pretrained encoder of a model folder (``AutoModel``, safetensors, no custom code), no pooler."""
    from ..model_files import load_model

    return without_pooler(load_model("AutoModel", folder))


class EncoderWithHead(torch.nn.Module):
    """``encoder`` (a transformers encoder) + a head; ``config`` is the encoder's (what methods read:
    ``model_type``, layers, hidden size)."""

    architecture = ""
    base_model_prefix = "encoder"  # the backbone; everything else is the task head (methods.head_parameter_names)

    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config

    def encode(self, input_ids, attention_mask=None, token_type_ids=None):
        """The encoder's last hidden states (``token_type_ids`` only where the tokenizer gives them)."""
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.encoder(**inputs).last_hidden_state

    def head_config(self) -> dict[str, Any]:
        """The keys ``config.json`` adds for the head."""
        return {}

    @classmethod
    def from_head_config(cls, encoder, config: dict[str, Any]) -> "EncoderWithHead":
        """The model with a head as ``head_config`` described it (weights loaded afterwards)."""
        raise NotImplementedError

    def save_pretrained(self, folder: str | Path, safe_serialization: bool = True, **_: Any) -> None:
        """``config.json`` (the encoder's config, the head's keys) and ``model.safetensors``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {**self.encoder.config.to_dict(), "architectures": [self.architecture], **self.head_config()}
        (folder / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS))

    @classmethod
    def from_pretrained(cls, folder: str | Path, error=ConfigError) -> "EncoderWithHead":
        """A model ``save_pretrained`` wrote (safetensors only, no custom code; every tensor must match)."""
        from safetensors.torch import load_file
        from transformers import AutoModel

        from ..model_files import check_model_folder, load_config, read_json_object

        check_model_folder(folder, error)
        raw = read_json_object(Path(folder) / CONFIG, error)
        try:
            if cls.architecture not in (raw.get("architectures") or []):
                raise ValueError(f"config.json names {raw.get('architectures')}, not {cls.architecture}")
            model = cls.from_head_config(without_pooler(AutoModel.from_config(load_config(folder, error))), raw)
            model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)), strict=True)
        except (KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:
            raise error(f"{folder}: not a {cls.architecture} model this version can load ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
        return model
