// Verifying a SET with jose (6.x), the npm package.
//
// By itself jose refuses every SET of the bank: jwtVerify throws
// `JOSENotSupported: Extension Header Parameter "http://openbanking.org.uk/iat" is not recognized`.
// Its `crit` option is the way to accept them: name the three OB members there (`true`: they must
// be integrity protected). jose then only checks their syntax; it neither requires them nor stops
// `crit` from naming `b64`, so checkObHeader below insists on exactly the three.
import { errors, jwtVerify } from 'jose';

export const OB_IAT = 'http://openbanking.org.uk/iat';
export const OB_ISS = 'http://openbanking.org.uk/iss';
export const OB_TAN = 'http://openbanking.org.uk/tan';
const OB_CRIT = [OB_IAT, OB_ISS, OB_TAN];

// How far ahead of ours the bank's clock may run before its OB iat counts as "in the future".
const CLOCK_SKEW_SECS = 60;

/** A SET this TPP will not act on; `err` is an RFC 8935 error code for the 400 answer. */
export class SetRejected extends Error {
  constructor(err, description) {
    super(`${err}: ${description}`);
    this.err = err;
    this.description = description;
  }
}

function checkObHeader(h) {
  const crit = h.crit;
  if (!Array.isArray(crit) || crit.length !== OB_CRIT.length || !OB_CRIT.every((n) => crit.includes(n))) {
    throw new SetRejected('invalid_request', `crit ${JSON.stringify(crit)} is not exactly the three OB members`);
  }
  if (!Number.isInteger(h[OB_IAT])) throw new SetRejected('invalid_request', `${OB_IAT} is not a number`);
  if (h[OB_IAT] > Date.now() / 1000 + CLOCK_SKEW_SECS) {
    throw new SetRejected('invalid_request', `${OB_IAT} ${h[OB_IAT]} is in the future`);
  }
  for (const name of [OB_ISS, OB_TAN]) {
    if (typeof h[name] !== 'string') throw new SetRejected('invalid_request', `${name} is not a string`);
  }
}

/** The RFC 8935 error code for an error of jwtVerify. */
function errorCode(e) {
  if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey) return 'invalid_key';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'invalid_key';
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'iss') return 'invalid_issuer';
  if (e instanceof errors.JWTClaimValidationFailed && e.claim === 'aud') return 'invalid_audience';
  return 'invalid_request';
}

/**
 * The claims of `token` once it passes every check, else throws SetRejected. `keys` is what
 * createRemoteJWKSet(new URL(jwksUri)) returns: it picks the key by `kid`.
 */
export async function verifySet(token, keys, { issuer, clientId }) {
  let verified;
  try {
    verified = await jwtVerify(token, keys, {
      algorithms: ['PS256'],
      issuer,
      audience: clientId,
      crit: Object.fromEntries(OB_CRIT.map((name) => [name, true])),
    });
  } catch (e) {
    throw new SetRejected(errorCode(e), e.message);
  }
  const { protectedHeader, payload } = verified;
  checkObHeader(protectedHeader);
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new SetRejected('invalid_request', 'no jti');
  if (typeof payload.events !== 'object' || payload.events === null || Object.keys(payload.events).length === 0) {
    throw new SetRejected('invalid_request', 'events is not a non-empty object');
  }
  return payload;
}
