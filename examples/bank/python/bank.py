"""An example OBIE v3.1 event-notification bank (ASPSP), written from the public rules, for
trying `obevents test --profile` and `obevents bench --profile` on a bank that is not the sandbox.

    PYTHONPATH=target/py-recipes python3 examples/bank/python/bank.py [--port 8090]

Prints exactly one line to stdout, `listening on http://HOST:PORT`; logs go to stderr. Offers:

- `POST /token`: OAuth client credentials (client_secret_basic or client_secret_post) for the
  fixed clients `tpp-a`/`tpp-a-secret` and `tpp-b`/`tpp-b-secret` (or `--client ID:SECRET`);
  opaque bearer tokens that expire; scopes `accounts`, `payments`, `fundsconfirmations`
  (event scopes) and `openid` (not enough for the event API: 403).
- `GET /jwks`: the RSA key (made at start) that signs SETs and responses, PS256.
- under `/open-banking/v3.1`: `POST`/`GET /event-subscriptions`, `PUT`/`DELETE
  /event-subscriptions/{id}` (answers signed with `x-jws-signature`; with `--tpp-jwks FILE`
  requests must be signed too) and `POST /events` (aggregated polling with long polls).
- `POST /test/events` `{"client_id", "event_type", "resource_id"[, "resource_type"]}`: raises an
  event for a TPP (a test trigger, without authentication: run the bank on loopback) and answers
  201 `{"jti", "delivery"}`, `delivery` being `push`, `polling` or `none` (no subscription for it).

The domain is in `bank_core.py`, request validation in `bank_requests.py`, signing in
`bank_jose.py`, the push queue in `bank_push.py`; this file is HTTP and the command line.
"""

import argparse
import base64
import json
import signal
import sys
import threading
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

import bank_requests as parse
from bank_core import EVENT_SCOPES, Bank, BankError, Config, OAuthError
from bank_jose import RequestSignatureError, RequestVerifier, Signer
from bank_push import PushQueue

MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 512


class Unauthorised(Exception):
    """401 without a body, with a Bearer challenge (G-10, R8936-28)."""

    def __init__(self, error=None):
        super().__init__(error or "no token")
        self.error = error


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def accepts_json(accept):
    """Whether an Accept header admits application/json (G-08); absent means it does."""
    if accept is None or not accept.strip():
        return True
    for item in accept.split(","):
        kind, *params = [p.strip() for p in item.split(";")]
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            weight = float(q)
        except ValueError:
            weight = 1.0
        if weight > 0 and kind.lower() in ("*/*", "application/*", "application/json"):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "obevents-example-bank/1"
    timeout = 30  # a client silent this long loses its connection (and its thread)
    # Headers and body are written separately: without TCP_NODELAY the body waits for the
    # client's delayed ACK (about 40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True
    bank: Bank = None
    verifier: RequestVerifier = None  # with --tpp-jwks: subscription requests must be signed
    log_requests = False

    # ---- dispatch ------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def routes(self, path):
        """{method: handler} for `path` and the path's id, or (None, None)."""
        api = self.bank.config.api_base
        if path == "/token":
            return {"POST": self.token}, None
        if path == "/jwks":
            return {"GET": self.jwks}, None
        if path == "/test/events":
            return {"POST": self.trigger}, None
        if path == api + "/event-subscriptions":
            return {"GET": self.list_subscriptions, "POST": self.create_subscription}, None
        prefix = api + "/event-subscriptions/"
        if path.startswith(prefix) and "/" not in path[len(prefix):] and path != prefix:
            return ({"PUT": self.replace_subscription, "DELETE": self.delete_subscription},
                    unquote_plus(path[len(prefix):]))
        if path == api + "/events":
            return {"POST": self.poll}, None
        return None, None

    def dispatch(self, method):
        self.interaction = self.interaction_id()
        self.signed = False
        try:
            self.body = self.read_body()
            path = urlsplit(self.path).path
            table, path_id = self.routes(path)
            if table is None:
                raise BankError(404, "GB.ExampleBank.Path.Unknown",
                                f"no resource at {path[:200]}")
            handler = table.get(method)
            if handler is None:
                self.allow = ", ".join(sorted(table))
                raise BankError(405, "GB.ExampleBank.Method.NotAllowed",
                                f"{method} is not allowed here; allowed: {self.allow}")
            self.signed = path.startswith(self.bank.config.api_base + "/event-subscriptions")
            handler(path_id) if path_id is not None else handler()
        except BankError as e:
            self.ob_error(e)
        except OAuthError as e:
            self.oauth_error(e)
        except Unauthorised as e:
            challenge = 'Bearer realm="example-bank"'
            if e.error:
                challenge += f', error="{e.error}"'
            self.answer(401, None, {"WWW-Authenticate": challenge})
        except Exception:  # never a traceback to the client: a 500 in the OBIE shape
            traceback.print_exc(file=sys.stderr)
            self.ob_error(BankError(500, "UK.OBIE.UnexpectedError", "unexpected error"))

    def read_body(self):
        """The request body, at most MAX_BODY bytes; a longer or unframed one is refused."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise BankError(411, "UK.OBIE.Header.Missing", "send a Content-Length",
                            "Content-Length")
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            self.close_connection = True
            raise BankError(400, "UK.OBIE.Header.Invalid", "bad Content-Length",
                            "Content-Length")
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise BankError(413, "UK.OBIE.Field.Invalid",
                            f"the body is over {MAX_BODY} bytes", "Content-Length")
        return self.rfile.read(int(length)) if int(length) else b""

    def interaction_id(self):
        """The request's x-fapi-interaction-id played back (G-06), else a new UUID."""
        given = self.headers.get("x-fapi-interaction-id")
        if given and len(given) <= 128 and given.isprintable() and given.isascii():
            return given
        return str(uuid.uuid4())

    # ---- answers ---------------------------------------------------------------------------

    def answer(self, status, doc, headers=None):
        body = b"" if doc is None else json.dumps(doc, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("x-fapi-interaction-id", self.interaction)
        if doc is not None:
            self.send_header("Content-Type", "application/json")
            if self.signed:
                self.send_header("x-jws-signature", self.bank.signer.detached(body))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def ob_error(self, e):
        """OBErrorResponse1 (G-12): Code, Id, Message, Errors[ErrorCode, Message, Path]."""
        try:
            reason = HTTPStatus(e.status).phrase
        except ValueError:
            reason = "Error"
        item = {"ErrorCode": e.code, "Message": e.message[:500] or "error"}
        if e.path:
            item["Path"] = e.path[:500]
        doc = {"Code": f"{e.status} {reason}"[:40], "Id": str(uuid.uuid4()),
               "Message": e.message[:500] or "error", "Errors": [item]}
        headers = {"Allow": self.allow} if e.status == 405 else None
        if e.status == 406:
            doc = None  # nothing the client accepts
        self.answer(e.status, doc, headers)

    def oauth_error(self, e):
        headers = {"Cache-Control": "no-store"}
        if e.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="example-bank"'
        self.answer(e.status, {"error": e.error, "error_description": e.description}, headers)

    def log_message(self, format, *args):
        if self.log_requests:
            super().log_message(format, *args)

    # ---- request checks --------------------------------------------------------------------

    def client(self):
        """The TPP the bearer token names (401/403), after the Accept (406) and, for a body,
        Content-Type (415) checks."""
        auth = self.headers.get("Authorization")
        if auth is None:
            raise Unauthorised()
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised("invalid_request")
        who = self.bank.client_of(token.strip())
        if who is None:
            raise Unauthorised("invalid_token")
        client_id, scopes = who
        if not scopes & EVENT_SCOPES:
            raise BankError(403, "GB.ExampleBank.Token.Scope", "the token has no event scope "
                            "(accounts, payments or fundsconfirmations)")
        if not accepts_json(self.headers.get("Accept")):
            raise BankError(406, "UK.OBIE.Header.Invalid", "only application/json", "Accept")
        return client_id

    def json_body(self, signed=False):
        """The JSON body (415 unless application/json); with `signed` and --tpp-jwks, after its
        x-jws-signature verified (G-14: 400 UK.OBIE.Signature.*)."""
        if media_type(self.headers.get("Content-Type")) != "application/json":
            raise BankError(415, "UK.OBIE.Header.Invalid", "send application/json",
                            "Content-Type")
        if signed and self.verifier is not None:
            try:
                self.verifier.verify(self.headers.get("x-jws-signature"), self.body)
            except RequestSignatureError as e:
                raise BankError(400, e.code, e.message, "x-jws-signature") from None
        return parse.parse_json(self.body)

    # ---- endpoints -------------------------------------------------------------------------

    def token(self):
        if media_type(self.headers.get("Content-Type")) != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request",
                             "send application/x-www-form-urlencoded")
        try:
            form = parse_qs(self.body.decode("utf-8"), keep_blank_values=True,
                            max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "unreadable form") from None
        if any(len(v) > 1 for v in form.values()):
            raise OAuthError(400, "invalid_request", "a parameter is repeated")
        form = {k: v[0] for k, v in form.items()}
        if "grant_type" not in form:
            raise OAuthError(400, "invalid_request", "grant_type is missing")
        client_id, secret = self.client_credentials(form)
        if form["grant_type"] != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "only client_credentials")
        self.answer(200, self.bank.issue_token(client_id, secret, form.get("scope")),
                    {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def client_credentials(self, form):
        """(client_id, secret) from HTTP Basic or the form, exactly one of them (RFC 6749)."""
        auth = self.headers.get("Authorization")
        if auth is not None:
            if "client_secret" in form:
                raise OAuthError(400, "invalid_request", "use one client authentication method")
            scheme, _, value = auth.partition(" ")
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
                user, sep, password = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                sep = ""
            if scheme.lower() != "basic" or not sep:
                raise OAuthError(401, "invalid_client", "malformed Basic credentials")
            return unquote_plus(user), unquote_plus(password)
        if "client_id" not in form or "client_secret" not in form:
            raise OAuthError(401, "invalid_client", "no client authentication")
        return form["client_id"], form["client_secret"]

    def jwks(self):
        self.answer(200, self.bank.signer.jwks())

    def trigger(self):
        client_id, urn, resource_id, resource_type = parse.trigger(self.json_body())
        self.answer(201, self.bank.raise_event(client_id, urn, resource_id, resource_type,
                                               self.headers.get("x-fapi-interaction-id")))

    def subscription_doc(self, data):
        link = self.bank.link(f"/event-subscriptions/{data['EventSubscriptionId']}")
        return {"Data": data, "Links": {"Self": link}, "Meta": {}}

    def create_subscription(self):
        client_id = self.client()
        version, callback, types = parse.subscription(self.json_body(signed=True))
        data = self.bank.create_subscription(client_id, version, callback, types)
        self.answer(201, self.subscription_doc(data))

    def list_subscriptions(self):
        items = self.bank.list_subscriptions(self.client())
        self.answer(200, {"Data": {"EventSubscription": items},
                          "Links": {"Self": self.bank.link("/event-subscriptions")}, "Meta": {}})

    def replace_subscription(self, sub_id):
        client_id = self.client()
        doc = self.json_body(signed=True)
        self.bank.check_subscription(client_id, sub_id)
        version, callback, types = parse.replacement(doc, sub_id)
        data = self.bank.replace_subscription(client_id, sub_id, version, callback, types)
        self.answer(200, self.subscription_doc(data))

    def delete_subscription(self, sub_id):
        self.bank.delete_subscription(self.client(), sub_id)
        self.answer(204, None)

    def poll(self):
        client_id = self.client()
        max_events, immediately, ack, set_errs = parse.poll(self.json_body())
        self.answer(200, self.bank.poll(client_id, max_events, immediately, ack, set_errs))


class Server(ThreadingHTTPServer):
    """One thread per connection, at most MAX_CONNECTIONS at once (then refused at once)."""
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def client_pair(text):
    client_id, sep, secret = text.partition(":")
    if not sep or not client_id or not secret:
        raise argparse.ArgumentTypeError("expected CLIENT_ID:SECRET")
    return client_id, secret


def delays(text):
    try:
        values = tuple(int(v) / 1000 for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected milliseconds, e.g. 200,400") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("delays are 0 or more")
    return values


def positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return value


def arguments():
    p = argparse.ArgumentParser(description="Example OBIE v3.1 event-notification bank.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=positive, default=8090, help="0: any free port")
    p.add_argument("--public-url", help="the base URL TPPs use [http://HOST:PORT]")
    p.add_argument("--client", type=client_pair, action="append", metavar="ID:SECRET",
                   help="a TPP client (repeat); replaces tpp-a and tpp-b")
    p.add_argument("--long-poll-timeout-ms", type=positive, default=2000)
    p.add_argument("--max-events-cap", type=positive, default=20)
    p.add_argument("--retry-schedule-ms", type=delays, default=(0.2, 0.4),
                   help="delays before each push retry [200,400]")
    p.add_argument("--push-timeout-ms", type=positive, default=1000)
    p.add_argument("--token-ttl-secs", type=positive, default=3600)
    p.add_argument("--ob-iss", default="0015800001041REBANK",
                   help="http://openbanking.org.uk/iss of signatures")
    p.add_argument("--tan", default="openbanking.org.uk", help="trust anchor of signatures")
    p.add_argument("--tpp-jwks", metavar="FILE",
                   help="the TPPs' public keys (JWKS): POST and PUT of subscriptions must then "
                   "carry an x-jws-signature that verifies with one of them")
    p.add_argument("--log-requests", action="store_true", help="an access line per request")
    return p.parse_args()


def main():
    args = arguments()
    if args.tpp_jwks:
        try:
            with open(args.tpp_jwks, encoding="utf-8") as f:
                Handler.verifier = RequestVerifier(json.load(f))
        except Exception as e:  # an unreadable file or key: one line, exit 2
            print(f"--tpp-jwks {args.tpp_jwks}: {e}", file=sys.stderr)
            return 2
    try:
        server = Server((args.host, args.port), Handler)
    except (OSError, OverflowError) as e:
        print(f"cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    config = Config(
        base_url=(args.public_url or url).rstrip("/"),
        long_poll_timeout=args.long_poll_timeout_ms / 1000,
        max_events_cap=max(args.max_events_cap, 1),
        retry_schedule=args.retry_schedule_ms,
        push_timeout=max(args.push_timeout_ms, 1) / 1000,
        token_ttl=max(args.token_ttl_secs, 1),
    )
    if args.client:
        config.clients = dict(args.client)
    Handler.bank = Bank(config, Signer(args.ob_iss, args.tan))
    Handler.log_requests = args.log_requests
    push = PushQueue(Handler.bank)

    def stop(signum, frame):
        # serve_forever runs in this thread: shut it down from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"warning: {host} is not loopback, and POST /test/events raises events for any "
              "client without authentication", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {url}", flush=True)
    server.serve_forever(poll_interval=0.2)
    push.stop()
    server.server_close()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
