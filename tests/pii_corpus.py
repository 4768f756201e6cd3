"""A seeded corpus of texts with planted structured personal data, in several formats per type
(synthetic on purpose: real data with known personal values cannot be shipped)."""

from __future__ import annotations

import random
import string


def _iban(rng: random.Random, country: str, length: int) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(length - 4))
    if country == "GB":  # a 4-letter bank code, then digits
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + bban[4:]
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return "".join(map(str, digits + [(10 - total % 10) % 10]))


def planted_value(rng: random.Random, kind: str) -> str:
    name = rng.choice(["anna", "li.wei", "j_smith", "omar99", "kofi.mensah", "marie-claire"])
    if kind == "email":
        return rng.choice(
            [f"{name}@example.com", f"{name}+news@mail.example.co.uk", f"{name}@uni-{rng.randint(1, 99)}.edu"]
        )
    if kind == "phone":
        return rng.choice(
            [
                f"+44 20 7946 {rng.randint(1000, 9999)}",
                f"(212) 555-{rng.randint(1000, 9999)}",
                f"+1 415 555 {rng.randint(1000, 9999)}",
                f"212-555-{rng.randint(1000, 9999)}",
            ]
        )
    if kind == "iban":
        iban = _iban(rng, *rng.choice([("GB", 22), ("DE", 22), ("FR", 27)]))
        return rng.choice([iban, " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))])
    if kind == "card":
        card = _card(rng)
        return rng.choice(
            [
                card,
                " ".join(card[i : i + 4] for i in range(0, 16, 4)),
                "-".join(card[i : i + 4] for i in range(0, 16, 4)),
            ]
        )
    if kind == "ip":
        return rng.choice(
            [
                ".".join(str(rng.randint(1, 254)) for _ in range(4)),
                ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8)),
            ]
        )
    return rng.choice(
        [
            f"https://www.shop-{rng.randint(1, 999)}.com/orders?id={rng.randint(1, 9999)}",
            f"http://blog{rng.randint(1, 99)}.example.org/post/{rng.randint(1, 999)}",
        ]
    )


KINDS = ("email", "phone", "iban", "card", "ip", "url")
SENTENCES = [
    "Please contact me at {} about the refund.",
    "My details: {} (do not share).",
    "Sent from {} yesterday evening.",
    "The customer wrote {} in the complaint form.",
    "Is {} still valid for the transfer?",
]


def pii_corpus(rows: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts with one planted value each (types in turn), and the planted values."""
    rng = random.Random(seed)
    texts, values = [], []
    for index in range(rows):
        value = planted_value(rng, KINDS[index % len(KINDS)])
        texts.append(rng.choice(SENTENCES).format(value))
        values.append(value)
    return texts, values
