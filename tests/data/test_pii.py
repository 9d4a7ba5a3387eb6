"""PII masking: recall and precision of each pattern type on the project's seeded corpus, checksums
respected, and the masker's handling of text examples."""

from __future__ import annotations

import pytest

from tuneforge.data.pii import PiiMasker, check_pii_types
from tuneforge.errors import ConfigError

from .pii_corpus import card_number, iban, luhn_digit, pii_corpus, score_masker

pytest.importorskip("presidio_analyzer")
PATTERN = ["email", "phone", "credit_card", "iban", "ip", "url"]


@pytest.fixture(scope="module")
def masker() -> PiiMasker:
    return PiiMasker(PATTERN)


def test_the_corpus_holds_what_it_claims():
    import random

    sentences = pii_corpus(seed=0)
    assert len(sentences) >= 200
    assert {s["type"] for sentence in sentences for s in sentence["spans"]} >= set(PATTERN)
    rng = random.Random(1)
    for _ in range(50):  # valid card numbers pass Luhn, broken ones fail it
        digits = card_number(rng, valid=True).replace(" ", "").replace("-", "")
        assert luhn_digit(digits[:-1]) == digits[-1]
        broken = card_number(rng, valid=False).replace(" ", "").replace("-", "")
        assert luhn_digit(broken[:-1]) != broken[-1]
    code = iban(rng).replace(" ", "")
    assert int("".join(str(int(c, 36)) for c in code[4:] + code[:4])) % 97 == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_pattern_types_reach_the_recall_and_precision_bars(masker, seed):
    sentences = pii_corpus(seed=seed)
    result = score_masker(lambda text: [(f.type, f.start, f.end) for f in masker.find(text)], sentences)
    for kind in PATTERN:
        figures = result["per_type"][kind]
        assert figures["recall"] >= 0.95, (kind, figures, [m for m in result["misses"] if m[0] == kind])
        assert figures["precision"] >= 0.9, (kind, figures, [s for s in result["spurious"] if s[0] == kind])
    assert result["invalid_cards"] >= 20 and result["invalid_cards_masked"] == 0


def test_mask_replaces_each_item_with_its_type(masker):
    text = "Mail ann.lee@example.com, card 4111 1111 1111 1111, bad card 4111 1111 1111 1112, from 10.2.3.4"
    assert masker.mask(text) == "Mail <EMAIL>, card <CREDIT_CARD>, bad card 4111 1111 1111 1112, from <IP>"
    assert masker.mask("nothing personal here, order 48213") == "nothing personal here, order 48213"


def test_mask_examples_changes_text_and_pair_in_place(masker):
    examples = [{"text": "call +44 20 7946 0958", "text_pair": "or bob@example.org", "label": "a"},
                {"text": "fine", "text_pair": None, "label": "b"}]
    assert masker.mask_examples(examples) == 1
    assert examples[0]["text"] == "call <PHONE>" and examples[0]["text_pair"] == "or <EMAIL>"
    assert examples[1]["text"] == "fine"


def test_unknown_types_and_names_without_a_tagger_are_refused():
    with pytest.raises(ConfigError, match="unknown PII type 'passport'"):
        check_pii_types(["email", "passport"])
    with pytest.raises(ConfigError, match="entity-tagging bundle"):
        check_pii_types(["person"])


def test_log_masking_falls_back_to_plain_patterns_without_presidio(monkeypatch):
    from tuneforge.data import pii

    texts = ["ann@example.com called from +44 20 7946 0958 about order 42"]
    assert pii.mask_for_logs(texts) == ["<EMAIL> called from <PHONE> about order 42"]

    def missing(*args, **kwargs):
        raise ConfigError("PII masking needs Presidio")

    monkeypatch.setattr(pii, "cached_masker", missing)
    assert pii.mask_for_logs(texts) == ["<EMAIL> called from <NUMBER> about order 42"]
