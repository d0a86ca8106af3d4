// A FAPI 2.0 authorization server for the SDK's interoperability tests: panva's oidc-provider
// (pinned in package.json), configured to look like HelseID where it matters to a client.
//
// Started by internal/interop.Start with two environment variables:
//
//	PORT     the TCP port to listen on (127.0.0.1 only); the issuer is http://127.0.0.1:PORT
//	CLIENTS  a JSON array of client metadata objects (see README.md beside this file)
//
// Prints "READY <issuer>" on stdout once listening. Errors are logged to stderr with the real
// reason (oidc-provider answers with generic descriptions). Test use only: every key, secret,
// session and token lives in memory and dies with the process.

import * as crypto from 'node:crypto';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';
// The grant helpers oidc-provider hands its own grant handlers (DPoP proof validation with
// nonces, replay detection, scope checks, token response). Not part of the package's public
// API, so this file depends on the exact version pinned in package.json.
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

// The resource servers, HelseID style: a resource indicator is an API name and its scopes
// are prefixed with it.
const RESOURCES = {
  'nhn:interop-api-a': { scopes: ['nhn:interop-api-a/read'] },
  'nhn:interop-api-b': { scopes: ['nhn:interop-api-b/read'] },
};
const RESOURCE_SCOPES = Object.values(RESOURCES).flatMap((r) => r.scopes);

// Token exchange: the subject_token's audience an actor client may exchange, unless the
// client's metadata says otherwise with token_exchange_subject_audience (string or array).
const DEFAULT_SUBJECT_AUDIENCE = ['nhn:interop-api-a'];

// The one end-user, logged in without a browser by the interaction handler below.
const ACCOUNT_ID = 'interop-user';
const ACCOUNT_CLAIMS = {
  name: 'Interop Testbruker',
  'helseid://claims/identity/pid': '06828399789',
};
const PID_SCOPE = 'helseid://scopes/identity/pid';

const ACCESS_TOKEN_TTL = 300;

function fatal(message) {
  process.stderr.write(`interop server: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fatal(`PORT must be a TCP port number, got ${JSON.stringify(process.env.PORT)}`);
}
const ISSUER = `http://127.0.0.1:${port}`;

let clients;
try {
  clients = JSON.parse(process.env.CLIENTS ?? '[]');
} catch (err) {
  fatal(`CLIENTS is not JSON: ${err.message}`);
}
if (!Array.isArray(clients)) {
  fatal('CLIENTS must be a JSON array of client metadata objects');
}

// Fresh signing keys on every start: ES256 (ID tokens, JWT access tokens) and PS256.
function signingKey(kty, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(kty, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk, kid: `interop-${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`, alg, use: 'sig',
  };
}
const privateJwks = [
  signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  signingKey('rsa', { modulusLength: 2048 }, 'PS256'),
];
const ownKeys = jose.createLocalJWKSet({
  keys: privateJwks.map(({
    d, p, q, dp, dq, qi, ...pub
  }) => pub),
});

function resourcesForScopes(scope) {
  const requested = new Set(String(scope ?? '').split(' ').filter(Boolean));
  return Object.keys(RESOURCES)
    .filter((id) => RESOURCES[id].scopes.some((s) => requested.has(s)));
}

function asArray(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

// oidc-provider drops offline_access from an authorization request unless it also carries
// prompt=consent. HelseID issues a refresh token for offline_access alone, so a pushed
// authorization request that asks for offline_access without any prompt is treated as if it
// had said prompt=consent (the auto-consent below grants it at once). Called while the client
// authenticates at the PAR endpoint, which comes before the parameters are read from the body.
function keepOfflineAccess(ctx) {
  if (ctx.oidc.route !== 'pushed_authorization_request') return;
  const { body } = ctx.oidc;
  if (!body || typeof body.scope !== 'string' || body.prompt !== undefined) return;
  if (body.scope.split(' ').includes('offline_access')) {
    body.prompt = 'consent';
  }
}

// Access tokens issued by the token-exchange grant carry an act claim.
const actClaims = new WeakMap();

const configuration = {
  clients,
  jwks: { keys: privateJwks },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },

  clientAuthMethods: ['private_key_jwt'],
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'ES256',
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
  },
  extraClientMetadata: {
    properties: ['token_exchange_subject_audience'],
    validator(ctx, key, value) {
      if (key !== 'token_exchange_subject_audience' || value === undefined) return;
      const values = asArray(value);
      if (!values.length || !values.every((v) => typeof v === 'string' && v.length)) {
        throw new errors.InvalidClientMetadata('token_exchange_subject_audience must be a string or an array of strings');
      }
    },
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['ES256', 'PS256', 'EdDSA', 'Ed25519'],
    idTokenSigningAlgValues: ['ES256', 'PS256'],
    dPoPSigningAlgValues: ['ES256', 'PS256', 'EdDSA', 'Ed25519'],
  },
  responseTypes: ['code'],

  // The resource scopes are listed so that a client's registered "scope" may name them (and
  // so limits what it may ask for), as in HelseID.
  scopes: ['openid', 'offline_access', ...RESOURCE_SCOPES],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    [PID_SCOPE]: ['helseid://claims/identity/pid'],
  },

  async findAccount(ctx, sub) {
    if (sub !== ACCOUNT_ID) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...ACCOUNT_CLAIMS };
      },
    };
  },

  features: {
    devInteractions: { enabled: false },
    fapi: { enabled: true, profile: '2.0' },
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: true,
    },
    dPoP: {
      enabled: true,
      nonceSecret: crypto.randomBytes(32),
      requireNonce: () => true,
    },
    clientCredentials: { enabled: true },
    revocation: {
      enabled: true,
      async allowedPolicy(ctx, client, token) {
        return token.clientId === client.clientId;
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      // A plain form (the session's xsrf secret and logout=yes) that a test can read and
      // POST to the confirm endpoint; a browser submits it by itself.
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = `<!DOCTYPE html>
<html><head><title>Logout</title></head>
<body onload="document.forms[0].submit()">
${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}
</body></html>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = '<!DOCTYPE html><html><head><title>Signed out</title></head><body>Signed out</body></html>';
      },
    },
    resourceIndicators: {
      enabled: true,
      // oneOf: the resources granted earlier, at the token endpoint; the first one wins.
      // Otherwise infer the resources from the requested scopes (one for a token request).
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf[0];
        const inferred = resourcesForScopes(ctx.oidc.params?.scope);
        if (!inferred.length) return undefined;
        if (ctx.oidc.route === 'token' || inferred.length === 1) return inferred[0];
        return inferred;
      },
      // A refresh without resource= gets a token for (the first of) the granted resources.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resourceIndicator) {
        const resource = RESOURCES[resourceIndicator];
        if (!resource) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        }
        return {
          scope: resource.scopes.join(' '),
          audience: resourceIndicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ACCESS_TOKEN_TTL,
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },

  pkce: { required: () => true },

  async issueRefreshToken(ctx, client, source) {
    return client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access');
  },
  rotateRefreshToken: true,

  async extraTokenClaims(ctx, token) {
    const act = actClaims.get(token);
    return act ? { act } : undefined;
  },

  async assertJwtClientAuthClaimsAndHeader(ctx, claims) {
    // What oidc-provider does by default for FAPI 2.0.
    if (claims.aud !== ctx.oidc.issuer) {
      throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
    }
    keepOfflineAccess(ctx);
  },

  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },

  // Error pages as JSON, so that a test sees the error instead of HTML.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },

  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    ClientCredentials: ACCESS_TOKEN_TTL,
    IdToken: ACCESS_TOKEN_TTL,
    RefreshToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

const provider = new Provider(ISSUER, configuration);
const helpers = Object.fromEntries(
  Object.entries(grantHelpers).map(([name, fn]) => [name, fn.bind(undefined, provider)]),
);

function describe(err) {
  if (!err) return String(err);
  const parts = [err.name, err.error ?? err.message];
  if (err.error_description) parts.push(`description=${JSON.stringify(err.error_description)}`);
  if (err.error_detail) parts.push(`detail=${JSON.stringify(err.error_detail)}`);
  if (err.cause) parts.push(`cause=${JSON.stringify(err.cause?.message ?? String(err.cause))}`);
  if (!err.expose && err.stack) parts.push(`\n${err.stack}`);
  return parts.join(' ');
}

for (const event of [
  'authorization.error',
  'backchannel.error',
  'discovery.error',
  'end_session.error',
  'end_session_confirm.error',
  'end_session_success.error',
  'grant.error',
  'introspection.error',
  'jwks.error',
  'pushed_authorization_request.error',
  'revocation.error',
  'server_error',
  'userinfo.error',
]) {
  provider.on(event, (ctx, err) => {
    const where = ctx ? `${ctx.method} ${ctx.path}` : '';
    const client = ctx?.oidc?.client?.clientId;
    process.stderr.write(`${event} ${where}${client ? ` client=${client}` : ''}: ${describe(err)}\n`);
  });
}

// RFC 8693 token exchange: an actor client exchanges an access token this server issued
// (for an audience the actor is allowed to take, e.g. its own API) for a DPoP-bound access
// token for another resource, with sub kept and act: { sub: <actor client_id> } added.
async function tokenExchange(ctx) {
  const { params, client } = ctx.oidc;
  const invalidGrant = (description) => new errors.CustomOIDCProviderError('invalid_grant', description);

  if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  if (params.actor_token !== undefined) {
    throw new errors.InvalidRequest('actor_token is not supported; the authenticated client is the actor');
  }

  const dPoP = await helpers.validateDpop(ctx);
  if (!dPoP) throw new errors.InvalidRequest('DPoP proof JWT not provided');

  let subject;
  try {
    ({ payload: subject } = await jose.jwtVerify(params.subject_token, ownKeys, {
      issuer: ISSUER,
      typ: 'at+jwt',
      algorithms: ['ES256', 'PS256'],
      clockTolerance: 15,
      requiredClaims: ['exp', 'sub', 'aud'],
    }));
  } catch (err) {
    throw invalidGrant(`subject_token is not a valid access token from this issuer: ${err.message}`);
  }
  const allowed = new Set(asArray(client.token_exchange_subject_audience ?? DEFAULT_SUBJECT_AUDIENCE));
  const subjectAudience = asArray(subject.aud);
  if (subjectAudience.length !== 1 || !allowed.has(subjectAudience[0])) {
    throw invalidGrant(`subject_token audience ${JSON.stringify(subject.aud)} may not be exchanged by this client (allowed: ${[...allowed].join(' ')})`);
  }

  let resource = params.resource;
  if (resource === undefined) {
    [resource] = resourcesForScopes(params.scope);
  }
  if (!resource) {
    throw new errors.InvalidTarget('resource (or a scope of a resource) is required');
  }
  const resourceServer = new provider.ResourceServer(
    resource,
    await configuration.features.resourceIndicators.getResourceServerInfo(ctx, resource, client),
  );

  let scopes;
  if (params.scope) {
    scopes = [...helpers.validateClientScope(ctx)];
    const unknown = scopes.filter((s) => !resourceServer.scopes.has(s));
    if (unknown.length) {
      throw new errors.InvalidScope(`scope not available for resource ${resource}`, unknown.join(' '));
    }
  } else {
    const clientScopes = new Set(String(client.scope ?? '').split(' '));
    scopes = [...resourceServer.scopes].filter((s) => clientScopes.has(s));
  }
  if (!scopes.length) {
    throw new errors.InvalidScope(`no scope of resource ${resource} is allowed for this client`);
  }

  await helpers.checkDpopReplay(ctx, dPoP, client.clientId, errors.InvalidGrant);

  const at = new provider.AccessToken({
    accountId: subject.sub,
    client,
    gty: TOKEN_EXCHANGE,
    scope: scopes.join(' '),
    resourceServer,
  });
  at.setThumbprint('jkt', dPoP.thumbprint);
  actClaims.set(at, subject.act ? { sub: client.clientId, act: subject.act } : { sub: client.clientId });

  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  ctx.body = helpers.buildTokenResponse({
    accessToken,
    expiresIn: at.expiration,
    issuedTokenType: ACCESS_TOKEN_TYPE,
    scope: at.scope,
    tokenType: at.tokenType,
  });
}

provider.registerGrantType(TOKEN_EXCHANGE, tokenExchange, [
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'actor_token',
  'actor_token_type',
  'audience',
  'resource',
  'scope',
]);

// The test-only interaction: whatever the prompt (login, consent), log ACCOUNT_ID in and grant
// everything that was asked for, in one go, then send the user agent back to the provider.
const interactionPath = /^\/interaction\/([^/]+)\/?$/;
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !interactionPath.test(ctx.path)) {
    return next();
  }
  try {
    const { prompt, params, grantId } = await provider.interactionDetails(ctx.req, ctx.res);

    const grant = (grantId && await provider.Grant.find(grantId))
      || new provider.Grant({ accountId: ACCOUNT_ID, clientId: params.client_id });

    const scopes = String(params.scope ?? '').split(' ').filter(Boolean);
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));

    let resources = asArray(params.resource);
    if (!resources.length) resources = resourcesForScopes(params.scope);
    for (const resource of resources) {
      const granted = (RESOURCES[resource]?.scopes ?? []).filter((s) => scopes.includes(s));
      if (granted.length) grant.addResourceScope(resource, granted.join(' '));
    }

    const result = {
      login: { accountId: ACCOUNT_ID },
      consent: { grantId: await grant.save() },
    };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    process.stderr.write(`interaction ${prompt.name}: ${ACCOUNT_ID} logged in, granted ${scopes.join(' ') || '(no scope)'}\n`);
    ctx.status = 303;
    ctx.redirect(returnTo);
  } catch (err) {
    process.stderr.write(`interaction error: ${describe(err)}\n`);
    ctx.status = err.statusCode ?? 500;
    ctx.type = 'json';
    ctx.body = { error: err.error ?? 'server_error', error_description: err.error_description ?? err.message };
  }
  return undefined;
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${ISSUER}\n`);
});
server.on('error', (err) => fatal(`listen on 127.0.0.1:${port}: ${err.message}`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
