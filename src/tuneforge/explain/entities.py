"""Why the tagger found each entity: integrated gradients (as ``attributions.py``) of the sum of the
entity's tag logits at its words' first sub-word pieces, attributed to every word of the sentence.

Example:
    >>> result = explain_entities(Predictor.load("runs/ner/bundle"), ["Angela Merkel visited Paris"])[0]
    >>> [(e["text"], e["words"][0]["word"]) for e in result["entities"]]
    [('Angela Merkel', 'Angela'), ('Paris', 'Angela')]
"""

from __future__ import annotations

from typing import Any

from ..tasks.token_classification import split_words
from .attributions import _captum


def _entity_positions(tags: list[str], word_ids: list[int | None], names: list[str]):
    """For each predicted entity (seqeval's grouping): its type, first and last word, and the
    (piece position, label index) pairs whose logits it sums."""
    from seqeval.metrics.sequence_labeling import get_entities

    first_piece: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in first_piece:
            first_piece[word] = position
    out = []
    for entity_type, first, last in get_entities(list(tags)):
        pairs = [(first_piece[w], names.index(tags[w])) for w in range(first, last + 1) if w in first_piece]
        if pairs:
            out.append((entity_type, first, last, pairs))
    return out


def explain_entities(predictor, texts: list[str], steps: int = 50) -> list[dict[str, Any]]:
    """Each text's predicted entities, each with per-word attributions of its tag logits, the output
    difference to the pad baseline they explain and Captum's convergence delta."""
    import torch

    lig_class = _captum()
    model, tokenizer, names = predictor.model, predictor.tokenizer, predictor.label_names
    predictions = predictor.predict([{"text": t} for t in texts])
    special = set(tokenizer.all_special_ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    results = []
    for text, prediction in zip(texts, predictions):
        words, spans = split_words(text)  # the words the tagger tagged
        encoded = tokenizer(words or ["."], is_split_into_words=True, truncation=True,
                            max_length=predictor.max_length, return_tensors="pt")
        word_ids = encoded.word_ids(0)
        ids = encoded["input_ids"]
        baseline = torch.tensor([[t if t in special else pad for t in ids[0].tolist()]])
        extra = (encoded["attention_mask"],) + ((encoded["token_type_ids"],) if "token_type_ids" in encoded else ())
        entities = []
        for (entity_type, first, last, pairs), entity in zip(
                _entity_positions(prediction["tags"], word_ids, names), prediction["entities"]):
            positions = torch.tensor([p for p, _ in pairs])
            labels = torch.tensor([label for _, label in pairs])

            def forward(input_ids, attention_mask, token_type_ids=None, positions=positions, labels=labels):
                kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
                if token_type_ids is not None:
                    kwargs["token_type_ids"] = token_type_ids
                return model(**kwargs).logits[:, positions, labels].sum(dim=-1)

            lig = lig_class(forward, model.get_input_embeddings())
            attributions, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=extra,
                                                n_steps=steps, return_convergence_delta=True)
            scores = attributions.sum(dim=-1)[0].detach().numpy()
            with torch.inference_mode():
                difference = float(forward(ids, *extra)[0] - forward(baseline, *extra)[0])
            totals = [0.0] * len(spans)
            for position, word in enumerate(word_ids):
                if word is not None and word < len(totals):
                    totals[word] += float(scores[position])
            entities.append({**entity, "words": [{"word": text[s:e], "start": s, "end": e, "attribution": round(t, 6)}
                                                 for (s, e), t in zip(spans, totals)],
                             "output_difference": round(difference, 6),
                             "attribution_sum": round(float(scores.sum()), 6),
                             "convergence_delta": round(float(delta[0]), 6),
                             "relative_delta": round(abs(float(delta[0])) / max(abs(difference), 1e-9), 6)})
        results.append({"text": text, "tags": prediction["tags"], "method": "integrated_gradients",
                        "entities": entities, "steps": steps})
    return results
