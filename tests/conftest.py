"""Shared fixtures: a tiny random BERT (no downloads) and small data files."""

from __future__ import annotations

import contextlib
import csv
import json
import string
from pathlib import Path

import pytest


def pytest_configure(config):
    """Register the toy plugin (a method and a task in a temporary module) before tests are collected,
    so every registry-driven test runs over it as over the built-in ones."""
    import tempfile

    from .toy_plugin import load_plugin

    config._tuneforge_plugin_dir = Path(tempfile.mkdtemp(prefix="tuneforge-plugin-"))
    load_plugin(config._tuneforge_plugin_dir)


# Test files that take a minute or more (processes started, killed, resumed): scheduled first, so that the
# two xdist workers of `make test` (run with --no-loadscope-reorder) finish together instead of one of
# them starting a long file at the end.
LONG_FILES = ("test_kill_resume.py", "test_distributed.py", "test_shared_search.py", "test_jobs.py",
              "test_capture.py", "test_question_answering.py", "test_cli.py", "test_server.py")


def pytest_collection_modifyitems(config, items):
    """Order the test files: the long ones first, then the rest by number of tests (most first), as
    xdist's own reordering would; tests keep their order within a file."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.nodeid.split("::")[0]] = counts.get(item.nodeid.split("::")[0], 0) + 1

    def rank(item):
        path = item.nodeid.split("::")[0]
        name = path.rsplit("/", 1)[-1]
        return (LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES), -counts[path], path)

    items.sort(key=rank)


def pytest_unconfigure(config):
    """Remove the toy plugin's temporary module (each test process made one)."""
    import shutil

    folder = getattr(config, "_tuneforge_plugin_dir", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

WORDS = """the a an and or but not no very really so this that it is was were be movie film
great good fine bad awful terrible boring lovely wonderful fun dull love hate liked enjoyed
plot actors acting story ending music john mary paris london berlin google apple works lives in at
for of to with my your our where parcel order refund charge password login app crash broken
""".split()


def _vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return specials + chars + [f"##{c}" for c in string.ascii_lowercase + string.digits] + WORDS


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT with a small word-piece vocabulary, saved as a model folder."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    # transformers 5 tokenizers take the vocabulary itself (``vocab_file=`` is silently ignored).
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(_vocab())}, do_lower_case=True)
    assert tokenizer.tokenize("johnny") == ["john", "##n", "##y"], "tiny tokenizer lost its vocabulary"
    config = BertConfig(
        vocab_size=len(_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256,
    )
    import torch

    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random Llama with a byte-level tokenizer and a ChatML chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        bos_token="<|im_start|>", additional_special_tokens=["<|im_start|>"])
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


POSITIVE = ["a great movie", "lovely acting and a fun story", "i really enjoyed this film", "wonderful music",
            "good plot , great ending", "very fun", "i love this movie", "the actors were great",
            "so lovely", "a fine film , really good", "enjoyed it", "great great great"]
NEGATIVE = ["an awful movie", "boring plot and dull acting", "i hate this film", "terrible music",
            "bad story , bad ending", "very dull", "not good", "the actors were awful",
            "so boring", "a terrible film , really bad", "hated it", "awful awful awful"]


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random GPT-2 with a byte-level BPE trained on the test words."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS), *POSITIVE, *NEGATIVE, "Review: Sentiment: positive negative N/A [MASK]"] * 3
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    """Write dict rows with a header (helper for tests)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    """24 short labelled reviews, balanced."""
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    return write_csv(tmp_path / "reviews.csv", rows)


CONLL = """-DOCSTART- O

john B-PER
lives O
in O
paris B-LOC
. O

mary B-PER
works O
at O
google B-ORG
in O
london B-LOC

the O
apple B-ORG
works O
in O
berlin B-LOC
"""


@pytest.fixture
def conll_file(tmp_path) -> Path:
    """Three tagged sentences repeated, in CoNLL format."""
    path = tmp_path / "ner.conll"
    body = CONLL.split("\n", 2)[2]
    path.write_text(CONLL + ("\n" + body) * 3, encoding="utf-8")
    return path


@pytest.fixture
def tiny_config(tiny_model_dir, sentiment_csv, tmp_path) -> dict:
    """A config mapping that trains the tiny model for a few steps."""
    return {
        "name": "tiny",
        "data": {"train": str(sentiment_csv), "split": {"validation": 0.25, "test": 0.25, "seed": 0}},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "train": {"epochs": 2, "batch_size": 4, "learning_rate": 1e-3, "logging_steps": 5},
        "output": {"dir": str(tmp_path / "run")},
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write one JSON object per line (helper for tests)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def train_tiny_bundle(tiny_model_dir, folder: Path, data: dict | None = None, **sections):
    """Train the tiny model on the 24 reviews in ``folder`` (one epoch unless ``train`` says otherwise);
    return (RunResult, path of the reviews file). ``data`` entries name the file as ``"{reviews}"``."""
    from tuneforge import api
    from tuneforge.config import build_config

    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    reviews = write_csv(folder / "reviews.csv", rows)
    data = {k: str(v).replace("{reviews}", str(reviews)) for k, v in (data or {"train": "{reviews}"}).items()}
    config = {"data": data, "model": {"name": str(tiny_model_dir), "max_length": 32},
              "train": {"epochs": 1, "batch_size": 8}, "output": {"dir": str(folder / "run")}, **sections}
    return api.train(build_config(config)), reviews


def resign_bundle(bundle: Path, manifest: dict | None = None) -> None:
    """Rewrite a bundle's manifest (``manifest`` or the one on disk) with a fresh digest and file hashes,
    as a deliberate forger with TuneForge's code could: for tests of checks that go beyond the hashes."""
    import hashlib

    from tuneforge.bundle import DIGEST, MANIFEST, manifest_digest

    manifest = manifest if manifest is not None else json.loads((bundle / MANIFEST).read_text())
    (bundle / DIGEST).write_text(manifest_digest(manifest) + "\n")
    manifest["files"] = {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(bundle.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def as_old_format(bundle: Path, version: int) -> tuple[Path, dict]:
    """Rewrite a bundle in place as the TuneForge before the typed manifest wrote it: no ``model``
    section; format 2 with the digest of that content, format 1 without a digest file."""
    import hashlib

    from tuneforge.bundle import DIGEST, MANIFEST, manifest_digest

    raw = json.loads((bundle / MANIFEST).read_text())
    raw.pop("model", None)
    raw["format_version"] = version
    raw.pop("files", None)
    if version == 1:
        (bundle / DIGEST).unlink()
    else:
        (bundle / DIGEST).write_text(manifest_digest(raw) + "\n")
    raw["files"] = {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(bundle.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (bundle / MANIFEST).write_text(json.dumps(raw, indent=2))
    return bundle, raw


def assert_one_error(result, *fragments):
    """Exit 2, no traceback, and one ``error:`` line holding every fragment (progress lines may precede it)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.count("error:") == 1, text
    error = text[text.index("error:"):]
    for fragment in fragments:
        assert fragment in error, (fragment, error)


def run_check(config: Path):
    """``tuneforge check CONFIG`` through the CLI, in this process: ``returncode`` (the exit code a shell
    would see) and ``stderr``."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from tuneforge.cli import app

    result = CliRunner().invoke(app, ["check", str(config)])
    return SimpleNamespace(returncode=result.exit_code, stderr=result.stderr)


def exported_copy(bundle: Path, data: Path, folder: Path) -> dict:
    """Export a copy of ``bundle`` (fp32 only) checked on ``data``; the manifest's onnx section."""
    import shutil

    from tuneforge import api

    shutil.copytree(bundle, folder / "bundle")
    return api.export(folder / "bundle", data, quantize=False)


@contextlib.contextmanager
def exported_and_served(bundle: Path, data: Path, folder: Path):
    """Export a copy of ``bundle`` (ONNX fp32 must pass the parity gate), then serve ``bundle`` with
    ``tuneforge serve``; yields the server's URL and stops it after."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("httpx")
    from .serve.conftest import Server

    fp32 = exported_copy(bundle, data, folder)["variants"]["fp32"]
    assert fp32["max_abs_diff"] <= 1e-4 and fp32["agreement"] == 1.0
    server = Server(bundle, log_dir=folder)
    try:
        yield server.url
    finally:
        server.stop()
