"""Read the escalation ladder from its YAML file (package data); the checks live in journal_api.domain.escalation."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from journal_api.domain.escalation import Ladder, LadderError, parse_ladder

DEFAULT_FILE = "escalation.yaml"


@lru_cache(maxsize=1)
def default_ladder() -> Ladder:
    """The federal default ladder, read and validated on first use."""
    text = (resources.files("journal_api") / "rules" / DEFAULT_FILE).read_text(encoding="utf-8")
    return ladder_from_yaml(text, f"rules/{DEFAULT_FILE}")


def ladder_from_yaml(text: str, source: str, *, partial: bool = False) -> Ladder:
    """Parse and validate a ladder; ``partial`` for an organisation's override that gives only some tracks."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LadderError(f"{source}: not valid YAML: {exc}", details={"file": source, "entry": ""}) from None
    return parse_ladder(data, source, partial=partial)
