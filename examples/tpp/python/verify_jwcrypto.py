"""Verifying a SET with jwcrypto (1.6).

By itself jwcrypto refuses every SET of the bank: `JWS.verify` raises
`InvalidJWSSignature: Verification failed for all signatures[... Unknown critical header:
"http://openbanking.org.uk/iat" ...]`. Its own way out is the `header_registry` argument of
`JWS`: registering the three OB members as known, supported and integrity-protected makes it
accept them in `crit` (and insist that they are present). The exact check of `crit` (nothing
but the three) stays with `ob_set.check_ob_header`.
"""

import json

from jwcrypto import jwk, jws
from jwcrypto.common import JWException, JWSEHeaderParameter

from ob_set import OB_CRIT, SetRejected, check_claims, check_ob_header

_OB_HEADER_REGISTRY = {
    name: JWSEHeaderParameter(f"Open Banking {name}", True, True, None) for name in OB_CRIT
}


def verify_set(token, jwks, issuer, client_id):
    """The claims of `token` once it passes every check, else `SetRejected`."""
    keys = jwk.JWKSet.from_json(json.dumps(jwks))
    sig = jws.JWS(header_registry=_OB_HEADER_REGISTRY)
    sig.allowed_algs = ["PS256"]
    try:
        sig.deserialize(token)
        kid = sig.jose_header.get("kid")
        if not isinstance(kid, str) or keys.get_key(kid) is None:
            raise SetRejected("invalid_key", f"kid {kid!r} is not in the bank's JWKS")
        sig.verify(keys.get_key(kid))
    except JWException as e:
        raise SetRejected("invalid_key", str(e)) from e
    check_ob_header(sig.jose_header)
    try:
        claims = json.loads(sig.payload)
    except ValueError as e:
        raise SetRejected("invalid_request", f"the payload is not JSON: {e}") from e
    check_claims(claims, issuer, client_id)
    return claims
