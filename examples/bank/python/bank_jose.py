"""Signing for the example bank: one RSA key made at start, PS256 compact JWS for SETs and
detached JWS for the `x-jws-signature` of subscription responses, both with the OB JOSE header.

The OB Read/Write profile ("Message Signing", rules J-02..J-06 and G-14 of obie-rules.md) asks for
`alg` PS256, a `kid` the verifier can resolve (here: in the bank's `/jwks`), the three OB private
header members `http://openbanking.org.uk/iat`, `/iss`, `/tan`, and a `crit` that names exactly
those three. `typ`, when present, must be `JOSE` (J-04), so that is what is sent. From 3.1.4 on
there is no `b64` member: the payload is base64url encoded in the signing input, also when the
signature is detached (RFC 7515 appendix F).
"""

import base64
import hashlib
import json
import time

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm, RSAPSSAlgorithm

OB_IAT = "http://openbanking.org.uk/iat"
OB_ISS = "http://openbanking.org.uk/iss"
OB_TAN = "http://openbanking.org.uk/tan"


def b64url(data):
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_bytes(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Signer:
    """The bank's signing key and its OB identity (`ob_iss`, the trust anchor `tan`)."""

    def __init__(self, ob_iss, tan):
        self.ob_iss = ob_iss
        self.tan = tan
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._alg = RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256)
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        # RFC 7638 thumbprint: the kid names this key and no other.
        canonical = _json_bytes({"e": public["e"], "kty": "RSA", "n": public["n"]})
        self.kid = b64url(hashlib.sha256(canonical).digest())
        self._jwk = {"kty": "RSA", "n": public["n"], "e": public["e"],
                     "kid": self.kid, "use": "sig", "alg": "PS256"}

    def jwks(self):
        """The public JWKS document served at `/jwks`."""
        return {"keys": [dict(self._jwk)]}

    def _header(self):
        return {
            "alg": "PS256",
            "kid": self.kid,
            "typ": "JOSE",
            OB_IAT: int(time.time()),
            OB_ISS: self.ob_iss,
            OB_TAN: self.tan,
            "crit": [OB_IAT, OB_ISS, OB_TAN],
        }

    def _sign(self, header_b64, payload_b64):
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        return b64url(self._alg.sign(signing_input, self._key))

    def compact(self, claims):
        """A compact JWS of `claims` (a SET): header.payload.signature."""
        header_b64 = b64url(_json_bytes(self._header()))
        payload_b64 = b64url(_json_bytes(claims))
        return f"{header_b64}.{payload_b64}.{self._sign(header_b64, payload_b64)}"

    def detached(self, body):
        """A detached JWS over the response body bytes: header..signature."""
        header_b64 = b64url(_json_bytes(self._header()))
        return f"{header_b64}..{self._sign(header_b64, b64url(body))}"


class RequestSignatureError(Exception):
    """Why a request's `x-jws-signature` is refused: an OBIE `UK.OBIE.Signature.*` code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RequestVerifier:
    """Verifies the detached `x-jws-signature` of a TPP's request (G-14) with the TPPs' public
    keys (a JWKS file given with `--tpp-jwks`): PS256, a `kid` of that JWKS, the OB header
    members named by `crit`, the signature over the body as sent."""

    def __init__(self, jwks, skew=60):
        self.skew = skew
        self.keys = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str):
                self.keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
        if not self.keys:
            raise ValueError("the JWKS has no RSA key with a kid")
        self._alg = RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256)

    def verify(self, signature, body):
        if not signature:
            raise RequestSignatureError("UK.OBIE.Signature.Missing",
                                        "this request must carry an x-jws-signature")
        parts = signature.strip().split(".")
        if len(parts) != 3 or parts[1]:
            raise RequestSignatureError(
                "UK.OBIE.Signature.Malformed",
                "x-jws-signature must be a detached JWS (header..signature)")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            sig = _b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise RequestSignatureError("UK.OBIE.Signature.Malformed",
                                        "x-jws-signature is not base64url JSON") from None
        if not isinstance(header, dict):
            raise RequestSignatureError("UK.OBIE.Signature.Malformed",
                                        "the JOSE header is not an object")
        self._check_header(header)
        # RFC 7797: with b64 false (3.1.2/3.1.3) the body itself is signed, else its base64url.
        payload = body if header.get("b64") is False else b64url(body).encode("ascii")
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise RequestSignatureError("UK.OBIE.Signature.Invalid",
                                        "the kid names no key of this TPP")
        if not self._alg.verify(parts[0].encode("ascii") + b"." + payload, key, sig):
            raise RequestSignatureError("UK.OBIE.Signature.Invalid",
                                        "the signature does not verify over the body")

    def _check_header(self, header):
        if header.get("alg") != "PS256":
            raise RequestSignatureError("UK.OBIE.Signature.InvalidClaim", "alg must be PS256")
        for name in ("kid", OB_IAT, OB_ISS, OB_TAN, "crit"):
            if name not in header:
                raise RequestSignatureError("UK.OBIE.Signature.MissingClaim",
                                            f"the JOSE header lacks {name}")
        crit = header["crit"]
        known = {OB_IAT, OB_ISS, OB_TAN, "b64"}
        names = set(crit) if isinstance(crit, list) and all(
            isinstance(c, str) for c in crit) else set()
        if not {OB_IAT, OB_ISS, OB_TAN} <= names or not names <= known:
            raise RequestSignatureError("UK.OBIE.Signature.InvalidClaim",
                                        "crit must name the three OB header members")
        iat = header[OB_IAT]
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) \
                or iat > time.time() + self.skew:
            raise RequestSignatureError("UK.OBIE.Signature.InvalidClaim",
                                        f"{OB_IAT} must be a time in the past")
        for name in (OB_ISS, OB_TAN):
            if not isinstance(header[name], str) or not header[name]:
                raise RequestSignatureError("UK.OBIE.Signature.InvalidClaim",
                                            f"{name} must be a non-empty string")
