"""The `hotline` command. Bad input ends with a message and exit code 2, never with a traceback."""
from __future__ import annotations

import logging
import sys
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
import sqlalchemy as sa

from .config import Settings, load_settings
from .domain.errors import DomainError


class BadInput(click.ClickException):
    exit_code = 2


class HotlineGroup(click.Group):
    """Turns the errors that bad input raises into one line on stderr."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            raise BadInput(exc.message) from None
        except sa.exc.OperationalError as exc:
            raise click.ClickException(f"The database is not reachable: {exc.orig}") from None


def _settings(ctx: click.Context, **overrides) -> Settings:
    try:
        return load_settings(config_file=ctx.obj.get("config"), **overrides)
    except (OSError, ValueError) as exc:
        raise BadInput(f"Cannot read the settings: {exc}") from None


def _container(ctx: click.Context):
    """The wiring for one-shot commands. Their events stay in the outbox for the worker's relay to publish: the
    queue's Redis may not be running yet (`make run` seeds before `hotline up` starts its own Redis)."""
    from .bootstrap import bootstrap
    from .service.uow import MemoryPublisher

    container = bootstrap(_settings(ctx), publisher=MemoryPublisher())
    ctx.call_on_close(container.dispose)
    return container


@click.group(cls=HotlineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), envvar="HOTLINE_CONFIG",
              help="A TOML settings file (default: $HOTLINE_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """hotline: the request journal of an emergency-dispatch service (АДС)."""
    ctx.ensure_object(dict)["config"] = config


# -- database ----------------------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from .storage.migrate import upgrade

    settings = _settings(ctx)
    _ensure_data_dir(settings)
    upgrade(settings.effective_database_url, revision)
    click.echo(f"Database at revision {revision}: {_hide_password(settings.effective_database_url)}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database down to REVISION (e.g. 'base', or '-1')."""
    from .storage.migrate import downgrade

    settings = _settings(ctx)
    downgrade(settings.effective_database_url, revision)
    click.echo(f"Database at revision {revision}.")


def _ensure_data_dir(settings: Settings) -> None:
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)


# -- demo data and tokens ----------------------------------------------------------------------------------------
@cli.group()
def seed() -> None:
    """Demo data."""


@seed.command("demo")
@click.pass_context
def seed_demo_command(ctx: click.Context) -> None:
    """Create the demo organisation 'demo' with its buildings, staff and rotas. Running it again changes nothing."""
    from .seed import seed_demo

    report = seed_demo(_container(ctx))
    if report.changed:
        made = ", ".join(f"{kind} {n}" for kind, n in report.created.items() if n)
        click.echo(f"Demo organisation '{report.org_code}', created: {made}.")
    else:
        click.echo(f"Demo organisation '{report.org_code}' is already complete; nothing changed.")


@cli.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--org", "org_code", required=True, help="The organisation's code, e.g. demo.")
@click.option("--role", required=True, help="dispatcher, technician, manager or admin.")
@click.option("--staff", "staff_id", type=int, help="The staff member's id (required for a technician).")
@click.option("--label", help="A note to recognise the token by.")
@click.pass_context
def token_create(ctx: click.Context, org_code: str, role: str, staff_id: int | None, label: str | None) -> None:
    """Create an API token and print it (only the token, so scripts can capture it). It is shown only once."""
    click.echo(_container(ctx).tokens.create(org_code, role, staff_id, label))


# -- imports -----------------------------------------------------------------------------------------------------
@cli.command("import")
@click.argument("kind", type=click.Choice(["buildings", "staff"]))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--org", "org_code", required=True, help="The organisation's code, e.g. demo.")
@click.option("--dry-run", is_flag=True, help="Check every row and count, but write nothing.")
@click.pass_context
def import_command(ctx: click.Context, kind: str, file: str, org_code: str, dry_run: bool) -> None:
    """Import buildings or staff from a CSV or XLSX file: all rows, or none if any row is wrong."""
    from .service.imports import run_import

    result = run_import(_container(ctx), org_code, kind, file, dry_run=dry_run)
    if result.errors:
        raise BadInput(result.summary())
    click.echo(result.summary())


# -- processes ---------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", help="Address to listen on (default: settings' web_host).")
@click.option("--port", type=int, help="Port to listen on (default: settings' web_port).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="gunicorn workers.")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Serve the web app and the API with gunicorn."""
    from .serve import run_web

    _logging()
    run_web(_settings(ctx, web_host=host, web_port=port), workers=workers)


@cli.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run an rq worker on the settings' queue, with the outbox relay."""
    from .serve import run_worker

    _logging()
    run_worker(_settings(ctx))


@cli.command()
@click.option("--once", is_flag=True, help="One tick, then exit (default: a tick every minute until Ctrl-C).")
@click.pass_context
def escalate(ctx: click.Context, once: bool) -> None:
    """Emit the reminders and escalations that fell due (`hotline cron` has this done every minute too)."""
    import time

    from .service.escalation import EscalationService
    from .serve import ESCALATE_EVERY_SECONDS

    container = _container(ctx)
    service = EscalationService(container.uow)
    while True:
        click.echo(f"Emitted {service.tick(container.clock())} reminder(s) and escalation(s).")
        if once:
            return
        time.sleep(ESCALATE_EVERY_SECONDS)


@cli.command()
@click.option("--host", help="Address of the web app (default: 127.0.0.1).")
@click.option("--web-port", type=int, help="Port of the web app (default: 8080).")
@click.option("--sip-port", type=int, help="SIP port, kept for the telephony that a later build adds.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the database, Redis and blobs live.")
@click.pass_context
def up(ctx: click.Context, host, web_port, sip_port, data_dir) -> None:
    """Run everything on this machine: SQLite, an embedded redis-server, a worker and the web app."""
    from .runner import run_up

    _logging()
    settings = _settings(ctx, web_host=host, web_port=web_port, sip_port=sip_port, data_dir=data_dir)
    ctx.exit(run_up(settings, echo=_say))


@cli.command()
@click.pass_context
def config(ctx: click.Context) -> None:
    """Print the effective settings (passwords and the secret key hidden)."""
    settings = _settings(ctx)
    values = asdict(replace(settings, secret_key="(hidden)"))
    values["database_url"] = _hide_password(settings.effective_database_url)
    values["redis_url"] = _hide_password(settings.redis_url)
    values["blob_dir"] = str(settings.effective_blob_dir)
    for key, value in values.items():
        click.echo(f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}")


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _say(line: str) -> None:
    """One line at once, even when stdout is a pipe (a script waits for the token line)."""
    click.echo(line)
    sys.stdout.flush()


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


_plugged = False


def _plug() -> None:
    """Add the commands of the packages that build on the journal (``hotline.plugins`` entry points), once."""
    global _plugged
    if not _plugged:
        from .console.cli import register as console_commands
        from .cron import register as cron_commands
        from .plugins import call_all

        console_commands(cli)
        cron_commands(cli)  # `hotline cron`: the one scheduler

        call_all("commands", cli)
        _plugged = True


def main(argv: list[str] | None = None) -> None:
    _plug()
    cli.main(args=argv, prog_name="hotline")


if __name__ == "__main__":
    main()
