"""Find and mask personal data in text: Microsoft Presidio's pattern recognisers (with their checksums:
Luhn for cards, the IBAN check digits), plus names and places from a TuneForge entity-tagging bundle
instead of a spaCy model download.

Presidio runs here with its no-op NLP engine (no spaCy model is loaded or downloaded); the e-mail
recogniser's top-level-domain check reads the suffix list shipped with ``tldextract`` and never the
network.

Example:
    >>> masker = PiiMasker(["email", "phone"])
    >>> masker.mask("write to ann@example.com or call +44 20 7946 0958")
    'write to <EMAIL> or call <PHONE>'
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError

log = logging.getLogger(__name__)

# config name -> Presidio entity type
PATTERN_TYPES = {"email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "credit_card": "CREDIT_CARD",
                 "iban": "IBAN_CODE", "ip": "IP_ADDRESS", "url": "URL"}
# config name -> entity types of a tagging bundle that count as it (CoNLL-2003: PER, LOC, ORG)
NER_TYPES = {"person": ("PER", "PERSON"), "location": ("LOC", "LOCATION", "GPE"),
             "organization": ("ORG", "ORGANIZATION")}
PII_TYPES = tuple(PATTERN_TYPES) + tuple(NER_TYPES)
DEFAULT_TYPES = tuple(PATTERN_TYPES)
# phone numbers are read as numbers of these regions (and any number written with a +country code)
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "ES", "IT", "NL", "CA", "AU", "BR", "CH", "AT", "BE", "IE", "SE", "PL")
MIN_SCORE = 0.35  # Presidio's phone recogniser scores 0.4; lower scores are context-free guesses


def _presidio():
    try:
        import presidio_analyzer
        import presidio_anonymizer
    except ImportError:
        raise ConfigError("PII masking needs Presidio: pip install 'tuneforge[data]' "
                          "(presidio-analyzer and presidio-anonymizer)") from None
    return presidio_analyzer, presidio_anonymizer


def check_pii_types(types: Iterable[str], ner_bundle: str | Path | None = None) -> list[str]:
    """The requested PII type names, checked: known names, and names/places only with a tagging bundle."""
    types = list(types)
    unknown = [t for t in types if t not in PII_TYPES]
    if unknown:
        raise ConfigError(f"unknown PII type {unknown[0]!r}; known: {', '.join(PII_TYPES)}")
    needs_ner = [t for t in types if t in NER_TYPES]
    if needs_ner and ner_bundle is None:
        raise ConfigError(f"PII type {needs_ner[0]!r} is found by an entity-tagging bundle: give its folder "
                          "(--ner-bundle, or data.pii_ner_bundle), e.g. a model trained on configs/conll2003.yaml")
    if not types:
        raise ConfigError("give at least one PII type to mask")
    return types


@dataclass
class Found:
    """One piece of personal data: its type (our name), character span and text."""

    type: str
    start: int
    end: int
    text: str
    score: float


def _too_long_for_a_phone(result, text: str) -> bool:
    """A "phone number" of more than 15 digits, which E.164 does not allow (a card number, say)."""
    return result.entity_type == "PHONE_NUMBER" and sum(c.isdigit() for c in text[result.start:result.end]) > 15


@functools.lru_cache(maxsize=1)
def _offline_tld_extract():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _offline_email_recognizer():
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recogniser, its domain check reading the bundled public-suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(_offline_tld_extract()(pattern_text).fqdn)

    return OfflineEmailRecognizer()


def _ner_recognizer(bundle: str | Path, types: list[str]):
    """A Presidio recogniser that asks a TuneForge entity-tagging bundle for names, places, organisations."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    from ..errors import BundleError
    from ..predictor import Predictor

    predictor = Predictor.load(bundle)
    if predictor.task.plain_text_format != "conll":  # the task that reads CoNLL is the entity tagger
        raise BundleError(f"{bundle}: PII names and places need an entity-tagging bundle, this one is "
                          f"{predictor.task.name}")
    ours = {bundle_type: name for name in types for bundle_type in NER_TYPES[name]}
    entities = [name.upper() for name in types]

    class BundleEntityRecognizer(EntityRecognizer):
        """Names, places and organisations from an entity-tagging bundle."""

        def load(self) -> None:
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            found = predictor.predict_texts([text])[0].get("entities", [])
            return [RecognizerResult(ours[e["type"]].upper(), e["start"], e["end"], float(e["score"]))
                    for e in found if e["type"] in ours and ours[e["type"]].upper() in entities]

    return BundleEntityRecognizer(supported_entities=entities, name="TuneForgeBundleRecognizer")


class PiiMasker:
    """Finds the requested kinds of personal data and replaces each with ``<TYPE>``."""

    def __init__(self, types: Iterable[str] = DEFAULT_TYPES, ner_bundle: str | Path | None = None) -> None:
        self.types = check_pii_types(types, ner_bundle)
        analyzer_mod, anonymizer_mod = _presidio()
        from presidio_analyzer.nlp_engine.no_op_nlp_engine import NoOpNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UrlRecognizer,
        )

        makers = {"email": _offline_email_recognizer, "phone": lambda: PhoneRecognizer(supported_regions=PHONE_REGIONS),
                  "credit_card": CreditCardRecognizer, "iban": IbanRecognizer, "ip": IpRecognizer,
                  "url": UrlRecognizer}
        registry = analyzer_mod.RecognizerRegistry(supported_languages=["en"])
        for name in self.types:
            if name in makers:
                registry.add_recognizer(makers[name]())
        ner = [t for t in self.types if t in NER_TYPES]
        if ner:
            registry.add_recognizer(_ner_recognizer(ner_bundle, ner))
        engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        engine.load()
        self._analyzer = analyzer_mod.AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        self._entities = [PATTERN_TYPES.get(t, t.upper()) for t in self.types]
        self._ours = {PATTERN_TYPES.get(t, t.upper()): t for t in self.types}
        self._anonymizer = anonymizer_mod.AnonymizerEngine()

    def find(self, text: str) -> list[Found]:
        """The personal data in ``text``, overlaps resolved (the higher score, then the longer span wins)."""
        results = [r for r in self._analyzer.analyze(text, language="en", entities=self._entities)
                   if r.score >= MIN_SCORE and not _too_long_for_a_phone(r, text)]
        results.sort(key=lambda r: (-r.score, -(r.end - r.start), r.start))
        kept: list[Any] = []
        for r in results:
            if all(r.end <= k.start or r.start >= k.end for k in kept):
                kept.append(r)
        return [Found(self._ours[r.entity_type], r.start, r.end, text[r.start:r.end], round(float(r.score), 4))
                for r in sorted(kept, key=lambda r: r.start)]

    def mask(self, text: str) -> str:
        """``text`` with each piece of personal data replaced by ``<TYPE>`` (e.g. ``<EMAIL>``): Presidio's
        anonymizer with one replace operator per type."""
        from presidio_analyzer import RecognizerResult
        from presidio_anonymizer.entities import OperatorConfig

        found = self.find(text)
        if not found:
            return text
        results = [RecognizerResult(f.type, f.start, f.end, f.score) for f in found]
        operators = {f.type: OperatorConfig("replace", {"new_value": f"<{f.type.upper()}>"}) for f in found}
        return self._anonymizer.anonymize(text, results, operators=operators).text

    def mask_examples(self, examples: list[dict[str, Any]]) -> int:
        """Mask ``text`` and ``text_pair`` of each example in place; returns how many examples changed."""
        changed = 0
        for example in examples:
            before = (example.get("text"), example.get("text_pair"))
            for key in ("text", "text_pair"):
                if isinstance(example.get(key), str):
                    example[key] = self.mask(example[key])
            changed += (example.get("text"), example.get("text_pair")) != before
        return changed


def text_masker(types: Iterable[str] | None):
    """A function masking ``types`` in a text, or one returning the text unchanged when ``types`` is empty."""
    return PiiMasker(types).mask if types else (lambda text: text)


@functools.lru_cache(maxsize=4)
def cached_masker(types: tuple[str, ...] = DEFAULT_TYPES, ner_bundle: str | None = None) -> PiiMasker:
    """One masker per set of types (building one takes a moment): what the server's log and capture use."""
    return PiiMasker(types, ner_bundle)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\+?\d[\d ()./-]{6,}\d")


def mask_for_logs(texts: list[str]) -> list[str]:
    """Texts as the server's access log may keep them: Presidio's pattern types masked where Presidio is
    installed, else e-mail addresses and long numbers (phones, cards, accounts) by plain patterns."""
    try:
        masker = cached_masker()
    except ConfigError:
        return [_LONG_NUMBER.sub("<NUMBER>", _EMAIL.sub("<EMAIL>", text)) for text in texts]
    return [masker.mask(text) for text in texts]
