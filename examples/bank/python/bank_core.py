"""The example bank's domain core: clients and tokens, one event subscription per TPP, the SETs
awaiting each TPP, aggregated polling and the hand-over of SETs to the push queue. No HTTP here:
the handlers in `bank.py` call these methods and map `BankError` to the endpoint's error shape.

Rules it follows (IDs from obie-rules.md and rfc-rules.md):
- ES-03: at most one subscription per client id (409 otherwise); ES-06/ES-07/N-11: a TPP is
  sent only the event types its subscription names (all when it names none; resource-update only
  for Version 3.1.1); AP-03/AP-17: nothing is queued for a TPP without a subscription, and each
  TPP sees only its own SETs.
- AP-05..AP-14, R8936: polls return awaiting SETs oldest first, at most `maxEvents` (capped at
  `max_events_cap`) with `moreAvailable`; acknowledgements are applied before the batch is
  chosen; acknowledged SETs never come back; unacknowledged and errored ones are offered again;
  an ack naming an unknown jti is ignored; without `returnImmediately: true` an empty poll is
  held until a SET arrives or `long_poll_timeout` passes.
- R-02/R-09: a SET for a subscription with a CallbackUrl is pushed (`bank_push.py`); while it is
  being pushed it is not polled; delivered (2xx) it is done; after the last failed attempt it
  awaits polling (catch-up).
"""

import secrets
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

URN = "urn:uk:org:openbanking:events:"
# OBEventType1Code -> the SET's event URN (N-08). Only these three have a SET data model.
EVENT_TYPES = {
    "UK.OBIE.Resource-Update": URN + "resource-update",
    "UK.OBIE.Consent-Authorization-Revoked": URN + "consent-authorization-revoked",
    "UK.OBIE.Account-Access-Consent-Linked-Account-Update":
        URN + "account-access-consent-linked-account-update",
}
# The resource type a SET of each event names when the trigger names none; N-07 requires
# account-access-consent for the linked-account update.
DEFAULT_RTY = {
    URN + "resource-update": "domestic-payment",
    URN + "consent-authorization-revoked": "account-access-consent",
    URN + "account-access-consent-linked-account-update": "account-access-consent",
}
# Where each resource type lives under the API (for `sub` and the `rlk` link).
RESOURCE_PATHS = {
    "domestic-payment": "pisp/domestic-payments",
    "domestic-payment-consent": "pisp/domestic-payment-consents",
    "account-access-consent": "aisp/account-access-consents",
    "funds-confirmation-consent": "cbpii/funds-confirmation-consents",
}
EVENT_SCOPES = {"accounts", "payments", "fundsconfirmations"}
ALL_SCOPES = EVENT_SCOPES | {"openid"}


class BankError(Exception):
    """A refused request: HTTP status, OBIE error code, message and the field's path."""

    def __init__(self, status, code, message, path=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.path = path


class OAuthError(Exception):
    """A refused token request (RFC 6749 section 5.2)."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Config:
    base_url: str
    api_base: str = "/open-banking/v3.1"
    long_poll_timeout: float = 2.0
    max_events_cap: int = 20
    retry_schedule: tuple = (0.2, 0.4)
    push_timeout: float = 1.0
    token_ttl: int = 3600
    max_awaiting: int = 10000
    clients: dict = field(default_factory=lambda: {"tpp-a": "tpp-a-secret",
                                                   "tpp-b": "tpp-b-secret"})


def event_urn(name):
    """The event URN for an OBIE type given as code, URN or short name; None if unsupported."""
    if not isinstance(name, str):
        return None
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    urn = name if name.startswith(URN) else URN + name
    return urn if urn in EVENT_TYPES.values() else None


@dataclass
class Subscription:
    id: str
    version: str
    callback_url: str | None
    event_types: list | None  # as the TPP sent them (echoed back); None when omitted

    def wants(self, urn):
        if self.version == "3.1.1" and urn != URN + "resource-update":
            return False
        if self.event_types is None:
            return True
        return urn in {event_urn(t) for t in self.event_types}

    def data(self):
        d = {"EventSubscriptionId": self.id, "Version": self.version}
        if self.callback_url is not None:
            d["CallbackUrl"] = self.callback_url
        if self.event_types is not None:
            d["EventTypes"] = list(self.event_types)
        return d


@dataclass
class Record:
    """One SET for one TPP: `pushing` while the push queue owns it, else awaiting a poll."""
    jti: str
    seq: int
    jws: str
    pushing: bool


class Bank:
    """All state, behind one lock; each TPP has a condition on it for held polls."""

    def __init__(self, config, signer):
        self.config = config
        self.signer = signer
        self.lock = threading.Lock()
        self.tokens = {}  # token -> (client_id, scopes, expiry)
        self.subscriptions = {}  # client_id -> Subscription
        self.records = {c: {} for c in config.clients}  # client_id -> {jti: Record} in order
        self.wake = {c: threading.Condition(self.lock) for c in config.clients}
        self.seq = 0
        self.push = None  # set by bank_push.PushQueue

    # ---- OAuth -----------------------------------------------------------------------------

    def issue_token(self, client_id, secret, scope):
        expected = self.config.clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret or ""):
            raise OAuthError(401, "invalid_client", "unknown client or wrong secret")
        asked = set(scope.split()) if scope else {"accounts"}
        unknown = asked - ALL_SCOPES
        if unknown:
            raise OAuthError(400, "invalid_scope", f"unknown scope {sorted(unknown)[0]}")
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.lock:
            # Expired tokens go when new ones are issued: the table stays bounded.
            for t in [t for t, v in self.tokens.items() if v[2] <= now]:
                del self.tokens[t]
            self.tokens[token] = (client_id, asked, now + self.config.token_ttl)
        return {"access_token": token, "token_type": "Bearer",
                "expires_in": self.config.token_ttl, "scope": " ".join(sorted(asked))}

    def client_of(self, token):
        """(client_id, scopes) of a live token, or None."""
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or entry[2] <= time.time():
                return None
            return entry[0], entry[1]

    # ---- subscriptions (ES-02..ES-11) --------------------------------------------------------

    def link(self, path):
        return f"{self.config.base_url}{self.config.api_base}{path}"

    def create_subscription(self, client_id, version, callback_url, event_types):
        with self.lock:
            if client_id in self.subscriptions:
                raise BankError(409, "UK.OBIE.Rules.ResourceAlreadyExists",
                                "this TPP already has an event subscription")
            sub = Subscription(str(uuid.uuid4()), version, callback_url, event_types)
            self.subscriptions[client_id] = sub
            return sub.data()

    def list_subscriptions(self, client_id):
        with self.lock:
            sub = self.subscriptions.get(client_id)
            return [sub.data()] if sub else []

    def _owned(self, client_id, sub_id):
        sub = self.subscriptions.get(client_id)
        if sub is not None and sub.id == sub_id:
            return sub
        if any(s.id == sub_id for s in self.subscriptions.values()):
            raise BankError(403, "GB.ExampleBank.Resource.OtherTpp",
                            "the event subscription belongs to another TPP")
        raise BankError(400, "UK.OBIE.Resource.NotFound",
                        f"no event subscription {sub_id}", "EventSubscriptionId")

    def check_subscription(self, client_id, sub_id):
        """Raises unless `sub_id` is this TPP's subscription (400 unknown, 403 another's)."""
        with self.lock:
            self._owned(client_id, sub_id)

    def replace_subscription(self, client_id, sub_id, version, callback_url, event_types):
        with self.lock:
            sub = self._owned(client_id, sub_id)
            sub.version, sub.event_types = version, event_types
            sub.callback_url = callback_url
            if callback_url is None:
                # No CallbackUrl any more: what was being pushed now awaits polling.
                self._stop_pushing(client_id)
            return sub.data()

    def delete_subscription(self, client_id, sub_id):
        with self.lock:
            self._owned(client_id, sub_id)
            del self.subscriptions[client_id]
            # Without a subscription nothing is kept for the TPP (AP-03); the push queue drops
            # the deliveries of records that are gone.
            self.records[client_id].clear()
            self.wake[client_id].notify_all()

    def _stop_pushing(self, client_id):
        for rec in self.records[client_id].values():
            rec.pushing = False
        self.wake[client_id].notify_all()

    # ---- events -----------------------------------------------------------------------------

    def raise_event(self, client_id, urn, resource_id, resource_type, interaction_id):
        """Makes the SET of one event for `client_id`; says where it went."""
        if client_id not in self.config.clients:
            raise BankError(400, "UK.OBIE.Field.Invalid", f"unknown client {client_id}",
                            "client_id")
        jti = str(uuid.uuid4())
        with self.lock:
            sub = self.subscriptions.get(client_id)
            if sub is None or not sub.wants(urn):
                return {"jti": jti, "delivery": "none"}
            if len(self.records[client_id]) >= self.config.max_awaiting:
                raise BankError(429, "UK.OBIE.Rules.FailsControlParameters",
                                "too many SETs await this TPP; acknowledge some first")
        jws = self.signer.compact(self._claims(client_id, jti, urn, resource_id,
                                               resource_type, interaction_id))
        with self.lock:
            sub = self.subscriptions.get(client_id)
            if sub is None or not sub.wants(urn):  # changed while signing
                return {"jti": jti, "delivery": "none"}
            self.seq += 1
            queued = sub.callback_url is not None and self.push.offer(client_id, jti)
            self.records[client_id][jti] = Record(jti, self.seq, jws, queued)
            if not queued:
                self.wake[client_id].notify_all()
        return {"jti": jti, "delivery": "push" if queued else "polling"}

    def _claims(self, client_id, jti, urn, resource_id, resource_type, interaction_id):
        rty = resource_type or DEFAULT_RTY[urn]
        where = RESOURCE_PATHS.get(rty, rty + "s")
        link = self.link(f"/{where}/{quote(resource_id, safe='')}")
        now = int(time.time())
        subject = {
            "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
            "http://openbanking.org.uk/rid": resource_id,
            "http://openbanking.org.uk/rty": rty,
            "http://openbanking.org.uk/rlk": [{"version": "3.1", "link": link}],
        }
        return {
            "iss": self.config.base_url,
            "iat": now,
            "jti": jti,
            "aud": client_id,
            "sub": link,
            # 3.1.7+: txn may be the interaction id of the call that caused the change.
            "txn": interaction_id or jti,
            "toe": now,
            "events": {urn: {"subject": subject}},
        }

    # ---- push hand-over (called by bank_push) -----------------------------------------------

    def push_target(self, client_id, jti):
        """(SET, CallbackUrl) to push now, or None when the delivery has ended: acknowledged,
        subscription deleted, or CallbackUrl removed (then the SET awaits polling)."""
        with self.lock:
            rec = self.records[client_id].get(jti)
            sub = self.subscriptions.get(client_id)
            if rec is None or not rec.pushing:
                return None
            if sub is None or sub.callback_url is None:
                rec.pushing = False
                self.wake[client_id].notify_all()
                return None
            return rec.jws, sub.callback_url

    def push_done(self, client_id, jti, delivered):
        """Delivered: the SET is done. Failed for good: it awaits polling (R-09)."""
        with self.lock:
            rec = self.records[client_id].get(jti)
            if rec is None:
                return
            if delivered:
                del self.records[client_id][jti]
            else:
                rec.pushing = False
                self.wake[client_id].notify_all()

    # ---- aggregated polling (AP-04..AP-14) ----------------------------------------------------

    def poll(self, client_id, max_events, return_immediately, ack, set_errs):
        """The `OBEventPollingResponse1` for one validated poll request."""
        cap = self.config.max_events_cap
        limit = cap if max_events is None else min(max_events, cap)
        deadline = time.monotonic() + self.config.long_poll_timeout
        records = self.records[client_id]
        with self.lock:
            for jti in ack:
                records.pop(jti, None)
            # setErrs: the TPP could not use those SETs; they stay awaiting (AP-10).
            for jti in set_errs:
                if jti in records:
                    print(f"setErrs from {client_id}: {jti}: {set_errs[jti]['err']}",
                          file=sys.stderr, flush=True)
            while True:
                awaiting = [r for r in records.values() if not r.pushing]
                left = deadline - time.monotonic()
                if awaiting or limit == 0 or return_immediately or left <= 0:
                    break
                self.wake[client_id].wait(left)
            awaiting.sort(key=lambda r: r.seq)
            batch = awaiting[:limit]
            return {"sets": {r.jti: r.jws for r in batch},
                    "moreAvailable": len(awaiting) > len(batch)}
