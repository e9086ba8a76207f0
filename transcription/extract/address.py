"""The place in the text: street, house, korpus, apartment, entrance, floor, and the building in the registry.

Numbers bind to their keywords the way Russian puts them: a cardinal follows its noun ("квартира 45", "дом 12"), an
ordinal precedes it ("пятый этаж", "в сто двадцать третьей квартире"); a cardinal before a noun that has no number
after it binds too ("45 квартира"). Phone numbers and times were masked by :mod:`.text`. The street is found by
fuzzy matching (rapidfuzz) of 1-3 word spans against the registry's streets, lemma to lemma, so "на ленена пять"
still finds "ул. Ленина"; without a registry, by a street type word ("улица", "пр-т", ...) and the words next to it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rapidfuzz import fuzz

from .registry import STREET_TYPES, Building, Registry, house_key
from .text import Tok

ANCHORS = {
    "apartment": ({"квартира", "кв"}, {"кв", "квартира", "квартиры", "квартире", "квартиру", "квартирой"}),
    "entrance": ({"подъезд", "парадная", "парадный"}, {"подъезд", "под-д"}),
    "floor": ({"этаж"}, {"этаж", "эт"}),
    "house": ({"дом"}, {"д", "дом"}),
    "korpus": ({"корпус", "строение"}, {"корп", "к", "стр", "кор"}),
}
LETTERS = {"а", "б", "в", "г", "д", "е", "ж"}
SKIP_AFTER_ANCHOR = {"номер", "н", "под", "но"}
NOT_NAMES = {"в", "на", "по", "у", "с", "к", "от", "до", "из", "за", "и", "а", "мы", "я", "у", "нас", "меня", "наш",
             "мой", "это", "дом", "город", "здесь", "там", "тут", "живу", "жить", "адрес", "что", "не", "нет"}


@dataclass
class Found:
    value: object = None
    confidence: float = 0.0


@dataclass
class Place:
    fields: dict = field(default_factory=dict)  # name -> Found
    street_key: str | None = None
    building: Building | None = None

    def get(self, name):
        return self.fields.get(name, Found()).value


def _anchor_of(t: Tok) -> str | None:
    if t.is_num or t.masked:
        return None
    for name, (lemmas, texts) in ANCHORS.items():
        if t.lemma in lemmas or t.text in texts:
            return name
    return None


PLAUSIBLE = {"entrance": 20, "floor": 30}


def _split_compounds(toks: list[Tok]) -> list[Tok]:
    """"энтузиастов тридцать второй подъезд" is house 30 and entrance 2, not entrance 32: a spoken compound that
    ends in an ordinal, before "подъезд"/"этаж", and too big for one, is split into the cardinal and the ordinal."""
    out = []
    for i, t in enumerate(toks):
        nxt = _anchor_of(toks[i + 1]) if i + 1 < len(toks) else None
        if (t.is_num and t.ordinal and len(t.parts) >= 2 and nxt in PLAUSIBLE and t.num > PLAUSIBLE[nxt]):
            head = sum(v for v, _ in t.parts[:-1])
            last = t.parts[-1][0]
            out.append(Tok(str(head), str(head), "NUMB", num=head, spoken=True, parts=t.parts[:-1]))
            out.append(Tok(str(last), str(last), "NUMB", num=last, ordinal=True, spoken=True, parts=t.parts[-1:]))
        else:
            out.append(t)
    return out


def _bind_numbers(toks: list[Tok], place: Place) -> set[int]:
    """Keyword-number pairs; returns the indexes of the number tokens used."""
    used: set[int] = set()
    anchors = [(_anchor_of(t), i) for i, t in enumerate(toks)]
    for name, i in anchors:
        if name is None or name in place.fields:
            continue
        if name == "korpus" and toks[i].text == "к" and "house" not in place.fields and not (
                i > 0 and toks[i - 1].is_num):
            continue  # "к" is also a preposition: only after a house number
        j = i + 1
        while j < len(toks) and toks[j].text in SKIP_AFTER_ANCHOR:
            j += 1
        after = toks[j] if j < len(toks) else None
        before = toks[i - 1] if i > 0 else None
        if after is not None and after.is_num and not after.ordinal and j not in used and not (
                j + 1 < len(toks) and _anchor_of(toks[j + 1]) and toks[j].ordinal):
            place.fields[name] = Found(after.num, 0.9)
            used.add(j)
            if name == "house":
                _house_suffix(toks, j, place, used)
        elif before is not None and before.is_num and (i - 1) not in used and (
                before.ordinal or not (after is not None and after.is_num)):
            place.fields[name] = Found(before.num, 0.85 if before.ordinal else 0.75)
            used.add(i - 1)
            if name == "house" and before.ordinal:
                pass
        elif after is not None and after.is_num and after.ordinal and j not in used and not (
                j + 1 < len(toks) and _anchor_of(toks[j + 1])):
            place.fields[name] = Found(after.num, 0.8)  # "квартира двадцать третья"
            used.add(j)
    return used


def _house_suffix(toks: list[Tok], j: int, place: Place, used: set[int]) -> None:
    """"дом 12 а", "12/2", "12 литера б" -> the house's text."""
    house = str(place.fields["house"].value)
    k = j + 1
    if k < len(toks) and toks[k].text in ("литера", "литер", "буква") and k + 1 < len(toks):
        k += 1
    if k < len(toks) and toks[k].text == "/" and k + 1 < len(toks) and toks[k + 1].is_num:
        place.fields["house"].value = f"{house}/{toks[k + 1].num}"
        used.add(k + 1)
        return
    if k < len(toks) and toks[k].text in LETTERS:
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        ok_next = nxt is None or nxt.is_num or _anchor_of(nxt) in ("korpus", "apartment", "entrance", "floor")
        if toks[k].text in ("в", "а", "д"):  # also a preposition, a conjunction, or "д." for дом
            ok_next = nxt is None or nxt.is_num or _anchor_of(nxt) == "korpus" or (
                toks[k].text == "а" and _anchor_of(nxt) in ("apartment", "entrance", "floor"))
        if ok_next:
            place.fields["house"].value = f"{house}{toks[k].text}"


def _spans(toks: list[Tok], used: set[int]):
    for i in range(len(toks)):
        for n in (1, 2, 3):
            part = toks[i:i + n]
            if len(part) < n or any(t.is_num or t.masked or _anchor_of(t) or t.text in STREET_TYPES for t in part):
                break
            if part[0].lemma in NOT_NAMES or part[-1].lemma in NOT_NAMES:
                continue
            yield i, i + n, " ".join(t.lemma for t in part), " ".join(t.text for t in part)


def _street_from_registry(toks: list[Tok], registry: Registry, used: set[int]):
    best = None
    for i, j, key, text in _spans(toks, used):
        for skey, spelling in registry.streets.items():
            if not skey or abs(len(key) - len(skey)) > max(3, len(skey) // 3):
                continue
            score = max(fuzz.ratio(key, skey), fuzz.ratio(text, registry.written[skey]))
            if len(skey) <= 4 and key != skey and text != registry.written[skey]:
                continue  # short names ("мир") must match exactly
            typed = (i > 0 and toks[i - 1].text in STREET_TYPES) or (j < len(toks) and toks[j].text in STREET_TYPES)
            score += 5 if typed else 0
            if score >= 82 and (best is None or score > best[0]):
                best = (score, i, j, skey, spelling)
    return best


def _street_by_type(toks: list[Tok]):
    for i, t in enumerate(toks):
        if t.text not in STREET_TYPES or t.is_num:
            continue
        if t.text in ("пр", "ш", "пл", "пер") and i + 1 < len(toks) and toks[i + 1].is_num:
            continue
        for lo, hi in ((i + 1, i + 3), (i - 2, i)):
            words = [w for w in toks[max(lo, 0):hi] if not w.is_num and not w.masked and not _anchor_of(w)
                     and w.lemma not in NOT_NAMES and w.text not in STREET_TYPES]
            if words:
                span = toks[max(lo, 0):hi]
                start = max(lo, 0)
                end = start + len(span)
                return start, end, " ".join(w.text for w in words)
    return None


def parse(toks: list[Tok], registry: Registry | None = None) -> Place:
    place = Place()
    toks = _split_compounds(toks)
    used = _bind_numbers(toks, place)
    street_end = None
    if registry is not None and registry.buildings:
        hit = _street_from_registry(toks, registry, used)
        if hit:
            score, i, j, skey, spelling = hit
            place.street_key = skey
            place.fields["street"] = Found(spelling, min(0.95, score / 100.0))
            street_end = j
    if "street" not in place.fields:
        hit = _street_by_type(toks)
        if hit:
            i, j, text = hit
            place.fields["street"] = Found(text, 0.6)
            street_end = j
    if "house" not in place.fields and street_end is not None:
        k = street_end
        while k < len(toks) and (toks[k].text in STREET_TYPES or toks[k].text in ("д", "дом", "номер")):
            k += 1
        if k < len(toks) and toks[k].is_num and k not in used and not toks[k].ordinal:
            place.fields["house"] = Found(toks[k].num, 0.8)
            used.add(k)
            _house_suffix(toks, k, place, used)
    for name in ("house", "korpus"):
        if name in place.fields:
            place.fields[name].value = str(place.fields[name].value)
    if registry is not None:
        _match_building(place, registry)
    return place


def _match_building(place: Place, registry: Registry) -> None:
    house = place.get("house")
    if house is None:
        return
    korpus = place.get("korpus")
    hk = house_key(house, korpus)

    def same(b: Building) -> bool:
        return house_key(b.house, b.korpus) == hk or (korpus is None and house_key(b.house) == hk)

    if place.street_key:
        found = [b for b in registry.on_street(place.street_key) if same(b)]
        conf = min(place.fields["street"].confidence, place.fields["house"].confidence)
    else:
        found = [b for b in registry.buildings if same(b)]
        conf = 0.5  # the house number alone: a suggestion for the dispatcher
    if len(found) > 1 and korpus is None:
        plain = [b for b in found if not b.korpus]
        found = plain if len(plain) == 1 else found
    if len(found) == 1:
        b = found[0]
        place.building = b
        apt = place.get("apartment")
        if apt is not None and b.apartments and not (1 <= apt <= b.apartments):
            conf *= 0.6  # the apartment is outside this building: one of the two was misheard
            place.fields["apartment"].confidence = min(place.fields["apartment"].confidence, 0.4)
        place.fields["building_id"] = Found(b.id, round(conf, 2))
        if "street" not in place.fields or place.fields["street"].confidence < conf:
            place.fields["street"] = Found(b.street, conf)
