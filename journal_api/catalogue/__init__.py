"""Russian texts that people see, kept out of the code."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def catalogue(lang: str = "ru") -> dict:
    return json.loads(resources.files(__package__).joinpath(f"{lang}.json").read_text(encoding="utf-8"))


def label(section: str, code: str, lang: str = "ru") -> str:
    return catalogue(lang).get(section, {}).get(code, code)
