"""SMS segment counting (3GPP TS 23.038). A text that fits the GSM 7-bit alphabet takes 160 septets in one part and
153 per part when concatenated (the extension characters take two); anything else (Cyrillic) is UCS-2: 70 characters
in one part, 67 per part. Characters outside the Basic Multilingual Plane take two UCS-2 units."""
from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Count:
    encoding: str  # gsm7 | ucs2
    units: int  # septets or UCS-2 code units
    segments: int


def count(text: str) -> Count:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return Count("gsm7", units, 1 if units <= 160 else math.ceil(units / 153))
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return Count("ucs2", units, 1 if units <= 70 else math.ceil(units / 67))


def capacity(encoding: str, segments: int) -> int:
    """How many units fit in so many segments."""
    single, part = (160, 153) if encoding == "gsm7" else (70, 67)
    return single if segments == 1 else part * segments
