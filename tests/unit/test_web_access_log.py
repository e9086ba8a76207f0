"""hotline web's access logger writes exactly gunicorn's own access line (combined format), only cheaper."""
from __future__ import annotations

import datetime
import re
import types

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from journal_api.serve import access_logger_class


def _line(cls, path, environ, fmt=None) -> str:
    cfg = Config()
    cfg.set("accesslog", str(path))
    if fmt:
        cfg.set("access_log_format", fmt)
    logger = cls(cfg)
    resp = types.SimpleNamespace(status="201 CREATED", sent=523, headers=[("Content-Type", "application/json")])
    req = types.SimpleNamespace(headers=[("HOST", "127.0.0.1:8000")])
    logger.access(resp, req, environ, datetime.timedelta(microseconds=1234))
    for handler in logger.access_log.handlers:
        handler.close()
    logger.access_log.handlers.clear()
    return re.sub(r"\[\d\d/\w+/\d{4}:[\d:]+ [+-]\d{4}\]", "[T]", path.read_text())  # the second may tick between


@pytest.mark.parametrize("extra", [{}, {"HTTP_REFERER": "http://x/", "HTTP_USER_AGENT": "curl/8"},
                                   {"HTTP_AUTHORIZATION": "Basic YWRtaW46c2VjcmV0"}])
@pytest.mark.parametrize("fmt", [None, '%(h)s %(m)s %(U)s %(s)s %(L)s'])
def test_the_line_is_gunicorns(tmp_path, extra, fmt):
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "RAW_URI": "/api/v1/requests?x=1",
               "PATH_INFO": "/api/v1/requests", "SERVER_PROTOCOL": "HTTP/1.1", **extra}
    ours = _line(access_logger_class(), tmp_path / "ours.log", environ, fmt)
    theirs = _line(Logger, tmp_path / "theirs.log", environ, fmt)
    assert ours == theirs and ours.count("\n") == 1
    assert fmt is not None or " [T] " in ours
    if fmt is None:
        assert '"POST /api/v1/requests?x=1 HTTP/1.1" 201 523' in ours
