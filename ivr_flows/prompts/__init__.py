"""The prompt catalogue: every prompt id the IVR plays, its Russian text, and where its WAV is found."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

CATALOGUE_FILE = Path(__file__).parent / "catalogue.yaml"
ASTERISK_DIR = Path("/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU")


@dataclass(frozen=True)
class PromptInfo:
    id: str
    text: str
    source: str  # asterisk | synth
    speak: str  # what a synthesiser reads


def load_catalogue_file(path: Path = CATALOGUE_FILE) -> dict[str, PromptInfo]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for pid, entry in (data.get("prompts") or {}).items():
        if not isinstance(entry, dict) or not entry.get("text") or entry.get("source") not in ("asterisk", "synth"):
            raise ValueError(f"{path}: prompt '{pid}' needs a text and a source (asterisk or synth)")
        out[pid] = PromptInfo(pid, entry["text"], entry["source"], entry.get("speak") or entry["text"])
    return out


def journal_text(key: str, path: Path = CATALOGUE_FILE) -> str:
    """A Russian text the journal writes on the IVR's behalf (``texts:`` in catalogue.yaml)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return (data.get("texts") or {})[key]


def catalogue_for(settings=None, org_code: str | None = None) -> "Catalogue":
    """The catalogue a worker uses: the organisation's recordings, the synthesised prompts, the Asterisk RU set
    (``settings``: the core Settings, for its data_dir; the [ivr] section decides the rest)."""
    from ..settings import load_ivr_settings

    ivr = load_ivr_settings()
    data_dir = getattr(settings, "data_dir", "./var")
    return Catalogue(ivr.prompt_dirs(data_dir, org_code), org_root=ivr.org_prompt_root_for(data_dir))


default_catalogue = catalogue_for


class Catalogue:
    """``Catalogue(prompt_dirs).path(id)`` -> the 8 kHz mono 16-bit WAV of a prompt: the first of the directories
    (in order, the Asterisk RU set last) that has ``<id>.wav``. ``path(id, org=...)`` looks first in
    ``<org_root>/<org>/`` (an organisation's own recordings, by its code or id). ``text(id)`` -> its Russian text."""

    def __init__(self, prompt_dirs: Iterable[str | Path] = (), catalogue_file: Path = CATALOGUE_FILE,
                 org_root: str | Path | None = None):
        dirs = [Path(d) for d in prompt_dirs]
        if ASTERISK_DIR not in dirs:
            dirs.append(ASTERISK_DIR)
        self.dirs = dirs
        self.org_root = Path(org_root) if org_root else None
        self.prompts = load_catalogue_file(catalogue_file)

    def ids(self) -> set[str]:
        return set(self.prompts)

    def text(self, prompt_id: str) -> str:
        return self.prompts[prompt_id].text

    def texts(self, prompt_ids: Iterable[str]) -> str:
        """The Russian text of a Play, e.g. for Twilio <Say>: the prompts' texts joined by spaces."""
        return " ".join(self.prompts[p].text for p in prompt_ids if p in self.prompts)

    def path(self, prompt_id: str, org: str | int | None = None) -> Path:
        """Raises KeyError for an id the catalogue lacks and FileNotFoundError when no directory has its WAV (the
        prompts were not built: run deploy/assets.d/10-prompts.sh)."""
        if prompt_id not in self.prompts or ".." in prompt_id or prompt_id.startswith("/"):
            raise KeyError(prompt_id)
        own = [self.org_root / str(org)] if self.org_root and org is not None and "/" not in str(org) \
            and str(org) not in ("", ".", "..") else []
        for root in own + self.dirs:
            candidate = root / f"{prompt_id}.wav"
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no WAV for prompt '{prompt_id}' in {', '.join(map(str, self.dirs))}; "
                                "build the prompts with `python -m ivr_flows.build_prompts`")

    def missing(self) -> list[str]:
        """Prompt ids with no WAV in any directory."""
        out = []
        for pid in sorted(self.prompts):
            try:
                self.path(pid)
            except FileNotFoundError:
                out.append(pid)
        return out
