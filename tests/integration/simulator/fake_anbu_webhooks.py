"""A tiny stand-in for our server's Twilio webhooks, used to drive the emulator in tests.

It validates every request with the *official* ``twilio.request_validator.RequestValidator``
(not the emulator's signer), answers 403 when a signature is wrong, and serves a two-turn
wellness script: a Gather, a re-ask, then goodbye + Hangup.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

GREETING = "안녕하세요. 안부 전화입니다. 괜찮으시면 괜찮다고 말씀해 주세요."
REASK = "잘 못 들었어요. 다시 한 번 말씀해 주세요."
GOODBYE = "감사합니다. 좋은 하루 보내세요."


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    params: dict[str, str]
    signature_valid: bool


def _gather(action: str, prompt: str) -> str:
    return (
        f'<Gather action="{action}" actionOnEmptyResult="true" input="speech dtmf" language="ko-KR" '
        f'method="POST" numDigits="1" speechTimeout="auto" timeout="3">'
        f'<Say language="ko-KR" voice="Polly.Seoyeon">{prompt}</Say></Gather>'
    )


def twiml(*verbs: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>").encode()


class FakeAnbuWebhooks:
    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.gathers_per_call: dict[str, int] = {}
        self.slow_s = 2.0
        handler = type("Handler", (_Handler,), {"app": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def requests_to(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def respond(self, path: str, query: dict[str, str], params: dict[str, str]) -> tuple[int, str, bytes]:
        xml = "application/xml"
        if path == "/voice/answer":
            return 200, xml, twiml(_gather(f"/voice/gather?code={query.get('code', '')}", GREETING))
        if path == "/voice/gather":
            with self.lock:
                count = self.gathers_per_call.get(params["CallSid"], 0) + 1
                self.gathers_per_call[params["CallSid"]] = count
            if count == 1:
                return 200, xml, twiml(_gather(f"/voice/gather?code={query.get('code', '')}", REASK))
            return 200, xml, twiml(f'<Say language="ko-KR">{GOODBYE}</Say>', "<Hangup/>")
        if path in ("/voice/status", "/sms/status"):
            return 204, "text/plain", b""
        if path == "/sms/inbound":
            return 200, xml, twiml("<Message>확인했습니다.</Message>")
        if path == "/broken":
            return 500, "text/plain", b"boom"
        if path == "/slow":
            time.sleep(self.slow_s)  # longer than the emulator's webhook timeout in these tests
            return 200, xml, twiml("<Hangup/>")
        if path == "/redirect-me":
            return 200, xml, twiml("<Say>One moment.</Say>", "<Redirect>/voice/answer?code=moved</Redirect>")
        if path == "/json":
            return 200, "application/json", b"{}"
        if path == "/not-twiml":
            return 200, xml, b"<html>oops</html>"
        return 404, "text/plain", b"no such webhook"


class _Handler(BaseHTTPRequestHandler):
    app: FakeAnbuWebhooks

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        params = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        self._serve(params)

    def do_GET(self) -> None:
        self._serve({})

    def _serve(self, params: dict[str, str]) -> None:
        url = f"http://{self.headers['Host']}{self.path}"
        valid = self.app.validator.validate(url, params, self.headers.get("X-Twilio-Signature", ""))
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        with self.app.lock:
            self.app.seen.append(Seen(parts.path, query, params, valid))
        if not valid:
            status, ctype, body = 403, "text/plain", b"bad signature"
        else:
            status, ctype, body = self.app.respond(parts.path, query, params)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the emulator gave up waiting (the slow-webhook test)

    def log_message(self, format: str, *args: Any) -> None:
        pass
