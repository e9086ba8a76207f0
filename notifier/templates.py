"""The Russian SMS catalogue (templates/ru.yaml) and rendering that keeps a message within its segments.

A template may name fields to shrink; when the text is too long those are cut (with "…") in order, first to a
readable minimum, then harder. The request number, phone numbers and links are never cut: they are what the
technician acts on.
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
_MINIMUMS = (14, 4)  # first pass keeps a field readable, the second one only a stub


class TemplateError(KeyError):
    pass


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    max_segments: int
    shrink: tuple[str, ...]
    compact: str | None = None  # a shorter wording, tried before fields are cut hard

    @property
    def fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.text) if f}


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
            self.templates[name] = Template(name, body["text"], int(body.get("max_segments", 1)),
                                            tuple(body.get("shrink", ())), body.get("compact"))

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
        attempts = [(template.text, _MINIMUMS[0])]
        attempts += [(template.compact, m) for m in _MINIMUMS] if template.compact else [(template.text, _MINIMUMS[1])]
        for wording, minimum in attempts:
            text, cut, shortened = wording.format(**values), dict(values), []
            for field in template.shrink:
                over = _over(text, limit)
                if over <= 0:
                    break
                current = cut.get(field, "")
                keep = max(minimum, len(current) - over - 1)
                if keep < len(current):
                    cut[field] = current[:keep].rstrip(" ,.") + ELLIPSIS
                    text = wording.format(**cut)
                    shortened.append(field)
            if _over(text, limit) <= 0:
                break
        counted = segments.count(text)
        return Rendered(template.name, text, counted.encoding, counted.segments, tuple(shortened))


def _over(text: str, limit: int) -> int:
    counted = segments.count(text)
    return counted.units - segments.capacity(counted.encoding, limit)


@functools.lru_cache(maxsize=4)
def load_catalogue(path: str | None = None) -> Catalogue:
    with open(path or CATALOGUE, encoding="utf-8") as fh:
        return Catalogue(yaml.safe_load(fh))
