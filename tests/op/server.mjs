// Development OpenID Provider for the mod_auth_oidc end-to-end tests.
//
// NEVER use this outside tests: fixed keys, fixed secrets, fixed users, and a
// /__test/* control API that forges ID tokens on request.
//
//   node tests/op/server.mjs --port P [--keyset a|b|ab] [--issuer URL]
//                            [--tls-cert cert.pem --tls-key key.pem]
//
// With --tls-cert/--tls-key it serves HTTPS (default issuer https://localhost:P).
// Listens on 127.0.0.1:P and prints "READY <issuer>" on stdout once listening.
// Built on oidc-provider 8.8.1 (runs on Node 18 and 20). See tests/e2e/README.md
// for the headless login steps and the control API.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createPublicKey } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';
import * as jose from 'jose';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------- arguments
const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    keyset: { type: 'string', default: 'a' },
    issuer: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});
const PORT = Number.parseInt(args.port, 10);
if (!Number.isInteger(PORT) || PORT < 1 || PORT > 65535) {
  console.error(`bad --port ${args.port}`);
  process.exit(2);
}
if (!args['tls-cert'] !== !args['tls-key']) {
  console.error('--tls-cert and --tls-key go together');
  process.exit(2);
}
const TLS = args['tls-cert']
  ? { cert: readFileSync(args['tls-cert']), key: readFileSync(args['tls-key']) }
  : null;

// ---------------------------------------------------------------- keys
function loadJwks(name) {
  return JSON.parse(readFileSync(join(HERE, 'keys', `keyset-${name}.json`), 'utf8')).keys;
}
const KEYSETS = {
  a: () => loadJwks('a'),
  b: () => loadJwks('b'),
  // rotation with overlap: signs with rsa-b, still publishes rsa-a and ec-a
  ab: () => [...loadJwks('b'), ...loadJwks('a')],
};
if (!KEYSETS[args.keyset]) {
  console.error(`bad --keyset ${args.keyset} (a, b or ab)`);
  process.exit(2);
}
const SIGNING_KEYS = KEYSETS[args.keyset]();
const ROGUE_KEY = JSON.parse(readFileSync(join(HERE, 'keys', 'rogue.json'), 'utf8')).keys[0];
const HAS_EC = SIGNING_KEYS.some((k) => k.kty === 'EC');

function secret(name) {
  return readFileSync(join(HERE, 'secrets', `${name}.secret`), 'utf8').trim();
}

// ---------------------------------------------------------------- users
const USERS = {
  alice: {
    password: 'alice-pw',
    claims: {
      email: 'alice@example.com', email_verified: true, name: 'Alice Liddell',
      given_name: 'Alice', family_name: 'Liddell', preferred_username: 'alice',
      groups: ['staff', 'admins'],
    },
  },
  bob: {
    password: 'bob-pw',
    claims: {
      email: 'bob@example.com', email_verified: true, name: 'Bob Builder',
      given_name: 'Bob', family_name: 'Builder', preferred_username: 'bob',
      groups: ['staff'],
    },
  },
  carol: {
    password: 'carol-pw',
    claims: {
      email: 'carol@example.com', email_verified: false, name: 'Carol Danvers',
      given_name: 'Carol', family_name: 'Danvers', preferred_username: 'carol',
      groups: [],
    },
  },
  // non-ASCII claims, for claim-encoding tests
  dave: {
    password: 'dave-pw',
    claims: {
      email: 'dave@example.com', email_verified: true, name: 'Dörte Ñúñez 日本',
      given_name: 'Dörte', family_name: 'Ñúñez', preferred_username: 'dave',
      groups: ['staff', 'Ünïcode group'],
    },
  },
  // a sub (the user id) with a quote, control characters and a newline: log lines must escape it
  'mallory "q" \u0007\u001b[31m\nnext': {
    password: 'mallory-pw',
    claims: {
      email: 'mallory@example.com', email_verified: true, name: 'Mallory "M"\u0007',
      given_name: 'Mallory', family_name: 'M', preferred_username: 'mallory',
      groups: ['staff'],
    },
  },
};

// ---------------------------------------------------------------- mutable test state
const DEFAULT_TTL = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  ClientCredentials: 600,
  IdToken: 3600,
  Interaction: 600,
  RefreshToken: 86400,
  Session: 86400,
  Grant: 86400,
};
const state = {
  nextIdToken: null, // { mode, set }
  ttl: { ...DEFAULT_TTL },
  offlineWithoutConsent: false,
  jwksDown: false,
  rotateRefreshTokens: false, // every refresh gets a new refresh token; a reused one revokes the grant
  tokenDelayMs: 0, // the token endpoint answers refresh grants this much later
  refuseRefresh: false, // refresh grants get 400 invalid_grant
  noIss: false, // behave as a provider without RFC 9207 (no iss in responses or metadata)
  userinfoOnly: [], // claim names left out of ID tokens (userinfo still has them)
  claimsOverride: {}, // accountId -> claims merged over USERS[id].claims
  stats: {},
  events: [],
};
const STAT_NAMES = [
  'discovery', 'jwks', 'authorization', 'token', 'userinfo', 'introspection',
  'revocation', 'end_session', 'interaction', 'backchannel_success',
  'backchannel_error', 'mutations_applied', 'login_failed',
  'refresh', 'refresh_error',
];
function resetStats() {
  state.stats = Object.fromEntries(STAT_NAMES.map((n) => [n, 0]));
}
resetStats();
function event(type, fields) {
  state.events.push({ type, time: Date.now() / 1000, ...fields });
  if (state.events.length > 200) state.events.shift();
}

// ---------------------------------------------------------------- clients
const LOOPBACK_RP = (path) => [`http://127.0.0.1${path}`, `http://localhost${path}`];
const envList = (name) => (process.env[name] || '').split(',').map((s) => s.trim()).filter(Boolean);

const REDIRECT_URIS = [...LOOPBACK_RP('/oidc/callback'), ...envList('OP_REDIRECT_URIS')];
const POST_LOGOUT_URIS = [
  ...LOOPBACK_RP('/loggedout.html'), ...LOOPBACK_RP('/'), ...envList('OP_POST_LOGOUT_REDIRECT_URIS'),
];
const BACKCHANNEL_URI = process.env.OP_BACKCHANNEL_LOGOUT_URI || 'http://127.0.0.1:9/oidc/backchannel';

function rpClient(clientId, authMethod, extra = {}) {
  return {
    client_id: clientId,
    client_secret: secret(clientId),
    token_endpoint_auth_method: authMethod,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_URIS,
    backchannel_logout_uri: BACKCHANNEL_URI,
    backchannel_logout_session_required: true,
    id_token_signed_response_alg: 'RS256',
    require_auth_time: true, // as Keycloak and most providers: auth_time in every ID token
    ...extra,
  };
}
const CLIENTS = [
  rpClient('app', 'client_secret_basic'),
  rpClient('app-post', 'client_secret_post'),
  ...(HAS_EC ? [rpClient('app-es256', 'client_secret_basic', { id_token_signed_response_alg: 'ES256' })] : []),
  {
    client_id: 'api-client',
    client_secret: secret('api-client'),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    // resource server: may only call introspection (and revocation)
    client_id: 'api-rs',
    client_secret: secret('api-rs'),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
];
const FIRST_PARTY = new Set(CLIENTS.map((c) => c.client_id));

// Resource servers (RFC 8707). JWT access tokens for the API, opaque for the other one.
const RESOURCES = {
  'https://api.example.test': { scope: 'api:read api:write', accessTokenFormat: 'jwt' },
  'https://opaque-api.example.test': { scope: 'api:read api:write', accessTokenFormat: 'opaque' },
};

// ---------------------------------------------------------------- provider
const ISSUER = args.issuer || (TLS ? `https://localhost:${PORT}` : `http://127.0.0.1:${PORT}`);
const MOUNT = new URL(ISSUER).pathname.replace(/\/$/, '');

const ttlFn = (name) => () => state.ttl[name];

const configuration = {
  clients: CLIENTS,
  jwks: { keys: SIGNING_KEYS },
  cookies: {
    keys: ['aoidc-test-op-cookie-key-1-not-secret', 'aoidc-test-op-cookie-key-2-not-secret'],
  },
  async findAccount(ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims(use) {
        const c = { sub: id, ...user.claims, ...(state.claimsOverride[id] || {}) };
        if (use === 'id_token') for (const k of state.userinfoOnly) delete c[k];
        return c;
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api:read', 'api:write'],
  conformIdTokenClaims: false,
  // off: the library default never rotates within the short test TTLs anyway.
  // On (/__test/config rotate_refresh_tokens): the library consumes the old
  // refresh token and, when it is used again, revokes the whole grant.
  rotateRefreshToken: () => state.rotateRefreshTokens,
  pkce: { methods: ['S256'], required: () => true },
  ttl: Object.fromEntries(Object.keys(DEFAULT_TTL).map((k) => [k, ttlFn(k)])),
  interactions: {
    url(ctx, interaction) {
      return `${MOUNT}/interaction/${interaction.uid}`;
    },
  },
  // First-party clients never see a consent screen: grant what they ask for.
  // A consent prompt still happens with prompt=consent (needed for offline_access);
  // the interaction handler below approves it without a form.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    if (!FIRST_PARTY.has(ctx.oidc.client.clientId)) return undefined;
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    grant.addOIDCClaims(Object.values(configuration.claims).flat());
    for (const [indicator, info] of Object.entries(RESOURCES)) {
      grant.addResourceScope(indicator, info.scope);
    }
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo(ctx, resourceIndicator) {
        const info = RESOURCES[resourceIndicator];
        if (!info) throw new errors.InvalidTarget();
        return {
          audience: resourceIndicator,
          scope: info.scope,
          accessTokenFormat: info.accessTokenFormat,
          accessTokenTTL: state.ttl.AccessToken,
          ...(info.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>OP error</title></head><body>
<h1>OP error</h1><pre id="error">${escapeHtml(JSON.stringify(out, null, 2))}</pre></body></html>`;
  },
};

const provider = new Provider(ISSUER, configuration);
provider.proxy = false;

// Any port on a loopback host is fine when the path and host of a registered URI
// match (the RP's Apache runs on a random port). Exact matches work as usual.
const LOOPBACKS = new Set(['127.0.0.1', 'localhost', '[::1]']);
function uriAllowed(value, registered) {
  let parsed;
  try { parsed = new URL(value); } catch { return false; }
  if (registered.some((r) => { try { return new URL(r).href === parsed.href; } catch { return false; } })) return true;
  if (parsed.protocol !== 'http:' || !LOOPBACKS.has(parsed.hostname)) return false;
  parsed.port = '';
  return registered.some((r) => {
    let reg;
    try { reg = new URL(r); } catch { return false; }
    if (reg.protocol !== 'http:' || !LOOPBACKS.has(reg.hostname)) return false;
    reg.port = '';
    return reg.href === parsed.href;
  });
}
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  return uriAllowed(value, this.redirectUris || []);
};
provider.Client.prototype.postLogoutRedirectUriAllowed = function plrAllowed(value) {
  return uriAllowed(value, this.postLogoutRedirectUris || []);
};

// Client properties /__test/client may change, with their start values for /__test/reset.
const CLIENT_KNOBS = {
  redirect_uris: 'redirectUris',
  post_logout_redirect_uris: 'postLogoutRedirectUris',
  backchannel_logout_uri: 'backchannelLogoutUri',
};
const clientSnapshots = new Map();
async function clientFor(id) {
  const client = await provider.Client.find(id);
  if (client && !clientSnapshots.has(id)) {
    clientSnapshots.set(id, Object.fromEntries(
      Object.values(CLIENT_KNOBS).map((p) => [p, structuredClone(client[p])]),
    ));
  }
  return client;
}

for (const name of ['backchannel.success', 'backchannel.error', 'end_session.success',
  'grant.revoked', 'server_error', 'authorization.error', 'grant.error',
  'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error']) {
  provider.on(name, (ctx, ...rest) => {
    const fields = {};
    if (name === 'backchannel.success') {
      const [client, accountId, sid] = rest;
      state.stats.backchannel_success += 1;
      Object.assign(fields, { client_id: client.clientId, uri: client.backchannelLogoutUri, sub: accountId, sid });
    } else if (name === 'backchannel.error') {
      const [err, client, accountId, sid] = rest;
      state.stats.backchannel_error += 1;
      Object.assign(fields, {
        client_id: client.clientId, uri: client.backchannelLogoutUri, sub: accountId, sid, error: String(err?.message || err),
      });
    } else if (rest[0] instanceof Error) {
      Object.assign(fields, { error: rest[0].name, error_description: rest[0].error_description || rest[0].message });
      if (name === 'server_error') console.error('server_error', rest[0]);
    } else if (name === 'grant.revoked') {
      fields.grant_id = rest[0];
    }
    event(name, fields);
  });
}

// ---------------------------------------------------------------- helpers
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

async function readBody(ctx, limit = 65536) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, 'body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
async function readForm(ctx) {
  return Object.fromEntries(new URLSearchParams(await readBody(ctx)));
}
async function readJson(ctx) {
  const text = await readBody(ctx);
  if (!text) return {};
  try { return JSON.parse(text); } catch { ctx.throw(400, 'invalid JSON'); }
  return {};
}

function loginPage(ctx, uid, { error, login = '', status = 200 } = {}) {
  const action = `${MOUNT}/interaction/${uid}`;
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in to the test OP</title></head>
<body>
<h1>Sign in</h1>
${error ? `<p id="error" class="error">${escapeHtml(error)}</p>` : ''}
<form id="login" method="post" action="${action}" autocomplete="off">
<input type="hidden" name="prompt" value="login">
<label>Username <input name="login" value="${escapeHtml(login)}" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button>
</form>
<p><a id="abort" href="${action}/abort">Cancel</a></p>
</body></html>`;
}

async function finishConsent(ctx, details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  let { grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  grantId = await grant.save();
  const result = { consent: details.grantId ? {} : { grantId } };
  return provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
}

function redirect303(ctx, location) {
  ctx.status = 303;
  ctx.set('Location', location);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = '';
}

// The interaction routes: a login form that checks passwords, automatic consent.
async function interaction(ctx) {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/abort)?$/.exec(ctx.path);
  if (!m) ctx.throw(404);
  state.stats.interaction += 1;
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'text';
    ctx.body = `interaction not found or expired: ${err.message}\n`;
    return;
  }
  if (details.uid !== m[1]) ctx.throw(400, 'interaction uid mismatch');

  if (m[2]) { // abort
    const to = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    redirect303(ctx, to);
    return;
  }

  const promptName = details.prompt.name;
  if (promptName === 'consent') {
    redirect303(ctx, await finishConsent(ctx, details));
    return;
  }
  if (promptName !== 'login') ctx.throw(400, `unsupported prompt ${promptName}`);

  if (ctx.method === 'GET') {
    loginPage(ctx, details.uid, { login: details.params.login_hint || '' });
    return;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await readForm(ctx);
  const user = USERS[form.login];
  if (!user || typeof form.password !== 'string' || form.password !== user.password) {
    state.stats.login_failed += 1;
    event('login.failed', { login: form.login });
    loginPage(ctx, details.uid, { error: 'Invalid username or password.', login: form.login || '', status: 401 });
    return;
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId: form.login, amr: ['pwd'], acr: 'urn:aoidc:test:pwd' },
  }, { mergeWithLastSubmission: false });
  event('login.success', { login: form.login, client_id: details.params.client_id });
  redirect303(ctx, to);
}

// ---------------------------------------------------------------- ID token forgery
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

const MUTATIONS = new Set([
  'bad_sig', 'wrong_nonce', 'wrong_aud', 'wrong_iss', 'expired', 'missing_sub', 'alg_none',
  'hs256_pubkey', 'hs256_client_secret', 'unknown_kid', 'claims',
]);

async function resign(header, payload, jwk) {
  const key = await jose.importJWK(jwk, header.alg);
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header).sign(key);
}

async function mutateIdToken(idToken, { mode, set }, clientId) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(unb64u(h));
  const payload = JSON.parse(unb64u(p));
  const realKey = SIGNING_KEYS.find((k) => k.kid === header.kid);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'bad_sig': {
      const sig = unb64u(s);
      sig[Math.floor(sig.length / 2)] ^= 0xff;
      sig[0] ^= 0x01;
      return `${h}.${p}.${b64u(sig)}`;
    }
    case 'wrong_nonce': return resign(header, { ...payload, nonce: 'not-the-nonce-you-sent' }, realKey);
    case 'wrong_aud': return resign(header, { ...payload, aud: 'some-other-client' }, realKey);
    case 'wrong_iss': return resign(header, { ...payload, iss: 'http://evil.example.test' }, realKey);
    case 'expired': return resign(header, { ...payload, iat: now - 7200, exp: now - 3600 }, realKey);
    case 'missing_sub': {
      const { sub, ...rest } = payload;
      return resign(header, rest, realKey);
    }
    case 'claims': {
      const out = { ...payload };
      for (const [k, v] of Object.entries(set || {})) {
        if (v === null) delete out[k]; else out[k] = v;
      }
      return resign(header, out, realKey);
    }
    case 'alg_none': {
      const { kid, ...rest } = header;
      return `${b64u(JSON.stringify({ ...rest, alg: 'none' }))}.${p}.`;
    }
    case 'hs256_pubkey': {
      const rsa = SIGNING_KEYS.find((k) => k.kty === 'RSA');
      const pem = createPublicKey({ key: rsa, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      const hdr = { ...header, alg: 'HS256', kid: rsa.kid };
      return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader(hdr).sign(new TextEncoder().encode(pem));
    }
    case 'hs256_client_secret': {
      const { kid, ...rest } = header;
      return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ ...rest, alg: 'HS256' }).sign(new TextEncoder().encode(secret(clientId)));
    }
    case 'unknown_kid':
      return resign({ ...header, alg: 'RS256', kid: ROGUE_KEY.kid }, payload, ROGUE_KEY);
    default:
      throw new Error(`unknown mutation ${mode}`);
  }
}

// ---------------------------------------------------------------- test control API
async function testControl(ctx) {
  ctx.set('Cache-Control', 'no-store');
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'POST /__test/mutate': {
      const body = await readJson(ctx);
      const mode = body.next_id_token;
      if (mode === null || mode === undefined) {
        state.nextIdToken = null;
      } else if (!MUTATIONS.has(mode)) {
        ctx.status = 400;
        ctx.body = { error: `unknown mode ${mode}`, modes: [...MUTATIONS] };
        return;
      } else {
        state.nextIdToken = { mode, set: body.set || {} };
      }
      ctx.body = { next_id_token: state.nextIdToken };
      return;
    }
    case 'POST /__test/reset': {
      state.nextIdToken = null;
      state.ttl = { ...DEFAULT_TTL };
      state.offlineWithoutConsent = false;
      state.jwksDown = false;
      state.rotateRefreshTokens = false;
      state.tokenDelayMs = 0;
      state.refuseRefresh = false;
      state.noIss = false;
      state.userinfoOnly = [];
      state.claimsOverride = {};
      state.events = [];
      resetStats();
      for (const [id, snap] of clientSnapshots) {
        const client = await provider.Client.find(id);
        Object.assign(client, structuredClone(snap));
      }
      ctx.body = { ok: true };
      return;
    }
    case 'GET /__test/stats':
      ctx.body = { ...state.stats };
      return;
    case 'GET /__test/events':
      ctx.body = state.events;
      return;
    case 'POST /__test/config': {
      const body = await readJson(ctx);
      if (body.ttl) {
        for (const [k, v] of Object.entries(body.ttl)) {
          if (!(k in DEFAULT_TTL) || !Number.isInteger(v) || v < 1) ctx.throw(400, `bad ttl ${k}`);
          state.ttl[k] = v;
        }
      }
      if ('offline_without_consent' in body) state.offlineWithoutConsent = !!body.offline_without_consent;
      if ('jwks_down' in body) state.jwksDown = !!body.jwks_down;
      if ('rotate_refresh_tokens' in body) state.rotateRefreshTokens = !!body.rotate_refresh_tokens;
      if ('refuse_refresh' in body) state.refuseRefresh = !!body.refuse_refresh;
      if ('token_delay_ms' in body) {
        if (!Number.isInteger(body.token_delay_ms) || body.token_delay_ms < 0) ctx.throw(400, 'bad token_delay_ms');
        state.tokenDelayMs = body.token_delay_ms;
      }
      if ('no_iss' in body) state.noIss = !!body.no_iss;
      if ('userinfo_only' in body) {
        if (!Array.isArray(body.userinfo_only)) ctx.throw(400, 'userinfo_only must be a list');
        state.userinfoOnly = body.userinfo_only.map(String);
      }
      if (body.claims) {
        for (const [id, claims] of Object.entries(body.claims)) {
          if (!USERS[id]) ctx.throw(400, `unknown user ${id}`);
          state.claimsOverride[id] = { ...(state.claimsOverride[id] || {}), ...claims };
        }
      }
      ctx.body = { ttl: state.ttl, offline_without_consent: state.offlineWithoutConsent, jwks_down: state.jwksDown,
        rotate_refresh_tokens: state.rotateRefreshTokens, token_delay_ms: state.tokenDelayMs,
        refuse_refresh: state.refuseRefresh, no_iss: state.noIss, userinfo_only: state.userinfoOnly,
        claims: state.claimsOverride };
      return;
    }
    case 'POST /__test/client': {
      const body = await readJson(ctx);
      const client = await clientFor(body.client_id);
      if (!client) ctx.throw(400, 'unknown client_id');
      for (const [knob, prop] of Object.entries(CLIENT_KNOBS)) {
        if (knob in body) client[prop] = body[knob];
      }
      ctx.body = Object.fromEntries(Object.entries(CLIENT_KNOBS).map(([k, p]) => [k, client[p]]));
      return;
    }
    case 'POST /__test/backchannel': {
      // OP-initiated back-channel logout without a browser: {client_id, sub, sid}
      const body = await readJson(ctx);
      const client = await clientFor(body.client_id);
      if (!client) ctx.throw(400, 'unknown client_id');
      try {
        await client.backchannelLogout(body.sub, body.sid);
        state.stats.backchannel_success += 1;
        event('backchannel.success', { client_id: client.clientId, uri: client.backchannelLogoutUri, sub: body.sub, sid: body.sid });
        ctx.body = { ok: true };
      } catch (err) {
        state.stats.backchannel_error += 1;
        event('backchannel.error', { client_id: client.clientId, uri: client.backchannelLogoutUri, error: err.message });
        ctx.status = 502;
        ctx.body = { ok: false, error: err.message, status: err.response?.statusCode };
      }
      return;
    }
    default:
      ctx.throw(404);
  }
}

const COUNTED = {
  '/.well-known/openid-configuration': 'discovery',
  '/jwks': 'jwks',
  '/auth': 'authorization',
  '/token': 'token',
  '/me': 'userinfo',
  '/token/introspection': 'introspection',
  '/token/revocation': 'revocation',
  '/session/end': 'end_session',
};

provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    if (ctx.path.startsWith('/__test/')) {
      await testControl(ctx);
      return;
    }
    if (ctx.path.startsWith('/interaction/')) {
      await interaction(ctx);
      return;
    }
    const stat = COUNTED[ctx.path];
    if (stat) state.stats[stat] += 1;
    // the key set alone is unavailable (the rest of the OP answers)
    if (ctx.path === '/jwks' && state.jwksDown) {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable' };
      return;
    }

    // offline_access normally needs prompt=consent; this knob lets an RP that
    // does not send it still get a refresh token.
    if (ctx.path === '/auth' && state.offlineWithoutConsent && ctx.method === 'GET') {
      const q = { ...ctx.query };
      if ((q.scope || '').split(' ').includes('offline_access')) {
        const prompts = new Set((q.prompt || '').split(' ').filter(Boolean));
        prompts.add('consent');
        q.prompt = [...prompts].join(' ');
        ctx.query = q;
      }
    }

    if (ctx.path === '/token' && ctx.method === 'POST' && state.refuseRefresh) {
      const form = await readForm(ctx);
      if (form.grant_type === 'refresh_token') {
        state.stats.refresh_error += 1;
        event('refresh.error', { error: 'invalid_grant', error_description: 'refused by the test knob' });
        ctx.status = 400;
        ctx.body = { error: 'invalid_grant', error_description: 'refresh refused (test knob)' };
        return;
      }
      ctx.request.body = form; // read already: the library takes it from here
    }

    await next();

    // refresh grants: counted (ok / refused), logged as events, optionally slow
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.oidc?.params?.grant_type === 'refresh_token') {
      const ok = ctx.status === 200;
      state.stats[ok ? 'refresh' : 'refresh_error'] += 1;
      event(ok ? 'refresh.success' : 'refresh.error', {
        client_id: ctx.oidc?.client?.clientId,
        error: ok ? undefined : ctx.body?.error,
        error_description: ok ? undefined : ctx.body?.error_description,
        rotated: ok ? !!ctx.body?.refresh_token : undefined,
      });
      if (state.tokenDelayMs) await new Promise((res) => { setTimeout(res, state.tokenDelayMs); });
    }
    if (state.noIss) {
      if (ctx.path === '/.well-known/openid-configuration' && ctx.body && typeof ctx.body === 'object') {
        ctx.body = { ...ctx.body };
        delete ctx.body.authorization_response_iss_parameter_supported;
      }
      const loc = ctx.response.get('Location');
      if (loc && /[?&]iss=/.test(loc)) {
        const u = new URL(loc);
        u.searchParams.delete('iss');
        ctx.set('Location', u.toString());
      }
    }

    if (ctx.path === '/token' && ctx.method === 'POST' && state.nextIdToken
        && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
      const mutation = state.nextIdToken;
      state.nextIdToken = null;
      const clientId = ctx.oidc?.client?.clientId;
      ctx.body = { ...ctx.body, id_token: await mutateIdToken(ctx.body.id_token, mutation, clientId) };
      state.stats.mutations_applied += 1;
      event('mutation.applied', { mode: mutation.mode, client_id: clientId });
    }
  } finally {
    if (process.env.OP_QUIET !== '1') {
      console.error(`${new Date().toISOString()} ${ctx.method} ${ctx.originalUrl.split('?')[0]} ${ctx.status} ${Date.now() - started}ms`);
    }
  }
});

// ---------------------------------------------------------------- listen
const handler = provider.callback();
function handle(req, res) {
  if (MOUNT) {
    if (req.url !== MOUNT && !req.url.startsWith(`${MOUNT}/`) && !req.url.startsWith(`${MOUNT}?`)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    req.originalUrl = req.url;
    req.url = req.url.slice(MOUNT.length) || '/';
    if (req.url.startsWith('?')) req.url = `/${req.url}`;
  }
  handler(req, res);
}
const servers = [];
function serve(host, onReady, onError) {
  const server = TLS ? createTlsServer(TLS, handle) : createServer(handle);
  server.keepAliveTimeout = 5000;
  server.on('error', onError);
  server.listen(PORT, host, onReady);
  servers.push(server);
}
serve('127.0.0.1', () => {
  // An issuer on "localhost" keeps the OP's cookies apart from the RP's (cookies ignore
  // ports). Clients that resolve localhost to ::1 first find us there too, if the host has IPv6.
  if (new URL(ISSUER).hostname === 'localhost') {
    serve('::1', () => {}, (err) => console.error(`not listening on [::1]:${PORT}: ${err.code}`));
  }
  process.stdout.write(`READY ${ISSUER}\n`);
}, (err) => {
  console.error(`cannot listen on 127.0.0.1:${PORT}: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { servers.forEach((srv) => srv.close()); process.exit(0); });
}
