"""The Open Banking part of checking a SET, the same whichever JWT library checks the signature.

A SET from the bank is a compact JWS signed PS256 whose protected header carries `kid` and three
OB members, all three named in `crit`. A JWT library verifies the signature; this module checks
what OB and RFC 8417 add: `crit` names exactly the three OB members (nothing else, not even the
`b64` the libraries understand by themselves), the OB `iat` is not in the future, and the claims
are addressed to this TPP by this bank.
"""

import json
import time
import urllib.request

OB_IAT = "http://openbanking.org.uk/iat"
OB_ISS = "http://openbanking.org.uk/iss"
OB_TAN = "http://openbanking.org.uk/tan"
OB_CRIT = frozenset({OB_IAT, OB_ISS, OB_TAN})

# How far ahead of ours the bank's clock may run before its OB iat counts as "in the future".
CLOCK_SKEW_SECS = 60


class SetRejected(Exception):
    """A SET this TPP will not act on; `err` is an RFC 8935 error code for the 400 answer."""

    def __init__(self, err, description):
        super().__init__(f"{err}: {description}")
        self.err = err
        self.description = description


def fetch_jwks(uri, timeout=10):
    """The bank's JWKS, as served at its `jwks_uri`."""
    with urllib.request.urlopen(uri, timeout=timeout) as resp:
        jwks = json.load(resp)
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"{uri} did not answer a JWKS")
    return jwks


def check_ob_header(header):
    """Refuses a protected header that is not what OB prescribes for a SET."""
    if header.get("alg") != "PS256":
        raise SetRejected("invalid_key", f"alg {header.get('alg')!r} is not PS256")
    if not isinstance(header.get("kid"), str):
        raise SetRejected("invalid_key", "no kid in the header")
    crit = header.get("crit")
    if not isinstance(crit, list) or len(crit) != len(OB_CRIT) or set(crit) != OB_CRIT:
        raise SetRejected("invalid_request", f"crit {crit!r} is not exactly the three OB members")
    iat = header.get(OB_IAT)
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise SetRejected("invalid_request", f"{OB_IAT} is not a number")
    if iat > time.time() + CLOCK_SKEW_SECS:
        raise SetRejected("invalid_request", f"{OB_IAT} {iat} is in the future")
    for name in (OB_ISS, OB_TAN):
        if not isinstance(header.get(name), str):
            raise SetRejected("invalid_request", f"{name} is not a string")


def check_claims(claims, issuer, client_id):
    """Refuses a SET that is not from `issuer`, not for `client_id`, or not a SET at all."""
    if not isinstance(claims, dict):
        raise SetRejected("invalid_request", "the payload is not a JSON object")
    if claims.get("iss") != issuer:
        raise SetRejected("invalid_issuer", f"iss {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud")
    if aud != client_id and not (isinstance(aud, list) and client_id in aud):
        raise SetRejected("invalid_audience", f"aud {aud!r} does not name {client_id!r}")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise SetRejected("invalid_request", "no jti")
    events = claims.get("events")
    if not isinstance(events, dict) or not events:
        raise SetRejected("invalid_request", "events is not a non-empty object")
