"""The `hotline` command, in-process through click's runner, on real PostgreSQL (and SQLite for migrations)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from journal_api.cli import cli


@pytest.fixture
def run(settings, container):
    """Invoke `hotline ARGS` with the test's database, Redis db and queue."""
    env = {"HOTLINE_DATABASE_URL": settings.database_url, "HOTLINE_REDIS_URL": settings.redis_url,
           "HOTLINE_QUEUE_NAME": settings.queue_name, "HOTLINE_DATA_DIR": settings.data_dir, "HOTLINE_CONFIG": None}

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_token_create_prints_only_a_token_that_authenticates(run, container, org):
    result = run("token", "create", "--org", "demo", "--role", "manager", "--label", "monitor screen")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"hl_[A-Za-z0-9_-]+\n", result.output)
    principal = container.tokens.authenticate(result.output.strip())
    assert (principal.org_code, principal.role) == ("demo", "manager")


def test_bad_input_exits_with_code_2_and_a_message_not_a_traceback(run, org):
    result = run("token", "create", "--org", "nowhere", "--role", "admin")
    assert result.exit_code == 2
    assert "Organisation 'nowhere' does not exist" in result.output
    assert "Traceback" not in result.output
    result = run("token", "create", "--org", "demo", "--role", "janitor")
    assert result.exit_code == 2
    assert "Unknown role 'janitor'" in result.output


def test_seed_demo_reports_what_it_created_then_that_nothing_changed(run, container):
    first = run("seed", "demo")
    assert first.exit_code == 0, first.output
    assert "buildings 6," in first.output
    second = run("seed", "demo")
    assert second.exit_code == 0
    assert "nothing changed" in second.output
    assert container.registry.organisation_by_code("demo").timezone == "Europe/Moscow"


def test_config_prints_the_settings_without_the_secret_or_passwords(tmp_path):
    result = CliRunner().invoke(cli, ["config"], env={
        "HOTLINE_SECRET_KEY": "s3cret-key", "HOTLINE_DATABASE_URL": "postgresql://app:pa55word@db.local/hotline",
        "HOTLINE_REDIS_URL": "redis://:redispass@127.0.0.1:6379/2", "HOTLINE_CONFIG": None})
    assert result.exit_code == 0, result.output
    assert "s3cret-key" not in result.output and "pa55word" not in result.output
    assert "redispass" not in result.output
    assert "database_url = 'postgresql://app:***@db.local/hotline'" in result.output
    assert "redis_url = 'redis://:***@127.0.0.1:6379/2'" in result.output


def test_an_unreadable_config_file_is_bad_input(tmp_path):
    bad = tmp_path / "hotline.toml"
    bad.write_text("no_such_setting = 1\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "config"], env={"HOTLINE_CONFIG": None})
    assert result.exit_code == 2
    assert "no_such_setting" in result.output


def test_db_upgrade_and_downgrade_on_sqlite(tmp_path):
    env = {"HOTLINE_DATA_DIR": str(tmp_path / "var"), "HOTLINE_DATABASE_URL": None, "HOTLINE_CONFIG": None}
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'hotline.db'}")
    assert "requests" in sa.inspect(engine).get_table_names()
    result = CliRunner().invoke(cli, ["db", "downgrade", "base"], env=env)
    assert result.exit_code == 0, result.output
    assert "requests" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_import_of_a_building_file_writes_all_rows_or_exits_2_listing_the_bad_ones(run, container, org, tmp_path):
    good = tmp_path / "buildings.csv"
    good.write_text("building_id;city;street;house;korpus;entrances;floors;apartments\n"
                    "K-1;Казань;ул. Баумана;5;;2;5;40\nK-2;Казань;ул. Баумана;7;1;3;9;108\n", encoding="utf-8")
    dry = run("import", "buildings", str(good), "--org", "demo", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert container.registry.list_buildings(org.id) == []
    done = run("import", "buildings", str(good), "--org", "demo")
    assert done.exit_code == 0, done.output
    assert [b.code for b in container.registry.list_buildings(org.id)] == ["K-1", "K-2"]
    bad = tmp_path / "bad.csv"
    bad.write_text("building_id;city;street;house;entrances;floors;apartments\n"
                   "K-3;Казань;ул. Баумана;9;2;5;40\nK-4;Казань;ул. Баумана;11;два;5;40\n", encoding="utf-8")
    failed = run("import", "buildings", str(bad), "--org", "demo")
    assert failed.exit_code == 2
    assert "row 3" in failed.output
    assert [b.code for b in container.registry.list_buildings(org.id)] == ["K-1", "K-2"]
