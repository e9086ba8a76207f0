"""A local Twilio-compatible Recordings API for the tests: ``GET /2010-04-01/Accounts/<sid>/Recordings/<RE...>.wav``
with HTTP Basic auth (account SID and auth token), 401 and 404 shaped as Twilio answers them."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RecordingsServer:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.recordings: dict[str, bytes] = {}
        self.fetched: list[str] = []  # recording sids served
        self.refused: list[str] = []  # paths refused (auth or unknown)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/"
        if h.headers.get("Authorization") != expected:
            self.refused.append(h.path)
            return self._error(h, 401, 20003, "Authenticate")
        sid = h.path[len(prefix):-len(".wav")] if h.path.startswith(prefix) and h.path.endswith(".wav") else ""
        if sid not in self.recordings:
            self.refused.append(h.path)
            return self._error(h, 404, 20404, f"The requested resource {h.path} was not found")
        self.fetched.append(sid)
        body = self.recordings[sid]
        h.send_response(200)
        h.send_header("Content-Type", "audio/x-wav")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _error(h, status: int, code: int, message: str) -> None:
        payload = json.dumps({"code": code, "message": message, "status": status}).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
