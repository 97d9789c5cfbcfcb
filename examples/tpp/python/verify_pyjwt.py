"""Verifying a SET with PyJWT (2.15).

By itself PyJWT refuses every SET of the bank, before looking at the signature:
`jwt.exceptions.InvalidTokenError: Unsupported critical extension: http://openbanking.org.uk/iat`.
It accepts only the `crit` names in `PyJWS._supported_crit` (just `b64`) and has no public option
to add more, so this recipe subclasses `PyJWS` to add the three OB names to that set. That is a
private attribute: pin PyJWT and re-run the recipe test when you upgrade. The exact check of
`crit` (nothing but the three) stays with `ob_set.check_ob_header`.
"""

import json

import jwt

from ob_set import OB_CRIT, SetRejected, check_claims, check_ob_header


class _ObJWS(jwt.PyJWS):
    _supported_crit = jwt.PyJWS._supported_crit | OB_CRIT


_JWS = _ObJWS(algorithms=["PS256"])


def verify_set(token, jwks, issuer, client_id):
    """The claims of `token` once it passes every check, else `SetRejected`."""
    try:
        header = _JWS.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise SetRejected("invalid_request", str(e)) from e
    check_ob_header(header)
    jwk = next((k for k in jwks["keys"] if k.get("kid") == header["kid"]), None)
    if jwk is None:
        raise SetRejected("invalid_key", f"kid {header['kid']!r} is not in the bank's JWKS")
    try:
        key = jwt.PyJWK(jwk, algorithm="PS256")
        decoded = _JWS.decode_complete(token, key=key, algorithms=["PS256"])
        claims = json.loads(decoded["payload"])
    except (jwt.PyJWKError, jwt.InvalidTokenError) as e:
        raise SetRejected("invalid_key", str(e)) from e
    except ValueError as e:
        raise SetRejected("invalid_request", f"the payload is not JSON: {e}") from e
    check_claims(claims, issuer, client_id)
    return claims
