"""The Russian SMS catalogue (templates/ru.yaml) and rendering that keeps a message within its segments.

A template may name fields to shrink and give shorter wordings (``compact``: one or a list, each shorter than the one
before). When the text is too long the renderer tries every wording with the fields cut (with "…", in the order
``shrink`` names them) to a readable minimum, then every wording cut harder, then to a stub. The request number,
the deadline, phone numbers and links are never cut: they are what the technician acts on. An address keeps its
house number (its last word) when its street is cut.
"""
from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import segments

CATALOGUE = Path(__file__).parent / "templates" / "ru.yaml"
ELLIPSIS = "…"
_MINIMUMS = (14, 4, 0)  # a field kept readable, then a stub, then only "…" (with an absurdly long link)


class TemplateError(KeyError):
    pass


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    max_segments: int
    shrink: tuple[str, ...]
    compact: tuple[str, ...] = ()  # shorter wordings, tried in order before fields are cut hard

    @property
    def fields(self) -> set[str]:
        return set().union(*(_fields(wording) for wording in (self.text, *self.compact)))


def _fields(wording: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(wording) if f}


@dataclass(frozen=True)
class Rendered:
    template: str
    text: str
    encoding: str
    segments: int
    shortened: tuple[str, ...]  # the fields that had to be cut


class Catalogue:
    def __init__(self, data: dict):
        self.values = data.get("values", {})
        self.templates = {}
        for name, body in data.items():
            if name == "values":
                continue
            compact = body.get("compact") or ()
            self.templates[name] = Template(name, body["text"], int(body.get("max_segments", 1)),
                                            tuple(body.get("shrink", ())),
                                            (compact,) if isinstance(compact, str) else tuple(compact))

    def __contains__(self, name: str) -> bool:
        return name in self.templates

    def get(self, name: str, fallback: str | None = None) -> Template:
        if name in self.templates:
            return self.templates[name]
        if fallback is not None and fallback in self.templates:
            return self.templates[fallback]
        raise TemplateError(f"no SMS template '{name}' in {CATALOGUE.name}")

    def value(self, key: str, **fields) -> str:
        return str(self.values[key]).format(**fields)

    def status_text(self, status: str) -> str:
        return self.values["statuses"].get(status, status)

    def render(self, name: str, fields: dict, *, fallback: str | None = None,
               max_segments: int | None = None) -> Rendered:
        template = self.get(name, fallback)
        limit = max_segments or template.max_segments
        values = {key: ("" if value is None else str(value)) for key, value in fields.items()}
        missing = template.fields - set(values)
        if missing:
            raise TemplateError(f"template '{template.name}' needs {', '.join(sorted(missing))}")
        attempts = [(wording, minimum) for minimum in _MINIMUMS for wording in (template.text, *template.compact)]
        for wording, minimum in attempts:
            text, shortened = _shrink(wording, values, template.shrink, limit, minimum)
            if _over(text, limit) <= 0:
                break
        text = text.strip()  # an empty last field ({link} without a link service) leaves no trailing space
        counted = segments.count(text)
        return Rendered(template.name, text, counted.encoding, counted.segments, tuple(shortened))


def _shrink(wording: str, values: dict, shrink: tuple[str, ...], limit: int,
            minimum: int) -> tuple[str, list[str]]:
    """The wording with the ``shrink`` fields it uses cut in order, none below ``minimum`` characters."""
    text, cut, shortened = wording.format(**values), dict(values), []
    used = _fields(wording)
    for field in (f for f in shrink if f in used):
        over = _over(text, limit)
        if over <= 0:
            break
        shorter = _cut(field, cut.get(field, ""), over, minimum)
        if shorter != cut.get(field, ""):
            cut[field] = shorter
            text = wording.format(**cut)
            shortened.append(field)
    return text, shortened


def _cut(field: str, value: str, over: int, minimum: int) -> str:
    """``value`` shorter by ``over`` characters (and one for "…"), not below ``minimum``. An address keeps its last
    word when it holds a digit (the house number: a technician finds "Королё… 10к2", not "ул. Королёва…")."""
    head, tail = value, ""
    if field.startswith("address"):
        parts = value.rsplit(" ", 1)
        if len(parts) == 2 and any(ch.isdigit() for ch in parts[1]):
            head, tail = parts[0], " " + parts[1]
    keep = max(minimum, len(head) - over - 1)
    if keep >= len(head):
        return value
    return head[:keep].rstrip(" ,.") + ELLIPSIS + tail


def _over(text: str, limit: int) -> int:
    counted = segments.count(text)
    return counted.units - segments.capacity(counted.encoding, limit)


@functools.lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> Catalogue:
    with open(path or CATALOGUE, encoding="utf-8") as fh:
        return Catalogue(yaml.safe_load(fh))
