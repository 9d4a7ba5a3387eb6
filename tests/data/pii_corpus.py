"""A seeded corpus of realistic sentences holding personal data, with the exact span of every item.

What the PII masking is measured on (tests/data/test_pii.py and bench/pii.py): e-mail addresses, phone
numbers written the way several countries write them, card numbers whose Luhn checksum holds and card
numbers whose checksum fails (these must NOT be masked), IBANs with valid check digits, IPv4/IPv6
addresses, URLs and person names; and sentences with numbers that are not personal data (order numbers,
prices, dates, years) that must stay.

Example:
    >>> sentences = pii_corpus(seed=0)
    >>> sentences[0]["spans"][0]["type"] in {"email", "phone", "credit_card", "iban", "ip", "url", "person"}
    True
"""

from __future__ import annotations

import random
import string

FIRST = ["Maria", "James", "Aisha", "Lukas", "Sofia", "Chen", "Olivia", "Mateo", "Priya", "Jonas", "Emma", "Kwame",
         "Hannah", "Diego", "Fatima", "Noah", "Ingrid", "Ravi", "Chloe", "Tomasz"]
LAST = ["Schmidt", "Johnson", "Okafor", "Rossi", "Nguyen", "Kowalski", "Garcia", "Patel", "Dubois", "Andersson",
        "Murphy", "Tanaka", "Fischer", "Silva", "Brown", "Novak", "Haddad", "Larsen", "Moreau", "Kim"]
DOMAINS = ["example.com", "mail.example.org", "company.co.uk", "post.example.de", "uni-example.edu", "shop.example.fr"]
TEMPLATES = {
    "email": ["Please send the invoice to {v} before Friday.", "You can reach our support lead at {v}.",
              "My new address is {v}, the old one no longer works.", "Forward the logs to {v} and cc me."],
    "phone": ["Call me back on {v} after six.", "The courier's number is {v}.",
              "If the line drops, dial {v} instead.", "Our office in town answers on {v}."],
    "credit_card": ["I paid with the card {v} yesterday.", "Charge the card ending the order, {v}, please.",
                    "The refund should go back to {v}."],
    "iban": ["Transfer the deposit to {v} by Monday.", "My account is {v} at the local bank.",
             "Rent goes to IBAN {v} every month."],
    "ip": ["The failed logins came from {v} overnight.", "Whitelist {v} on the firewall.",
           "The printer sits at {v} on the office network."],
    "url": ["The form is at {v} if you need it.", "See {v} for the full terms."],
    "person": ["{v} will take over the account next week.", "I spoke with {v} about the delay.",
               "Please ask {v} to sign the contract."],
}
NOT_PII = ["Order 48213 shipped on 12 March with 3 items.", "The total came to 149.99 euros including tax.",
           "We moved offices in 2019 and again in 2023.", "Room 204 is booked from 9 to 11.",
           "The package weighs 2.5 kg and measures 30 by 20 cm.", "Version 3.2.1 fixed 14 bugs.",
           "Flight 447 leaves at 14:35 from gate 12.", "Ticket 90211 was closed after 5 days."]


def luhn_digit(digits: str) -> str:
    """The Luhn check digit that makes ``digits + check`` valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random, valid: bool) -> str:
    """A 16-digit Visa/Mastercard-style number in groups of four; ``valid=False`` breaks its checksum."""
    body = rng.choice(["4", "51", "52", "53", "54", "55"])
    body += "".join(rng.choice(string.digits) for _ in range(15 - len(body)))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    number = body + check
    return rng.choice([" ", "-", ""]).join(number[i:i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    """An IBAN of DE, GB, FR, NL or ES with valid ISO 7064 mod-97 check digits, printed in groups of four."""
    country, bban = rng.choice([
        ("DE", lambda: "".join(rng.choice(string.digits) for _ in range(18))),
        ("GB", lambda: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
                       + "".join(rng.choice(string.digits) for _ in range(14))),
        ("FR", lambda: "".join(rng.choice(string.digits) for _ in range(23))),
        ("NL", lambda: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
                       + "".join(rng.choice(string.digits) for _ in range(10))),
        ("ES", lambda: "".join(rng.choice(string.digits) for _ in range(20))),
    ])
    bban = bban()
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = f"{98 - int(numeric) % 97:02d}"
    code = country + check + bban
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


def phone(rng: random.Random) -> str:
    """A phone number as people write them in the US, UK, Germany, France, India, Australia or Spain."""
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    area = rng.choice(["212", "415", "312", "617", "206", "503"])
    return rng.choice([
        lambda: f"({area}) {rng.randint(200, 989)}-{d(4)}",
        lambda: f"+1 {area} {rng.randint(200, 989)} {d(4)}",
        lambda: f"+44 20 7{d(3)} {d(4)}",
        lambda: f"+44 79{d(2)} {d(6)}",
        lambda: f"+49 30 {d(8)}",
        lambda: f"+49 151 {d(8)}",
        lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
        lambda: f"+91 98{d(3)} {d(5)}",
        lambda: f"+61 4{rng.choice('0123')}{d(1)} {d(3)} {d(3)}",
        lambda: f"+34 6{d(2)} {d(3)} {d(3)}",
    ])()


def value(kind: str, rng: random.Random) -> str:
    """One realistic value of ``kind``."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if kind == "email":
        return f"{first.lower()}{rng.choice(['.', '_', ''])}{last.lower()}@{rng.choice(DOMAINS)}"
    if kind == "phone":
        return phone(rng)
    if kind == "credit_card":
        return card_number(rng, valid=True)
    if kind == "iban":
        return iban(rng)
    if kind == "ip":
        if rng.random() < 0.75:
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        return "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(3)) + "::" + f"{rng.randint(1, 999):x}"
    if kind == "url":
        return f"https://www.{rng.choice(DOMAINS)}/{rng.choice(['forms', 'help', 'terms'])}/{rng.randint(1, 99)}"
    return f"{first} {last}"


def pii_corpus(seed: int = 0, per_type: int = 36, invalid_cards: int = 24, clean: int = 24) -> list[dict]:
    """Sentences ``{"text", "spans": [{"type", "start", "end"}], "invalid_cards": [{"start", "end"}]}``.

    ``per_type`` sentences hold one item of each type (a quarter of them a second item of another type),
    ``invalid_cards`` hold a card-like number with a failing checksum, ``clean`` hold harmless numbers.
    """
    rng = random.Random(seed)
    kinds = list(TEMPLATES)
    sentences = []
    for kind in kinds:
        for _ in range(per_type):
            parts = [(kind, rng.choice(TEMPLATES[kind]))]
            if rng.random() < 0.25:
                other = rng.choice([k for k in kinds if k != kind])
                parts.append((other, rng.choice(TEMPLATES[other])))
            text, spans = "", []
            for part_kind, template in parts:
                item = value(part_kind, rng)
                prefix, suffix = template.split("{v}")
                if text:
                    text += " "
                start = len(text) + len(prefix)
                text += prefix + item + suffix
                spans.append({"type": part_kind, "start": start, "end": start + len(item)})
            sentences.append({"text": text, "spans": spans, "invalid_cards": []})
    for _ in range(invalid_cards):
        number = card_number(rng, valid=False)
        prefix, suffix = rng.choice(TEMPLATES["credit_card"]).split("{v}")
        sentences.append({"text": prefix + number + suffix, "spans": [],
                          "invalid_cards": [{"start": len(prefix), "end": len(prefix) + len(number)}]})
    sentences += [{"text": rng.choice(NOT_PII), "spans": [], "invalid_cards": []} for _ in range(clean)]
    rng.shuffle(sentences)
    return sentences


def score_masker(find, sentences: list[dict]) -> dict:
    """Per-type precision and recall of ``find(text) -> [(type, start, end)]`` on the corpus, plus how
    many invalid card numbers were masked (as anything).

    A gold item counts as found when an item of its type overlaps it; a found item is right when it
    overlaps a gold item of its type.
    """
    counts: dict[str, dict[str, int]] = {}
    invalid_masked = 0
    misses, spurious = [], []
    for sentence in sentences:
        found = find(sentence["text"])
        for gold in sentence["spans"]:
            c = counts.setdefault(gold["type"], {"gold": 0, "found": 0, "hit": 0, "right": 0})
            c["gold"] += 1
            if any(t == gold["type"] and s < gold["end"] and e > gold["start"] for t, s, e in found):
                c["hit"] += 1
            else:
                misses.append((gold["type"], sentence["text"][gold["start"]:gold["end"]], sentence["text"]))
        for t, s, e in found:
            c = counts.setdefault(t, {"gold": 0, "found": 0, "hit": 0, "right": 0})
            c["found"] += 1
            if any(g["type"] == t and s < g["end"] and e > g["start"] for g in sentence["spans"]):
                c["right"] += 1
            else:
                spurious.append((t, sentence["text"][s:e], sentence["text"]))
        invalid_masked += sum(any(s < bad["end"] and e > bad["start"] for _, s, e in found)
                              for bad in sentence["invalid_cards"])
    per_type = {t: {"items": c["gold"], "found": c["found"],
                    "recall": c["hit"] / c["gold"] if c["gold"] else None,
                    "precision": c["right"] / c["found"] if c["found"] else None} for t, c in sorted(counts.items())}
    return {"per_type": per_type, "invalid_cards": sum(len(s["invalid_cards"]) for s in sentences),
            "invalid_cards_masked": invalid_masked, "misses": misses, "spurious": spurious}
