"""Work type and emergency from the lemmas."""
from __future__ import annotations

from .lexicon import (EMERGENCY_PAIRS, EMERGENCY_PHRASES, EMERGENCY_WORDS, GAS_PREFIXES, NOT_GAS, NOT_URGENT,
                      PHRASES, SMELL_PREFIXES, STRONG, WORK_TYPES)
from .text import Tok

GAP = 2  # words allowed between the parts of a phrase ("нет горячей воды", "газом сильно пахнет")


def find(alts: list, phrase: tuple, gap: int = GAP) -> list[tuple[int, int]]:
    """(start, end) spans where the phrase's words appear in order with at most ``gap`` words between them.
    ``alts[i]`` is the set of lemmas of word i."""
    spans = []
    for i, lem in enumerate(alts):
        if phrase[0] not in lem:
            continue
        pos, ok = i, True
        for part in phrase[1:]:
            for k in range(pos + 1, min(len(alts), pos + 2 + gap)):
                if part in alts[k]:
                    pos = k
                    break
            else:
                ok = False
                break
        if ok:
            spans.append((i, pos + 1))
    return spans


def negated(lemmas: list[str], start: int, end: int, phrase: tuple) -> bool:
    """"не пахнет газом", "газом не пахнет", "никто не застрял", "пожара нет"; but "чуть не упал" is not a
    negation, and a cue that itself says something is missing ("нет воды") is never negated."""
    if phrase[0] in ("нет", "не"):
        return False
    inside = lemmas[start + 1:end]
    if "не" in inside and "не" not in phrase:
        return True
    before = lemmas[max(0, start - 2):start]
    if before and before[-1] == "не" and not (len(before) == 2 and before[0] in ("чуть", "едва")):
        return True
    if before and before[-1] in ("никто", "ничто", "без", "ни"):
        return True
    if len(before) == 2 and before[0] in ("никто", "ничто") and before[1] == "не":
        return True
    if len(phrase) == 1 and end < len(lemmas) and lemmas[end] == "нет":
        return True
    return False


def _gas_smell(toks: list[Tok]) -> bool:
    words = [t.text for t in toks]
    lemmas = [t.lemma for t in toks]
    for i, w in enumerate(words):
        if not w.startswith(SMELL_PREFIXES):
            continue
        for k in range(max(0, i - 3), min(len(words), i + 4)):
            g = words[k]
            if k != i and g.startswith(GAS_PREFIXES) and not g.startswith(NOT_GAS):
                lo, hi = min(i, k), max(i, k) + 1
                if not negated(lemmas, lo, hi, ("пахнуть", "газ")):
                    return True
    return False


def _pairs(lemmas: list[str], alts: list) -> list[str]:
    found = []
    for first, second, window in EMERGENCY_PAIRS:
        says_missing = "нет" in second  # "электричества нет": the pair itself is the absence
        for i, forms in enumerate(alts):
            if not (forms & first) or (not says_missing and negated(lemmas, i, i + 1, ("x",))):
                continue
            lo = max(0, i - window)
            near = [k for k in range(lo, min(len(alts), i + 1 + window)) if k != i and alts[k] & second]
            if says_missing:
                near = [k for k in near if not (k > 0 and lemmas[k - 1] == "не")]
            else:
                near = [k for k in near if not negated(lemmas, k, k + 1, ("x",))]
            if near:
                found.append(f"{sorted(forms & first)[0]}+")
                break
    return found


def emergency(toks: list[Tok]) -> tuple[bool, float, list[str]]:
    lemmas = [t.lemma for t in toks]
    alts = [t.alts for t in toks]
    hits, strong = [], False
    for phrase in [(w,) for w in EMERGENCY_WORDS] + EMERGENCY_PHRASES:
        for start, end in find(alts, phrase):
            if negated(lemmas, start, end, phrase):
                continue
            hits.append(" ".join(phrase))
            strong = strong or phrase in STRONG
    if _gas_smell(toks):
        hits.append("запах газа")
        strong = True
    hits.extend(_pairs(lemmas, alts))
    calm = any(find(alts, p, gap=0) for p in NOT_URGENT)
    if not hits:
        return False, 0.85 if calm else 0.7, []
    if calm and not strong:
        return False, 0.6, hits
    return True, 0.9 if strong or len(hits) > 1 else 0.75, sorted(set(hits))


def work_type(toks: list[Tok]) -> tuple[str, float]:
    alts = [t.alts for t in toks]
    scores = {k: 0.0 for k in WORK_TYPES}
    for phrase, kind in PHRASES.items():
        if find(alts, phrase):
            scores[kind] += 5.0
    for forms in alts:
        for kind, words in WORK_TYPES.items():
            w = max((words.get(f, 0) for f in forms), default=0)
            if w:
                scores[kind] += w
    if _gas_smell(toks):
        scores["gas"] += 5.0
    best = max(scores, key=scores.get)
    top = scores[best]
    if top < 1.0:
        return "other", 0.4
    second = max(v for k, v in scores.items() if k != best)
    margin = (top - second) / top
    return best, round(min(0.97, 0.5 + 0.5 * margin + min(top, 10) / 40), 2)
