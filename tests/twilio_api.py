"""A local Twilio-compatible REST API for the tests: the real `twilio` library (and the hotline's own HTTP client)
talk to it over HTTP. It is faithful where the hotline depends on it:

- every request needs HTTP Basic auth (account SID and auth token): else 401 / 20003;
- ``POST /2010-04-01/Accounts/<sid>/Messages.json`` checks the form fields as Twilio does, answers with
  Twilio-shaped JSON (segments counted as UCS-2 or GSM), and refuses like Twilio: 21211 for an invalid 'To', 21610
  for an unsubscribed recipient, 20429 (HTTP 429) when told to be busy; it can also answer slowly;
- ``GET /2010-04-01/Accounts/<sid>/Recordings/<RE...>.wav`` serves the recordings put in ``recordings``;
- an unknown path is 404 / 20404;
- it can deliver status callbacks signed with the account's auth token (X-Twilio-Signature)."""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests
from twilio.request_validator import RequestValidator

E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class TwilioServer:
    def __init__(self, account_sid: str, auth_token: str):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict] = []
        self.unsubscribed: set[str] = set()
        self.busy = 0  # answer this many message requests with 429 / 20429
        self.delay = 0.0  # seconds to wait before answering a message request (a provider that times out)
        self.recordings: dict[str, bytes] = {}  # recording sid -> WAV bytes
        self.fetched: list[str] = []  # recording sids served
        self.refused: list[str] = []  # recording paths refused (auth or unknown)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.recording(self)

            def do_POST(self):
                try:
                    server.message(self)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (timeout tests)
                    pass

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

    # -- the API ---------------------------------------------------------------------------------------------------
    def _authorised(self, h: BaseHTTPRequestHandler) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return h.headers.get("Authorization") == expected

    def message(self, h: BaseHTTPRequestHandler) -> None:
        if self.delay:
            time.sleep(self.delay)
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if not self._authorised(h):
            return self._error(h, 401, 20003, "Authentication Error - invalid username")
        if h.path != path:
            return self._error(h, 404, 20404, f"The requested resource {h.path} was not found")
        form = {k: v[0] for k, v in parse_qs(h.rfile.read(int(h.headers["Content-Length"])).decode()).items()}
        if self.busy > 0:
            self.busy -= 1
            return self._error(h, 429, 20429, "Too Many Requests")
        to, body = form.get("To", ""), form.get("Body", "")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self._error(h, 400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not body:
            return self._error(h, 400, 21602, "Message body is required.")
        if not E164.match(to):
            return self._error(h, 400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return self._error(h, 400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        ucs2 = any(ord(ch) > 127 for ch in body)
        per = 67 if ucs2 else 153
        single = 70 if ucs2 else 160
        segments = 1 if len(body) <= single else -(-len(body) // per)
        message = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": form.get("From"), "body": body,
                   "status": "queued", "num_segments": str(segments), "direction": "outbound-api",
                   "messaging_service_sid": form.get("MessagingServiceSid"), "error_code": None,
                   "status_callback": form.get("StatusCallback"), "api_version": "2010-04-01",
                   "date_created": "Fri, 27 Nov 2026 01:00:00 +0000", "price": None, "price_unit": "USD",
                   "uri": f"{path[:-5]}/{sid}.json", "encoding": "UCS-2" if ucs2 else "GSM"}
        self.messages.append(message)
        self._send(h, 201, "application/json", json.dumps(message).encode())

    def recording(self, h: BaseHTTPRequestHandler) -> None:
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/"
        if not self._authorised(h):
            self.refused.append(h.path)
            return self._error(h, 401, 20003, "Authenticate")
        sid = h.path[len(prefix):-len(".wav")] if h.path.startswith(prefix) and h.path.endswith(".wav") else ""
        if sid not in self.recordings:
            self.refused.append(h.path)
            return self._error(h, 404, 20404, f"The requested resource {h.path} was not found")
        self.fetched.append(sid)
        self._send(h, 200, "audio/x-wav", self.recordings[sid])

    def _error(self, h, status: int, code: int, message: str) -> None:
        self._send(h, status, "application/json", json.dumps({
            "code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}).encode())

    @staticmethod
    def _send(h, status: int, content_type: str, payload: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    # -- callbacks, signed as Twilio signs them --------------------------------------------------------------------
    def signed(self, url: str, params: dict) -> dict:
        return {"X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(url, params)}

    def status_callback(self, message: dict, status: str, error_code: str | None = None) -> requests.Response:
        params = {"MessageSid": message["sid"], "MessageStatus": status, "AccountSid": self.account_sid,
                  "To": message["to"], "From": message["from"] or ""}
        if error_code:
            params["ErrorCode"] = error_code
        url = message["status_callback"]
        return requests.post(url, data=params, headers=self.signed(url, params), timeout=5)
