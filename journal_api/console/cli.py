"""`hotline user password`: set a staff member's console password (and login)."""
from __future__ import annotations

import click


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
            password = click.prompt("Пароль", hide_input=True, confirmation_prompt=True)
        c = _container(ctx)
        click.echo(ConsoleAuth(c.uow, c.clock).set_password(org_code, staff_id, password, login=login))
