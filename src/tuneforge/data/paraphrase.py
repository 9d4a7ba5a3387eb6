"""Paraphrase augmentation: a local instruction-tuned causal LM (a model folder, a packaged model such as
``smollm2-135m-instruct``, or a TuneForge generation bundle) rewrites each training sentence; a rewrite
is kept when its sentence embedding (the classifier's backbone) stays close to the original's and, when
a classifier bundle is given, that bundle still predicts the example's label for it.

Example:
    >>> kept = paraphrase_examples(train, "smollm2-135m-instruct", backbone, copies=1, seed=0)
    >>> kept[0]["augmented"]
    'paraphrase'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PROMPT = "Rewrite this sentence in different words, keeping its meaning. Answer with the sentence only.\n\n{text}"


def _generator(source: str):
    """(model, tokenizer) of a generation bundle, a packaged model name or a causal-LM folder."""
    from ..backbone import resolve_backbone
    from ..bundle import MANIFEST
    from ..model_files import load_model, load_tokenizer

    if (Path(source) / MANIFEST).is_file():
        from ..predictor import Predictor

        predictor = Predictor.load(source)
        if not predictor.task.generates_text:
            from ..errors import ConfigError

            raise ConfigError(f"{source}: paraphrasing needs a generation bundle, this one is {predictor.task.name}")
        return predictor.model, predictor.tokenizer
    folder = resolve_backbone(source)
    model, tokenizer = load_model("AutoModelForCausalLM", folder).eval(), load_tokenizer(folder)
    if not getattr(tokenizer, "chat_template", None):
        from ..errors import ConfigError

        raise ConfigError(f"{source}: paraphrasing needs an instruction-tuned model with a chat template")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def paraphrase_texts(texts: list[str], source: str, copies: int = 1, seed: int = 0, batch_size: int = 16
                     ) -> list[list[str]]:
    """``copies`` sampled rewrites of each text (empty and unchanged rewrites dropped)."""
    from ..generation.chat_format import prompt_ids
    from ..generation.decoding import DecodingOptions, generate_all
    from ..logs import progress_bar

    model, tokenizer = _generator(source)
    out: list[list[str]] = [[] for _ in texts]
    for copy in range(copies):
        prompts = [prompt_ids(tokenizer, [{"role": "user", "content": PROMPT.format(text=t)}]) for t in texts]
        longest = max(len(tokenizer(t)["input_ids"]) for t in texts)
        options = DecodingOptions(max_new_tokens=min(256, 2 * longest + 8), do_sample=True, temperature=0.9,
                                  top_p=0.95, seed=seed + copy, stop=["\n"])
        bar = progress_bar(range(len(prompts)), f"paraphrasing ({copy + 1}/{copies})", minimum=batch_size + 1)
        generated = generate_all(model, tokenizer, prompts, options, batch_size=batch_size,
                                 progress=getattr(bar, "update", None))
        for i, g in enumerate(generated):
            text = g.text.strip().strip('"').strip()
            if text and text.lower() != texts[i].strip().lower() and text not in out[i]:
                out[i].append(text)
    return out


def paraphrase_examples(examples: list[dict[str, Any]], source: str, backbone: str, copies: int = 1, seed: int = 0,
                        min_similarity: float = 0.75, filter_bundle: str | None = None) -> list[dict[str, Any]]:
    """New training examples from rewrites of each example's ``text`` that pass the filters."""
    from .label_errors import embed_texts

    rewrites = paraphrase_texts([e["text"] for e in examples], source, copies, seed)
    flat = [(i, text) for i, options in enumerate(rewrites) for text in options]
    if not flat:
        return []
    originals = embed_texts([e["text"] for e in examples], backbone, progress=False)
    candidates = embed_texts([text for _, text in flat], backbone, progress=False)
    similarity = np.einsum("ij,ij->i", candidates, originals[[i for i, _ in flat]])
    kept = [(i, text, float(s)) for (i, text), s in zip(flat, similarity) if s >= min_similarity]
    if filter_bundle and kept:
        from ..predictor import Predictor

        judge = Predictor.load(filter_bundle)
        predicted = judge.predict([{"text": text, "text_pair": examples[i].get("text_pair")} for i, text, _ in kept])
        kept = [k for k, p in zip(kept, predicted) if p.get("label") == examples[k[0]]["label"]]
    log.info("paraphrase: %d rewrites, %d kept (similarity >= %.2f%s)", len(flat), len(kept), min_similarity,
             ", label agreed" if filter_bundle else "")
    return [{**examples[i], "text": text, "augmented": "paraphrase", "similarity": round(s, 4),
             "where": f"{examples[i].get('where', 'example')} (augmented: paraphrase)"} for i, text, s in kept]
