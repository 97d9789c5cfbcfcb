// A TPP's real-time event-notification endpoint (OBIE push, RFC 8935).
//
//   node receiver.mjs --jwks-uri URI --issuer ISS --client-id ID [--port N]
//
// The bank POSTs each SET as the body (`Content-Type: application/jwt`) to
// `.../open-banking/v3.1/event-notifications`. A SET that verifies is answered 202 with the
// request's `x-fapi-interaction-id` echoed; a bad one 400 with an RFC 8935 error body; the same
// jti pushed again is answered 202 and not handled twice. Prints `listening on URL`, then one
// line per SET: `accepted JTI`, `duplicate JTI` or `refused ERR: DESCRIPTION`.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, errors } from 'jose';
import { SetRejected, verifySet } from './ob-set.mjs';

const PATH = '/open-banking/v3.1/event-notifications';
const MAX_BODY = 64 * 1024;

const { values: opt } = parseArgs({
  options: {
    'jwks-uri': { type: 'string' },
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});
const remote = createRemoteJWKSet(new URL(opt['jwks-uri']));
// createRemoteJWKSet fetches again on an unknown kid only 30 s after its last fetch; a bank
// that rotates its key may sign with the new one at once, so an unknown kid reloads the set once.
async function keys(header, token) {
  try {
    return await remote(header, token);
  } catch (e) {
    if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
    await remote.reload();
    return remote(header, token);
  }
}
const expected = { issuer: opt.issuer, clientId: opt['client-id'] };
const seen = new Set();

function answer(req, res, status, body) {
  const headers = {};
  const interactionId = req.headers['x-fapi-interaction-id'];
  if (interactionId) headers['x-fapi-interaction-id'] = interactionId;
  if (body) {
    // RFC 8935 §2.3: an error answer says its language.
    headers['content-type'] = 'application/json';
    headers['content-language'] = 'en';
  }
  res.writeHead(status, headers).end(body ? JSON.stringify(body) : undefined);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('ascii').trim();
}

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== PATH) return answer(req, res, 404);
  if ((req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() !== 'application/jwt') {
    return answer(req, res, 415);
  }
  const token = await readBody(req);
  if (token === null) return answer(req, res, 413);
  let claims;
  try {
    claims = await verifySet(token, keys, expected);
  } catch (e) {
    if (!(e instanceof SetRejected)) throw e;
    console.log(`refused ${e.err}: ${e.description}`);
    return answer(req, res, 400, { err: e.err, description: e.description });
  }
  const first = !seen.has(claims.jti);
  seen.add(claims.jti);
  // Act on the event here (e.g. queue it); answer quickly, the bank is waiting.
  console.log(`${first ? 'accepted' : 'duplicate'} ${claims.jti}`);
  answer(req, res, 202);
});

server.listen(Number(opt.port), opt.host, () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}${PATH}`);
});
