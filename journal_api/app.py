"""The Flask application factory."""
from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from .bootstrap import Container, bootstrap
from .config import Settings


class _ConsoleOnlySessions(SecureCookieSessionInterface):
    """Only the console uses the cookie session; the API authenticates with tokens. An /api/ request gets Flask's
    null session (empty, refuses writes): no cookie parsing or signing serializer per call, nothing to save."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def create_app(container: Container | None = None, settings: Settings | None = None) -> Flask:
    container = container or bootstrap(settings)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=container.settings.secret_key, JSON_SORT_KEYS=False,
                      MAX_CONTENT_LENGTH=container.settings.max_upload_bytes + 1024 * 1024)
    app.json.ensure_ascii = False
    app.session_interface = _ConsoleOnlySessions()
    app.extensions["hotline"] = container

    from .api import create_blueprint
    from .api.core import register_error_handlers

    register_error_handlers(app)
    app.register_blueprint(create_blueprint())
    from .console import register as register_console

    register_console(app)  # the console's sign-in page is the landing page at /

    from .plugins import call_all

    call_all("web", app, container)
    return app
