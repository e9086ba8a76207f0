"""Layered configuration: embedded defaults < config file (TOML) < HOTLINE_* environment variables."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    database_url: str = ""  # empty: SQLite in data_dir
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: str = "./var"
    blob_dir: str = ""  # empty: data_dir/blobs
    queue_name: str = "hotline"
    secret_key: str = "dev-only-change-me"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    sip_port: int = 5060
    max_upload_bytes: int = 25 * 1024 * 1024
    default_timezone: str = "Europe/Moscow"
    page_size_max: int = 200
    # Seconds a process trusts an API token it has checked. A staff member disabled in another process keeps his
    # token working there at most this long (the process that disables him forgets at once). 0: check every call.
    token_cache_seconds: int = 10
    env: str = "production"  # production | development | test

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'hotline.db'}"

    @property
    def effective_blob_dir(self) -> Path:
        return Path(self.blob_dir) if self.blob_dir else Path(self.data_dir) / "blobs"


def _coerce(kind, value):
    if kind is int or kind == "int":
        return int(value)
    return str(value)


def load_settings(environ: dict | None = None, config_file: str | None = None, **overrides) -> Settings:
    """Build settings. The config file is HOTLINE_CONFIG (or ``config_file``); its keys are the field names."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    path = config_file or environ.get("HOTLINE_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        values.update(data.get("hotline", data))
    known = {f.name: f.type for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"Unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name in known:
        key = "HOTLINE_" + name.upper()
        if key in environ:
            values[name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(Settings(), **{k: _coerce(known[k], v) for k, v in values.items()})
