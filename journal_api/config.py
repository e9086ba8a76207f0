"""Layered configuration: embedded defaults < config file (TOML) < HOTLINE_* environment variables."""
from __future__ import annotations

import os
import secrets
import time
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
    # Signs the console's session cookies (and derives the staff's SIP passwords). Empty: a random key generated on
    # first use and kept in data_dir/secret_key, shared by the processes of one data dir (`hotline up`, `make run`).
    # Set it explicitly when several machines serve the app. In production a known or short key refuses to start.
    secret_key: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    sip_port: int = 5060
    # The address residents and technicians reach the web app at (links in SMS). Empty: http://web_host:web_port.
    public_url: str = ""
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
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def effective_blob_dir(self) -> Path:
        return Path(self.blob_dir) if self.blob_dir else Path(self.data_dir) / "blobs"

    @property
    def effective_secret_key(self) -> str:
        """``secret_key``, else the key kept in the data dir (created once, readable by its owner only)."""
        if self.secret_key:
            return self.secret_key
        return kept_secret(Path(self.data_dir))


WEAK_SECRETS = frozenset({"dev-only-change-me", "change-me", "changeme", "secret", "dev", "test"})
MIN_SECRET_LEN = 16
SECRET_FILE = "secret_key"


def kept_secret(data_dir: Path) -> str:
    """The data dir's random key: read it, or create it exclusively (two processes starting at once agree)."""
    path = data_dir / SECRET_FILE
    try:
        text = path.read_text("ascii").strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first: use its key
        for _ in range(50):
            text = path.read_text("ascii").strip()
            if text:
                return text
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it or set secret_key") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def check_secret(settings: Settings) -> None:
    """Refuse a production start whose sessions could be forged: a known or short explicit ``secret_key``."""
    key = settings.secret_key
    if settings.env == "production" and key and (key.strip().lower() in WEAK_SECRETS or len(key) < MIN_SECRET_LEN):
        raise RuntimeError(
            f"secret_key is a known or short value (fewer than {MIN_SECRET_LEN} characters): anyone could forge a "
            "console session. Set HOTLINE_SECRET_KEY (e.g. `python -c 'import secrets; print(secrets.token_urlsafe"
            "(48))'`), or leave it empty to use a random key kept in the data dir.")


def _coerce(kind, value):
    if kind is int or kind == "int":
        return int(value)
    if kind is float or kind == "float":
        return float(value)
    if kind is bool or kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"not a yes/no value: {value!r}")
        return text in ("1", "true", "yes", "on")
    return str(value)


def _read_file(environ, config_file: str | None) -> tuple[str | None, dict]:
    path = config_file or environ.get("HOTLINE_CONFIG")
    if not path:
        return None, {}
    with open(path, "rb") as fh:
        return path, tomllib.load(fh)


def _layer(cls, file_values: dict, path, environ, env_prefix: str, overrides: dict):
    known = {f.name: f.type for f in fields(cls)}
    values = dict(file_values)
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"Unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name in known:
        key = env_prefix + name.upper()
        if key in environ:
            values[name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(cls(), **{k: _coerce(known[k], v) for k, v in values.items()})


def load_settings(environ: dict | None = None, config_file: str | None = None, **overrides) -> Settings:
    """Build settings. The config file is HOTLINE_CONFIG (or ``config_file``); its keys are the field names, at the
    top level or under a ``[hotline]`` table. Other tables (``[sip]``, ``[sms]``, ...) belong to the packages that
    read them with :func:`load_section`."""
    environ = os.environ if environ is None else environ
    path, data = _read_file(environ, config_file)
    core = data.get("hotline", {k: v for k, v in data.items() if not isinstance(v, dict)})
    return _layer(Settings, core, path, environ, "HOTLINE_", overrides)


def load_section(cls, section: str, environ: dict | None = None, config_file: str | None = None, **overrides):
    """A package's own settings: the dataclass ``cls`` (every field with a default), layered like the core settings
    from the ``[section]`` table of the config file and the ``HOTLINE_<SECTION>_<FIELD>`` environment variables.
    Example: ``load_section(SipSettings, "sip")`` reads ``[sip] workers = 2`` or ``HOTLINE_SIP_WORKERS=2``."""
    environ = os.environ if environ is None else environ
    path, data = _read_file(environ, config_file)
    return _layer(cls, data.get(section, {}), path, environ, f"HOTLINE_{section.upper()}_", overrides)
