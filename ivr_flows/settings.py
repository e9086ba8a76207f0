"""The IVR's settings: ``[ivr]`` in the config file, ``HOTLINE_IVR_*`` in the environment.

Where prompts live (decided here, documented in docs/ivr.md):
- the project's synthesised prompts: ``prompt_dir``, by default ``<venv>/share/hotline/prompts`` (``sys.prefix``):
  built once per installation by ``deploy/assets.d/10-prompts.sh``, shared by every data dir and test run;
- an organisation's own recordings: ``<data_dir>/prompts/<org code>/<prompt id>.wav`` (override dir), searched first;
- the human-voiced Asterisk RU set: ``asterisk_dir``, searched last.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class IvrSettings:
    flow: str = "default"  # a name in ivr_flows/flows/ or a path to a YAML file
    prompt_dir: str = ""  # empty: <sys.prefix>/share/hotline/prompts
    org_prompt_root: str = ""  # empty: <data_dir>/prompts
    asterisk_dir: str = "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU"
    dispatcher_target: str = "dispatchers"
    transfer_timeout_s: float = 25.0
    menu_timeout_s: float = 6.0
    record_max_s: float = 120.0
    record_silence_s: float = 5.0
    synthesiser: str = "festival"  # festival | espeak

    @property
    def effective_prompt_dir(self) -> Path:
        return Path(self.prompt_dir) if self.prompt_dir else Path(sys.prefix) / "share" / "hotline" / "prompts"

    def org_prompt_root_for(self, data_dir: str) -> Path:
        return Path(self.org_prompt_root) if self.org_prompt_root else Path(data_dir) / "prompts"

    def org_prompt_dir(self, data_dir: str, org_code: str | None) -> Path | None:
        return self.org_prompt_root_for(data_dir) / org_code if org_code else None

    def prompt_dirs(self, data_dir: str = "./var", org_code: str | None = None) -> list[Path]:
        """Search order: the organisation's recordings, the synthesised prompts, the Asterisk RU set."""
        org = self.org_prompt_dir(data_dir, org_code)
        return ([org] if org else []) + [self.effective_prompt_dir, Path(self.asterisk_dir)]

    def flow_params(self) -> dict:
        """The flow parameters the settings override (load_flow(settings.flow, params=settings.flow_params()))."""
        return {"dispatcher_target": self.dispatcher_target, "transfer_timeout_s": self.transfer_timeout_s,
                "menu_timeout_s": self.menu_timeout_s, "record_max_s": self.record_max_s,
                "record_silence_s": self.record_silence_s}


def load_ivr_settings(**overrides) -> IvrSettings:
    from journal_api.config import load_section  # here, not at import: ivr_flows itself stays free of the journal

    return load_section(IvrSettings, "ivr", **overrides)
