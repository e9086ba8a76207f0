"""The Flask application factory."""
from __future__ import annotations

from flask import Flask

from .bootstrap import Container, bootstrap
from .config import Settings


def create_app(container: Container | None = None, settings: Settings | None = None) -> Flask:
    container = container or bootstrap(settings)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=container.settings.secret_key, JSON_SORT_KEYS=False,
                      MAX_CONTENT_LENGTH=container.settings.max_upload_bytes + 1024 * 1024)
    app.json.ensure_ascii = False
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
