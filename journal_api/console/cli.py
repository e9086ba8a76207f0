"""Commands of the console: `hotline user password` (a staff member's console login) and `hotline analytics warm`."""
from __future__ import annotations

import click

from . import clabel


def register(cli: click.Group) -> None:
    @cli.group()
    def user() -> None:
        """Console logins of dispatchers, managers and admins."""

    @user.command("password")
    @click.option("--org", "org_code", required=True, help="The organisation's code, e.g. demo.")
    @click.option("--staff", "staff_id", type=int, required=True, help="The staff member's id.")
    @click.option("--login", help="The login (default: the current one, else his SIP account, else staffID).")
    @click.option("--password", envvar="HOTLINE_USER_PASSWORD", help="The new password (default: asked twice; "
                  "or $HOTLINE_USER_PASSWORD for scripts).")
    @click.pass_context
    def user_password(ctx: click.Context, org_code: str, staff_id: int, login: str | None,
                      password: str | None) -> None:
        """Create or change a console login; his other sessions end. Prints the login."""
        from ..cli import _container
        from ..service.console_auth import ConsoleAuth

        if not password:
            password = click.prompt(clabel("cli", "password"), hide_input=True, confirmation_prompt=True)
        c = _container(ctx)
        click.echo(ConsoleAuth(c.uow, c.clock).set_password(org_code, staff_id, password, login=login))

    @cli.group()
    def analytics() -> None:
        """The console's analytics."""

    @analytics.command("warm")
    @click.option("--org", "org_code", required=True, help="The organisation's code, e.g. demo.")
    @click.option("--days", type=click.IntRange(1, 366), default=366, show_default=True)
    @click.pass_context
    def analytics_warm(ctx: click.Context, org_code: str, days: int) -> None:
        """Compute and keep the figures of the past days (run nightly: no manager's view pays for them)."""
        from ..cli import _container
        from ..service.console_analytics import warm

        c = _container(ctx)
        org = c.registry.organisation_by_code(org_code)
        click.echo(f"{warm(c.engine, org.id, org.timezone, days, c.clock())} spans kept")
