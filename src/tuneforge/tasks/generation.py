"""Generation with a decoder LLM: instructions, dialogue, summaries (supervised fine-tuning).

Data: prompt/response columns, Alpaca records, chat ``messages`` or OpenAssistant trees
(``tuneforge.generation.conversations``). Each conversation is rendered with the chat template
(``task.chat_template``) and trained with loss on the assistant turns (``task.train_on_prompt``,
``task.mask_history``); evaluation decodes greedily (``task.decoding``) and scores ROUGE-1/2/L,
exact match, token F1 and the perplexity of the references, for the fine-tuned model and (as the
baseline, ``task.compare_base_model``) the base model it started from.

Example:
    >>> tuneforge train configs/dialogsum_lora.yaml
    >>> tuneforge generate runs/dialogsum_lora/bundle --prompt "Summarize: #Person1#: Hi ..."
"""

from __future__ import annotations

import logging
import math
from html import escape

from pydantic import Field

from ..errors import ConfigError, DataError
from ..generation.decoding import DecodingOptions
from . import TASKS
from .base import BuiltModel, Starter, TaskOptions, WithoutLabelList

log = logging.getLogger("tuneforge")
SAMPLE_ROWS = 8


class GenerationOptions(TaskOptions):
    """``task: {type: generation, ...}``: chat format, what carries loss, decoding, the before/after check."""

    type: str = "generation"
    chat_template: str = Field("model", description="model (the tokenizer's own; plain when it has none), "
                                                    "chatml or plain")
    train_on_prompt: bool = Field(False, description="loss on every token, not only the answers")
    mask_history: bool = Field(False, description="loss on the last answer of a conversation only")
    decoding: DecodingOptions = Field(default_factory=DecodingOptions)
    compare_base_model: bool = Field(True, description="evaluate the base model too (the report's before column)")
    eval_batch_size: int = Field(8, ge=1, le=256, description="prompts generated together")


STARTER_EXAMPLES = 1000  # what a starter config (tuneforge init) trains on from a larger file


class Generation(WithoutLabelList):
    """Supervised fine-tuning of a causal LM on conversations; generated answers scored by ROUGE and F1."""

    name = "generation"
    Options = GenerationOptions
    formats = ("jsonl", "json", "csv", "tsv")
    default_metric = "rougeL"
    generates_text = True
    trainer_metric_names = ("loss",)
    lower_is_better = ("loss", "perplexity")
    auto_class = "AutoModelForCausalLM"
    peft_task_type = "CAUSAL_LM"
    default_max_length = 512
    default_backbone = "smollm2-135m-instruct"
    per_class_title = "Samples"

    @property
    def compares_with_base_model(self) -> bool:
        """Whether the base model is evaluated too (``task.compare_base_model``)."""
        return self.settings.compare_base_model

    @property
    def settings(self) -> GenerationOptions:
        """The ``task:`` options this instance works with (the defaults when none were given)."""
        return self.options if isinstance(self.options, GenerationOptions) else GenerationOptions()

    @property
    def checkpoint_metric(self) -> str:
        """The validation loss: generating during training would cost more than the training."""
        return "loss"

    def training_facts(self):
        """How many training conversations were cut to ``model.max_length``, and the training tokens."""
        counts = getattr(self, "truncated", [])
        facts = {"truncated_conversations": " / ".join(f"{cut} of {n}" for n, cut in counts) + " (training / validation)"
                 } if counts else {}
        if getattr(self, "tokens", None):
            facts["training_tokens"] = self.tokens[0]  # one epoch of the training split, padding excluded
        return facts

    # -- data ------------------------------------------------------------------------------------

    def starter(self, profile) -> Starter | None:
        """Chat, Alpaca-style or prompt/response records."""
        from ..generation.conversations import starter_columns

        found = starter_columns(profile.columns) if profile.format in self.formats else None
        if found is None:
            return None
        data, what = found
        notes = [what, "the report compares the LLM before and after fine-tuning"]
        if profile.n_rows > STARTER_EXAMPLES:  # a CPU trains a 135M-parameter LLM at roughly 200 tokens/s
            data = {**data, "max_train_samples": STARTER_EXAMPLES, "max_eval_samples": 100}
            notes.append(f"{STARTER_EXAMPLES} training and 100 evaluation examples keep a CPU run near an hour; "
                         "raise data.max_train_samples when you have the time")
        return Starter(fit=2.0, data=data, notes=notes, model={"max_length": 512},
                       train={"epochs": 1, "batch_size": 8, "early_stopping_patience": None})

    def read_examples(self, path, fmt, columns, require_labels=True):
        """Conversations from any record shape ``conversations`` knows; with labels, each ends with an answer."""
        from ..data.readers import read_records
        from ..generation.conversations import conversation_of, display_prompt, prompt_messages

        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)} files, not {fmt}")
        examples = []
        for row in read_records(path, fmt):
            where = f"{path} line {row.line}" if fmt != "json" else f"{path} record {row.line}"
            example = conversation_of(row.values, columns, where)
            if require_labels and not example["references"]:
                raise DataError(f"{where}: no response to learn from (the record has no answer)")
            example.update(text=display_prompt(prompt_messages(example)), where=where)
            examples.append(example)
        return examples

    def check_training_data(self, train, splits_carved, source):
        """Warn about empty answers (nothing to learn from them)."""
        empty = [e["where"] for e in train if not e["messages"][-1]["content"].strip()]
        if empty:
            log.warning("%s: %d examples have an empty answer (first: %s)", source, len(empty), empty[0])

    def train_stats(self, train):
        """How many conversations and turns the training data holds."""
        turns = sum(sum(m["role"] == "assistant" for m in e["messages"]) for e in train)
        return {"examples": len(train), "assistant_turns": turns}

    # -- model -------------------------------------------------------------------------------------

    def prepare_tokenizer(self, tokenizer) -> None:
        """The chat template of ``task.chat_template`` (saved with the bundle's tokenizer) and a pad token."""
        from ..generation.chat_format import use_template

        use_template(tokenizer, self.settings.chat_template)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.eos_token_id is None:
            raise ConfigError("generation needs a tokenizer with an end-of-sequence token")

    def build_model(self, model_path, label_names):
        """The causal LM as it was pretrained (nothing new: every parameter comes from the checkpoint)."""
        from ..model_files import load_model

        return BuiltModel(load_model(self.auto_class, model_path), [])

    def model_config_problem(self, config, label_names):
        """The folder must hold a causal LM."""
        architectures = config.get("architectures") or []
        if not any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
            return f"task {self.name} needs a causal language model, config.json has {architectures}"
        return None

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """Token ids and loss labels per conversation (``generation.chat_format``); counts truncations."""
        from datasets import Dataset

        from ..generation.chat_format import encode_conversation, loss_tokens

        options = self.settings
        encoded = [encode_conversation(tokenizer, e["messages"], max_length, options.train_on_prompt,
                                       options.mask_history) for e in examples]
        whole = [e for e in encoded if not e.truncated]  # a cut answer may have lost its EOS
        if whole and tokenizer.eos_token_id not in [t for t in whole[0].labels if t >= 0]:
            raise ConfigError("the chat template does not close an answer with the EOS token; set "
                              "task.chat_template to chatml or plain")
        cut = sum(e.truncated for e in encoded)
        if cut:
            log.warning("%d of %d conversations are longer than %d tokens: the oldest prompt tokens were cut "
                        "(an answer longer than that on its own was cut at its end)", cut, len(encoded), max_length)
        self.truncated = [*getattr(self, "truncated", []), (len(encoded), cut)]  # training first, then validation
        self.tokens = [*getattr(self, "tokens", []), sum(len(e.input_ids) for e in encoded)]
        empty = sum(1 for e in encoded if not loss_tokens(e))
        if empty:
            raise DataError(f"{empty} conversations have no answer token left to learn from")
        columns = {"input_ids": [e.input_ids for e in encoded], "attention_mask": [[1] * len(e.input_ids)
                                                                                    for e in encoded],
                   "length": [len(e.input_ids) for e in encoded]}
        if with_labels:
            columns["labels"] = [e.labels for e in encoded]
        return Dataset.from_dict(columns)

    def trainer_class(self, base):
        """Trainer computing the loss at the learned (answer) positions only (``training.answer_loss``)."""
        from ..training.answer_loss import answer_only_trainer

        return answer_only_trainer(base)

    def collator(self, tokenizer):
        """Right padding; padded positions carry no loss."""
        from ..generation.chat_format import IGNORE, pad_batch

        def collate(features):
            ids, mask = pad_batch([f["input_ids"] for f in features], tokenizer.pad_token_id, left=False)
            batch = {"input_ids": ids, "attention_mask": mask}
            if "labels" in features[0]:
                labels, _ = pad_batch([f["labels"] for f in features], IGNORE, left=False)
                batch["labels"] = labels
            return batch

        return collate

    def trainer_metrics(self, label_names, threshold):
        """None: during training the validation loss picks the checkpoint (generating is too slow)."""
        return None

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """The generated answer to each conversation (``text``), plus the references' perplexity terms
        when the examples carry references."""
        from ..generation.chat_format import prompt_ids
        from ..generation.conversations import prompt_messages
        from ..generation.decoding import generate_all

        options = self.settings.decoding
        prompts = []
        for e in examples:
            ids = prompt_ids(tokenizer, prompt_messages(e))
            room = max(1, max_length - options.max_new_tokens)
            prompts.append(ids[-room:])  # the most recent context when the prompt is too long
        from tqdm.auto import tqdm

        batch = self.settings.eval_batch_size
        with tqdm(total=len(prompts), desc="generating", unit="answer", disable=len(prompts) <= batch,
                  leave=False) as bar:  # evaluation generates for minutes on a CPU: show it moving
            generated = generate_all(model, tokenizer, prompts, options, batch_size=batch, progress=bar.update)
        results = [{"text": g.text, "tokens": g.tokens, "finish_reason": g.finish_reason} for g in generated]
        if any(e.get("references") for e in examples):
            for result, nll in zip(results, _reference_nll(model, tokenizer, examples, max_length, batch_size)):
                result.update(nll)
        return results

    def score(self, examples, predictions, label_names, train_stats):
        """ROUGE-1/2/L, exact match, token F1 (best over references), perplexity of the references."""
        from ..generation.text_metrics import text_metrics

        metrics = text_metrics([p["text"] for p in predictions], [e.get("references") or [] for e in examples])
        tokens = sum(p.get("reference_tokens", 0) for p in predictions)
        if tokens:
            metrics["perplexity"] = round(math.exp(sum(p.get("reference_nll", 0.0) for p in predictions) / tokens), 4)
        metrics["output_tokens"] = round(sum(p["tokens"] for p in predictions) / max(1, len(predictions)), 2)
        return metrics

    def same_prediction(self, a, b):
        """The same generated text."""
        return a.get("text") == b.get("text")

    # -- reports -------------------------------------------------------------------------------------

    def report_sections(self, metrics, examples, predictions):
        """Sample rows: prompt, reference, base model output (when evaluated) and fine-tuned output."""
        if not examples or not predictions:
            return []
        with_base = any("before" in p for p in predictions)
        head = "<th>prompt</th><th>reference</th>" + ("<th>base model</th>" if with_base else "") + "<th>output</th>"
        rows = "".join(
            "<tr>" + "".join(f"<td><pre>{escape(str(cell)[:1200])}</pre></td>" for cell in (
                e.get("text", ""), (e.get("references") or [""])[0], *([p.get("before", "")] if with_base else []),
                p["text"])) + "</tr>"
            for e, p in list(zip(examples, predictions))[:SAMPLE_ROWS])
        return [("samples", "Sample outputs", f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")]

    def markdown_sections(self, metrics):
        """Generation has no per-class table (samples are in the HTML report)."""
        return []


def _reference_nll(model, tokenizer, examples, max_length: int, batch_size: int) -> list[dict[str, float]]:
    """Summed negative log-likelihood and token count of each example's first reference answer."""
    import torch

    from ..generation.chat_format import IGNORE, encode_conversation, pad_batch
    from ..generation.conversations import prompt_messages

    rows = []
    for e in examples:
        refs = e.get("references") or []
        if not refs:
            rows.append(None)
            continue
        messages = [*prompt_messages(e), {"role": "assistant", "content": refs[0]}]
        rows.append(encode_conversation(tokenizer, messages, max_length, mask_history=True))
    out: list[dict[str, float]] = [{} for _ in examples]
    real = [i for i, r in enumerate(rows) if r is not None]
    step = max(1, min(batch_size, 8))
    with torch.inference_mode():
        for start in range(0, len(real), step):
            idx = real[start : start + step]
            ids, mask = pad_batch([rows[i].input_ids for i in idx], tokenizer.pad_token_id, left=False)
            labels, _ = pad_batch([rows[i].labels for i in idx], IGNORE, left=False)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE,
                                                    reduction="none").sum(dim=1)
            counts = (target != IGNORE).sum(dim=1)
            for row, i in enumerate(idx):
                out[i] = {"reference_nll": float(nll[row]), "reference_tokens": int(counts[row])}
    return out


TASKS.register("generation")(Generation())
