"""Settings are layered: defaults < TOML file < HOTLINE_* environment variables < explicit overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

from journal_api.config import Settings, load_settings


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_without_file_or_environment_the_defaults_apply():
    assert load_settings(environ={}) == Settings()


def test_the_default_database_is_sqlite_in_the_data_directory(tmp_path):
    settings = load_settings(environ={"HOTLINE_DATA_DIR": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'hotline.db'}"
    assert settings.effective_blob_dir == tmp_path / "blobs"


def test_the_config_file_overrides_the_defaults(tmp_path):
    path = _toml(tmp_path, 'redis_url = "redis://cache:6379/3"\nweb_port = 9000\n')
    settings = load_settings(environ={}, config_file=path)
    assert (settings.redis_url, settings.web_port) == ("redis://cache:6379/3", 9000)
    assert settings.queue_name == Settings().queue_name


def test_the_config_file_may_keep_its_settings_under_a_hotline_table(tmp_path):
    path = _toml(tmp_path, '[hotline]\nqueue_name = "ads"\n')
    assert load_settings(environ={}, config_file=path).queue_name == "ads"


def test_the_environment_overrides_the_config_file(tmp_path):
    path = _toml(tmp_path, 'web_port = 9000\nqueue_name = "from-file"\n')
    settings = load_settings(environ={"HOTLINE_WEB_PORT": "9100"}, config_file=path)
    assert settings.web_port == 9100  # a whole number, not the text of the variable
    assert settings.queue_name == "from-file"


def test_hotline_config_names_the_file(tmp_path):
    path = _toml(tmp_path, 'database_url = "postgresql://db/hotline"\n')
    environ = {"HOTLINE_CONFIG": path, "HOTLINE_REDIS_URL": "redis://env:6379/1"}
    settings = load_settings(environ=environ)
    assert (settings.database_url, settings.redis_url) == ("postgresql://db/hotline", "redis://env:6379/1")
    assert settings.effective_database_url == "postgresql://db/hotline"


def test_explicit_overrides_beat_the_environment_and_none_leaves_it_alone():
    environ = {"HOTLINE_QUEUE_NAME": "env", "HOTLINE_ENV": "development"}
    settings = load_settings(environ=environ, queue_name="explicit", env=None)
    assert (settings.queue_name, settings.env) == ("explicit", "development")


def test_variables_without_the_prefix_are_ignored():
    assert load_settings(environ={"WEB_PORT": "1", "REDIS_URL": "redis://x"}) == Settings()


def test_an_unknown_key_in_the_config_file_is_refused_by_name(tmp_path):
    path = _toml(tmp_path, 'web_port = 9000\ndatabse_url = "typo"\n')
    with pytest.raises(ValueError, match="databse_url"):
        load_settings(environ={}, config_file=path)


def test_a_port_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError):
        load_settings(environ={"HOTLINE_WEB_PORT": "eighty"})


def test_a_package_section_is_read_from_its_table_and_its_prefixed_variables(tmp_path):
    from dataclasses import dataclass

    from journal_api.config import load_section

    @dataclass(frozen=True)
    class Section:
        workers: int = 1
        trunk: str = ""
        record: bool = True

    path = _toml(tmp_path, 'web_port = 9000\n[sip]\nworkers = 3\ntrunk = "sip:t@x"\n')
    section = load_section(Section, "sip", environ={"HOTLINE_SIP_RECORD": "no"}, config_file=path)
    assert section == Section(workers=3, trunk="sip:t@x", record=False)
    assert load_settings(environ={}, config_file=path).web_port == 9000  # the core ignores the [sip] table


def test_an_unknown_key_in_a_package_section_is_an_error(tmp_path):
    from dataclasses import dataclass

    from journal_api.config import load_section

    @dataclass(frozen=True)
    class Section:
        workers: int = 1

    path = _toml(tmp_path, '[sip]\nworkerz = 3\n')
    with pytest.raises(ValueError, match="workerz"):
        load_section(Section, "sip", environ={}, config_file=path)
