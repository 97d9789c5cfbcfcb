"""A TPP's real-time event-notification endpoint (OBIE push, RFC 8935).

    python3 receiver.py --lib pyjwt|jwcrypto --jwks-uri URI --issuer ISS --client-id ID [--port N]

The bank POSTs each SET as the body (`Content-Type: application/jwt`) to
`.../open-banking/v3.1/event-notifications`. A SET that verifies is answered 202 with the
request's `x-fapi-interaction-id` echoed; a bad one 400 with an RFC 8935 error body; the same jti
pushed again is answered 202 and not handled twice. Prints `listening on URL`, then one line per
SET: `accepted JTI`, `duplicate JTI` or `refused ERR: DESCRIPTION`.
"""

import argparse
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ob_set import SetRejected, fetch_jwks

PATH = "/open-banking/v3.1/event-notifications"
MAX_BODY = 64 * 1024


def header_kid(token):
    """The `kid` of a compact JWS's protected header, unverified (None if unreadable)."""
    try:
        part = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return header.get("kid") if isinstance(header, dict) else None
    except (ValueError, UnicodeDecodeError):
        return None


class Jwks:
    """The bank's JWKS, fetched again once when a SET names a kid it lacks (key rotation)."""

    def __init__(self, uri):
        self.uri = uri
        self.lock = threading.Lock()
        self.jwks = fetch_jwks(uri)

    def for_token(self, token):
        kid = header_kid(token)
        with self.lock:
            if isinstance(kid, str) and not any(k.get("kid") == kid for k in self.jwks["keys"]):
                try:
                    self.jwks = fetch_jwks(self.uri)
                except (OSError, ValueError) as e:
                    print(f"cannot refresh the JWKS: {e}", flush=True)
            return self.jwks


def make_handler(verify_set, jwks, issuer, client_id):
    seen = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != PATH:
                return self.answer(404)
            if self.headers.get_content_type() != "application/jwt":
                return self.answer(415)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                return self.answer(413 if length > MAX_BODY else 400)
            token = self.rfile.read(length).decode("ascii", "replace").strip()
            try:
                claims = verify_set(token, jwks.for_token(token), issuer, client_id)
            except SetRejected as e:
                print(f"refused {e.err}: {e.description}", flush=True)
                return self.answer(400, {"err": e.err, "description": e.description})
            with lock:
                first = claims["jti"] not in seen
                seen.add(claims["jti"])
            # Act on the event here (e.g. queue it); answer quickly, the bank is waiting.
            print(f"{'accepted' if first else 'duplicate'} {claims['jti']}", flush=True)
            self.answer(202)

        def answer(self, status, body=None):
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            interaction_id = self.headers.get("x-fapi-interaction-id")
            if interaction_id:
                self.send_header("x-fapi-interaction-id", interaction_id)
            if body is not None:
                # RFC 8935 §2.3: an error answer says its language.
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Language", "en")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main():
    p = argparse.ArgumentParser(description="a TPP's push endpoint for the bank's SETs")
    p.add_argument("--lib", choices=["pyjwt", "jwcrypto"], default="pyjwt")
    p.add_argument("--jwks-uri", required=True, help="the bank's jwks_uri")
    p.add_argument("--issuer", required=True, help="the bank's issuer (the SETs' iss)")
    p.add_argument("--client-id", required=True, help="this TPP's client id (the SETs' aud)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    if a.lib == "pyjwt":
        from verify_pyjwt import verify_set
    else:
        from verify_jwcrypto import verify_set
    jwks = Jwks(a.jwks_uri)
    server = ThreadingHTTPServer((a.host, a.port), make_handler(verify_set, jwks, a.issuer, a.client_id))
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}{PATH}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
