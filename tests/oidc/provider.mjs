// Minimal OpenID Connect provider for Pult end-to-end tests (oidc-provider 8.8.1, panva; works unchanged on 9.x).
//
// Start:  npm ci --prefix tests/oidc && node tests/oidc/provider.mjs
// Config (environment variables, all optional):
//   PORT           TCP port on 127.0.0.1; 0 (default) = pick a free one
//   CLIENT_ID      default "pult"
//   CLIENT_SECRET  default "pult-secret"
//   REDIRECT_URIS  JSON array of redirect URIs, default ["http://127.0.0.1:9/callback"]
//   ACCOUNTS       JSON array of accounts, e.g.
//                  [{"sub":"mueller","password":"pw","groups":["lehrer"],"name":"Anna Müller","preferred_username":"mueller"}]
//                  every field except "password" is a claim.
// Once ready, prints exactly one line on stdout:  listening http://127.0.0.1:PORT
// That URL is the issuer. Everything else (library notices, warnings) goes to stderr.
//
// Client: authorization_code + response_type=code, PKCE (S256) required,
// client_secret_basic or client_secret_post, ID token RS256 (key on /jwks).
// Scopes: openid, profile (name, preferred_username), groups (groups), email.
// All claims of the granted scopes go into the ID token (conformIdTokenClaims: false).
//
// Login UI (no devInteractions): GET /interaction/:uid shows a form (fields `login`,
// `password`, button id `submit`) posting to /interaction/:uid/login, and a Cancel button
// (id `cancel`) posting to /interaction/:uid/abort, which ends the sign-in with access_denied. A wrong password
// re-renders the form (HTTP 200) with "wrong password"; a right one logs in AND grants
// consent for everything requested, so the flow continues to redirect_uri?code=..&state=..

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import Provider from 'oidc-provider';

// Library notices use console.info (stdout); keep stdout for our single line.
console.info = console.log = console.error;

const env = process.env;
const PORT = Number(env.PORT ?? 0);
const CLIENT_ID = env.CLIENT_ID ?? 'pult';
const CLIENT_SECRET = env.CLIENT_SECRET ?? 'pult-secret';
const REDIRECT_URIS = JSON.parse(env.REDIRECT_URIS ?? '["http://127.0.0.1:9/callback"]');
const ACCOUNTS = new Map(JSON.parse(env.ACCOUNTS ?? '[]').map((a) => [a.sub, a]));

// 1. Bind first, so the issuer can contain the actually chosen port.
const server = http.createServer();
await new Promise((resolve) => server.listen(PORT, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// 2. A fresh RS256 signing key per run (served on the JWKS endpoint).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: REDIRECT_URIS,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted too
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true }, // PKCE mandatory, S256 only
  scopes: ['openid'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false, // scope claims in the ID token, not only in userinfo
  features: { devInteractions: { enabled: false } },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  async findAccount(ctx, sub) {
    const account = ACCOUNTS.get(sub);
    if (!account) return undefined;
    const { password, ...claims } = account;
    return { accountId: sub, claims: async () => claims };
  },
});

// 3. Login form. uid comes from the provider (URL-safe); login is echoed, so escape it.
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function loginPage(res, uid, { login = '', error = '' } = {}) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Login</title></head><body>
<h1>Test IdP login</h1>${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<input name="login" id="login" value="${esc(login)}" autofocus>
<input name="password" id="password" type="password">
<button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit" id="cancel">Cancel</button></form>
</body></html>`);
}

// Consent: a Grant holding every scope/claim the authorization request asked for.
async function grantAll(details, accountId) {
  const { Grant } = provider;
  const grant = details.grantId ? await Grant.find(details.grantId)
    : new Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const claims = details.params.claims ? JSON.parse(details.params.claims) : {};
  grant.addOIDCClaims([...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {})]);
  return grant.save();
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return Object.fromEntries(new URLSearchParams(body));
}

// 4. Our interaction routes; everything else is the provider itself.
const callback = provider.callback();
server.on('request', async (req, res) => {
  const m = req.url.match(/^\/interaction\/([\w-]+)(\/login|\/abort)?$/);
  if (!m) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== m[1]) throw new Error('interaction mismatch');
    if (req.method === 'GET' && details.prompt.name === 'login') return loginPage(res, m[1]);
    if (req.method === 'GET' && details.prompt.name === 'consent') {
      // Already logged in (session cookie): only consent missing, grant it silently.
      const grantId = await grantAll(details, details.session.accountId);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (req.method === 'POST' && m[2] === '/abort') {
      // The user gives up: the client is told access_denied.
      return provider.interactionFinished(req, res,
        { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
        { mergeWithLastSubmission: false });
    }
    if (req.method === 'POST' && m[2] === '/login') {
      const { login = '', password = '' } = await readForm(req);
      const account = ACCOUNTS.get(login);
      if (!account || account.password !== password) {
        return loginPage(res, m[1], { login, error: 'wrong password' });
      }
      const grantId = await grantAll(details, login);
      return provider.interactionFinished(req, res,
        { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
    }
    res.writeHead(405).end();
  } catch (err) {
    console.error(err);
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`interaction error: ${err.message} ${err.error_description ?? ""}\n`);
  }
});

process.stdout.write(`listening ${issuer}\n`);
