"""Verifies SETs read one per line from stdin, e.g. the values of `sets` from a poll.

    python3 check.py --lib pyjwt|jwcrypto --jwks-uri URI --issuer ISS --client-id ID < sets.txt

Prints `ok JTI` or `refused ERR: DESCRIPTION` per SET, in order. A TPP that polls acknowledges
the jtis that were ok (`ack`) and reports the others (`setErrs`) in its next poll.
"""

import argparse
import sys

from ob_set import SetRejected, fetch_jwks


def main():
    p = argparse.ArgumentParser(description="verify the bank's SETs")
    p.add_argument("--lib", choices=["pyjwt", "jwcrypto"], default="pyjwt")
    p.add_argument("--jwks-uri", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--client-id", required=True)
    a = p.parse_args()
    if a.lib == "pyjwt":
        from verify_pyjwt import verify_set
    else:
        from verify_jwcrypto import verify_set
    jwks = fetch_jwks(a.jwks_uri)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        try:
            claims = verify_set(token, jwks, a.issuer, a.client_id)
            print(f"ok {claims['jti']}", flush=True)
        except SetRejected as e:
            print(f"refused {e.err}: {e.description}", flush=True)


if __name__ == "__main__":
    main()
