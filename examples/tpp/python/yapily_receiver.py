"""A TPP's webhook endpoint for Yapily-style notifications, verified with PyJWT.

    python3 yapily_receiver.py --jwks-uri URI --application-id ID [--port N]

Each notification is a POST of the common event object as JSON with a `yapily-signature`
header: a JWT whose claims carry `digest` (SHA-256 of the exact body bytes, upper-case hex),
`enc` ("SHA256"), `iat`, `exp` and `jti`. A webhook that verifies is answered 200; a bad one
401 with a JSON error; an event `id` seen before is answered 200 and not handled twice. Prints
`listening on URL`, then one line per webhook: `accepted ID`, `duplicate ID` or
`refused REASON`.
"""

import argparse
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

from ob_set import fetch_jwks

MAX_BODY = 256 * 1024
LEEWAY_SECS = 60


class Refused(Exception):
    pass


class Keys:
    """The sender's JWKS by kid, fetched again once when a kid is unknown (key rotation)."""

    def __init__(self, uri):
        self.uri = uri
        self.lock = threading.Lock()
        self.keys = self._load()

    def _load(self):
        return {k.get("kid"): k for k in fetch_jwks(self.uri)["keys"]}

    def get(self, kid):
        with self.lock:
            if kid not in self.keys:
                self.keys = self._load()
            return self.keys.get(kid)


def verify(body, signature, keys, application_id, seen_jtis):
    """The event object of a webhook whose signature holds, or Refused."""
    if not signature:
        raise Refused("no yapily-signature header")
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.PyJWTError as e:
        raise Refused(f"the signature is not a JWT: {e}")
    if header.get("alg") != "PS256":
        raise Refused(f"alg {header.get('alg')!r} is not PS256")
    jwk = keys.get(header.get("kid"))
    if jwk is None:
        raise Refused(f"kid {header.get('kid')!r} is not in the sender's JWKS")
    try:
        key = jwt.PyJWK(jwk, algorithm="PS256").key
        claims = jwt.decode(
            signature, key, algorithms=["PS256"], leeway=LEEWAY_SECS,
            options={"require": ["exp", "iat", "jti"], "verify_aud": False},
        )
    except jwt.PyJWTError as e:
        raise Refused(f"the signature does not verify: {e}")
    if claims.get("enc") != "SHA256":
        raise Refused(f"enc {claims.get('enc')!r} is not SHA256")
    # Over the bytes as received: re-serialising the JSON would change them.
    digest = hashlib.sha256(body).hexdigest().upper()
    if not hmac.compare_digest(digest, str(claims.get("digest", ""))):
        raise Refused("the digest is not the SHA-256 of the body")
    if claims["jti"] in seen_jtis:
        raise Refused(f"jti {claims['jti']} was used before (a replay)")
    seen_jtis.add(claims["jti"])
    try:
        event = json.loads(body)
    except ValueError:
        raise Refused("the body is not JSON")
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise Refused("the body is not an event object with an id")
    if event.get("applicationId") != application_id:
        raise Refused(f"the event is for application {event.get('applicationId')!r}")
    return event


def make_handler(keys, application_id):
    seen_ids, seen_jtis = set(), set()
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
                with lock:
                    event = verify(body, self.headers.get("yapily-signature"), keys,
                                   application_id, seen_jtis)
                    first = event["id"] not in seen_ids
                    seen_ids.add(event["id"])
            except Refused as e:
                print(f"refused {e}", flush=True)
                return self.answer(401, {"error": str(e)})
            # Act on the event here (e.g. queue it); answer quickly, the sender is waiting.
            print(f"{'accepted' if first else 'duplicate'} {event['id']}", flush=True)
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
    p = argparse.ArgumentParser(description="a TPP's webhook for Yapily-style notifications")
    p.add_argument("--jwks-uri", required=True, help="the sender's /.well-known/jwks.json")
    p.add_argument("--application-id", required=True, help="this application's id")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    server = ThreadingHTTPServer((a.host, a.port), make_handler(Keys(a.jwks_uri), a.application_id))
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}/webhooks/yapily", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
