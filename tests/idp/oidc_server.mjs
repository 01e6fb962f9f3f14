// Throwaway OpenID Connect provider for Atrium's tests and local SSO trials (started by
// scripts/dev-idp.sh; npm oidc-provider pinned in package.json next to this file).
//
// Usage: node oidc_server.mjs DIR
//   DIR holds what dev-idp.sh prepared: server.pem/server.key (TLS for 127.0.0.1, signed by DIR/ca.pem),
//   oidc-client-secret, admin-token, users.json and clients.json. Serves HTTPS on 127.0.0.1, a free port,
//   and prints "OIDC_ISSUER=https://127.0.0.1:PORT" on stdout once listening.
//
// users.json is re-read at every claims lookup, so a test changes a person's groups (or email) at the
// provider by rewriting it. The login page is oidc-provider's development one (devInteractions): it
// accepts any login name; names not in users.json get an unverified email and no groups.
//
// Admin endpoints (Authorization: Bearer <DIR/admin-token>):
//   POST /_admin/rotate-keys            new RS256 and ES256 keys become current; the old ones stay
//                                       published in the JWKS (as a real rotation does)
//   POST /_admin/rotate-keys?drop_old=1 same, and the old keys are withdrawn from the JWKS
//   GET  /_admin/keys                   {"kids": [...]} current JWKS key ids, signing keys first
// Rotation swaps in a new Provider instance on the same port; sessions, codes and grants live in the
// module-level memory adapter, so flows under way survive it.
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync, randomUUID, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

const dir = process.argv[2];
if (!dir) { process.stderr.write('usage: node oidc_server.mjs DIR\n'); process.exit(2); }
const file = (name) => path.join(dir, name);
const readJson = (name) => JSON.parse(fs.readFileSync(file(name), 'utf8'));

const jwk = (type, opts, alg) => ({
  ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }),
  kid: `${alg}-${randomUUID().slice(0, 8)}`, alg, use: 'sig',
});
const newKeys = () => [jwk('rsa', { modulusLength: 2048 }, 'RS256'), jwk('ec', { namedCurve: 'P-256' }, 'ES256')];
let keys = newKeys();

const secret = fs.readFileSync(file('oidc-client-secret'), 'utf8').trim();
const adminToken = Buffer.from(fs.readFileSync(file('admin-token'), 'utf8').trim());
// clients.json: [{client_id, alg, auth ("client_secret_basic"|"none"), redirect_uris}]
const clients = readJson('clients.json').map((c) => ({
  client_id: c.client_id,
  ...(c.auth === 'none' ? { token_endpoint_auth_method: 'none' }
    : { client_secret: secret, token_endpoint_auth_method: c.auth }),
  // "native": oidc-provider then accepts any port on a loopback redirect URI (RFC 8252 7.3), so
  // Atrium's callback on whatever port the test server got matches the registered one.
  application_type: 'native',
  redirect_uris: c.redirect_uris,
  post_logout_redirect_uris: c.redirect_uris.map((u) => new URL('/', u).href),
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  id_token_signed_response_alg: c.alg,
}));

// users.json: {login: {email, email_verified, preferred_username, name, groups}}. The subject (sub) is
// the login name: the dev login page makes it the account id.
function claimsFor(id) {
  let users = {};
  try { users = readJson('users.json'); } catch (e) { process.stderr.write(`users.json: ${e.message}\n`); }
  const u = Object.hasOwn(users, id) ? users[id] : undefined;
  if (!u) return { sub: id, email: `${id}@unknown.example.test`, email_verified: false, name: id,
    preferred_username: id, groups: [] };
  return { sub: id, email: u.email, email_verified: u.email_verified, name: u.name,
    preferred_username: u.preferred_username ?? id, groups: u.groups ?? [] };
}

const server = https.createServer({ key: fs.readFileSync(file('server.key')), cert: fs.readFileSync(file('server.pem')) });
await new Promise((r) => server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', r));
const issuer = `https://127.0.0.1:${server.address().port}`;

function makeProvider() {
  const p = new Provider(issuer, {
    jwks: { keys },
    clients,
    cookies: { keys: ['dev-idp-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'],
      groups: ['groups'] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    // claims go into the ID token too, so a relying party needs no userinfo call
    conformIdTokenClaims: false,
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsFor(id) }),
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
  p.proxy = false;
  return p;
}
let handler = makeProvider().callback();

function admin(req, res) {
  const auth = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.concat([Buffer.from('Bearer '), adminToken]);
  const send = (code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  if (auth.length !== want.length || !timingSafeEqual(auth, want)) return send(401, { error: 'admin token required' });
  const url = new URL(req.url, issuer);
  if (req.method === 'POST' && url.pathname === '/_admin/rotate-keys') {
    keys = url.searchParams.get('drop_old') === '1' ? newKeys() : [...newKeys(), ...keys];
    handler = makeProvider().callback();
  } else if (!(req.method === 'GET' && url.pathname === '/_admin/keys')) {
    return send(404, { error: 'no such admin endpoint' });
  }
  return send(200, { kids: keys.map((k) => k.kid) });
}

server.on('request', (req, res) => (req.url.startsWith('/_admin/') ? admin(req, res) : handler(req, res)));
process.stdout.write(`OIDC_ISSUER=${issuer}\n`);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => { server.close(); process.exit(0); });
