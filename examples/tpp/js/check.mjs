// Verifies SETs read one per line from stdin, e.g. the values of `sets` from a poll.
//
//   node check.mjs --jwks-uri URI --issuer ISS --client-id ID < sets.txt
//
// Prints `ok JTI` or `refused ERR: DESCRIPTION` per SET, in order. A TPP that polls acknowledges
// the jtis that were ok (`ack`) and reports the others (`setErrs`) in its next poll.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet } from 'jose';
import { SetRejected, verifySet } from './ob-set.mjs';

const { values: opt } = parseArgs({
  options: { 'jwks-uri': { type: 'string' }, issuer: { type: 'string' }, 'client-id': { type: 'string' } },
});
const keys = createRemoteJWKSet(new URL(opt['jwks-uri']));
const expected = { issuer: opt.issuer, clientId: opt['client-id'] };

for await (const line of createInterface({ input: process.stdin })) {
  const token = line.trim();
  if (!token) continue;
  try {
    const claims = await verifySet(token, keys, expected);
    console.log(`ok ${claims.jti}`);
  } catch (e) {
    if (!(e instanceof SetRejected)) throw e;
    console.log(`refused ${e.err}: ${e.description}`);
  }
}
