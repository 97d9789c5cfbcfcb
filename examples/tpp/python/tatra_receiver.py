"""A TPP's webhook endpoint for Tatra-banka-style webhooks (standard library only).

    python3 tatra_receiver.py [--security-header VALUE] [--fail-first N] [--port N]

The bank POSTs JSON bodies, `{"transactionEvent": {...}}` or `{"accountEvent": {...}}`, and
sends the application's configured security header back as `Authorization`. A webhook whose
`Authorization` is not exactly `--security-header` (or that carries one when none is
configured) is answered 401; a body that is not one of the two kinds 400; the first
`--fail-first` good webhooks 503 (to watch the bank retry); the rest 200. Prints
`listening on URL`, then one line per webhook:

    transactionEvent CONSENT_ID NEW ACCOUNT_ID,...
    accountEvent CONSENT_ID TASK_ID BANK_CODE ACCOUNT_ID:EVENT_TYPE,...
    retry-me KIND          (answered 503)
    refused REASON         (answered 401 or 400)
"""

import argparse
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 256 * 1024


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def check_authorization(configured, sent):
    """The security header comes back byte for byte, or not at all when none is set."""
    if not configured:
        if sent is not None:
            raise Refused(401, "an Authorization header although no security header is set")
        return
    if sent is None or not hmac.compare_digest(sent.encode(), configured.encode()):
        raise Refused(401, "Authorization is not the configured security header")


def parse(body):
    """(kind, event object) of a webhook body, or Refused."""
    try:
        value = json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON")
    if not isinstance(value, dict) or len(value) != 1:
        raise Refused(400, "the body is not one transactionEvent or accountEvent")
    (kind, event), = value.items()
    if kind not in ("transactionEvent", "accountEvent") or not isinstance(event, dict):
        raise Refused(400, f"unknown kind {kind!r}")
    return kind, event


def describe(kind, event):
    accounts = event.get("accounts") or []
    if kind == "transactionEvent":
        ids = ",".join(str(a.get("accountId")) for a in accounts)
        return f"transactionEvent {event.get('consentId')} {event.get('eventType')} {ids}"
    ids = ",".join(f"{a.get('accountId')}:{a.get('eventType')}" for a in accounts)
    return (f"accountEvent {event.get('consentId')} {event.get('taskId')} "
            f"{event.get('bankCode')} {ids}")


def make_handler(security_header, fail_first):
    state = {"failures_left": fail_first}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                return self.answer(413 if length > MAX_BODY else 400)
            body = self.rfile.read(length)
            try:
                check_authorization(security_header, self.headers.get("Authorization"))
                kind, event = parse(body)
            except Refused as e:
                print(f"refused {e}", flush=True)
                return self.answer(e.status, {"error": str(e)})
            with lock:
                fail = state["failures_left"] > 0
                state["failures_left"] -= int(fail)
            if fail:
                print(f"retry-me {kind}", flush=True)
                return self.answer(503)
            # Act on the event here (e.g. fetch the new transactions); answer quickly.
            print(describe(kind, event), flush=True)
            self.answer(200)

        def answer(self, status, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description="a TPP's endpoint for Tatra-banka-style webhooks")
    p.add_argument("--security-header", default="",
                   help="the Webhook Security Header set in the application's settings")
    p.add_argument("--fail-first", type=int, default=0,
                   help="answer 503 to this many webhooks first")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    server = ThreadingHTTPServer((a.host, a.port), make_handler(a.security_header, a.fail_first))
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/webhooks/tatra", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
