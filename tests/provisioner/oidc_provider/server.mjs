// A real OpenID provider for the tests: panva's certified oidc-provider, configured
// from a JSON file (argv[2]): {issuer, port, keys: [private JWKs], clients: [...],
// accounts: {id: {claims}}, acrValues: [...]}.
//
// Interactions are driven headless by the tests through one extra route,
// GET /interaction/:uid/headless?login=ID&acr=...&amr=a,b, which finishes the
// login prompt (with the acr/amr given) or grants consent, as a login page would.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: config.keys },
  acrValues: config.acrValues || [],
  claims: {
    acr: null, amr: null, auth_time: null, sid: null,
    openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'],
  },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true } },
  pkce: { required: () => true },
  ttl: { IdToken: config.idTokenTTL || 3600 },
  async findAccount(ctx, id) {
    const extra = (config.accounts || {})[id] || {};
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true, ...extra };
      },
    };
  },
});

provider.use(async (ctx, next) => {
  const match = ctx.method === 'GET' && ctx.path.match(/^\/interaction\/([^/]+)\/headless$/);
  if (!match) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    const login = { accountId: ctx.query.login };
    if (ctx.query.acr) login.acr = ctx.query.acr;
    if (ctx.query.amr) login.amr = ctx.query.amr.split(',');
    result = { login };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${config.port}\n`);
});
