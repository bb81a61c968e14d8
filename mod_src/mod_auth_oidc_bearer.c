/* AuthType oidc-bearer (and AuthOIDCAcceptBearer for AuthType oidc): access
 * tokens for APIs, answered per RFC 6750. No redirect ever happens here.
 *   JWT:    per-process cache of (audience, token) (aoidc_token.h) -> on a
 *           miss, signature by the issuer's JWKS, iss/aud/exp/nbf/iat/typ,
 *           no nonce -> cached until exp; a hit also needs the provider to
 *           be one the location accepts.
 *   The token itself comes from the request through aoidc_bearer.c.
 *   opaque: memcached cache under HMAC(token) -> on a miss, introspection
 *           (RFC 7662) with the provider's client credentials; what the
 *           answer says (active, sub, exp, aud, claims) is kept
 *           min(exp, AuthOIDCIntrospectionTTL), an inactive one
 *           AOIDC_INACTIVE_TTL seconds, and checked against the location's
 *           audience on every request, cached or not.
 * Require oidc-scope lives here too. */
#include "mod_auth_oidc.h"
#include "mod_auth_oidc_spa.h"
#include "aoidc_bearer.h"
#include "aoidc_introspect.h"
#include "aoidc_token.h"
#include "aoidc_util.h"

#include <apr_time.h>

APLOG_USE_MODULE(auth_oidc);

#define AOIDC_INACTIVE_TTL 30
/* i2: records hold the answer's aud (i: records, written before, held a
 * verdict and are never read) */
#define AOIDC_INTROSPECT_KEY_PREFIX "aoidc:i2:"

/* per process: set in child_init through aoidc_bearer_child_init */
static aoidc_token_cache_t *token_cache;

void aoidc_bearer_child_init(apr_pool_t *p, int slots)
{
    if (aoidc_token_cache_create(p, slots, &token_cache) != APR_SUCCESS) {
        token_cache = NULL;
    }
}

static int typ_ok(const char *typ)
{
    /* RFC 9068 at+jwt; plain JWT or none from providers that predate it */
    return !typ || strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0 ||
           strcasecmp(typ, "JWT") == 0;
}

static aoidc_result_t validate_jwt(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc, const char *token,
                                   aoidc_principal_t *out)
{
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    aoidc_jose_result_t jr = aoidc_jwt_parse(r->pool, token, &jwt, &err);
    if (jr != AOIDC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(501) "bearer token malformed: %s",
                      aoidc_jose_result_str(jr));
        return AOIDC_R_UNAUTHORIZED;
    }
    const char *iss = json_string_value(json_object_get(jwt->claims, "iss"));
    aoidc_provider_t *pr = iss ? aoidc_bearer_provider_for_issuer(sc, dc, iss) : NULL;
    if (!pr) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(502)
                      "bearer token of an issuer this location does not accept");
        return AOIDC_R_UNAUTHORIZED;
    }
    if (!typ_ok(jwt->typ)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(503) "bearer token typ is not at+jwt");
        return AOIDC_R_UNAUTHORIZED;
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    int unavailable = 0;
    jr = aoidc_provider_verify_ex(pr, r->pool, &ho, jwt, &err, &unavailable);
    if (unavailable) {
        /* no keys can be had now (provider down, backing off, or another
         * thread fetching): the provider's fault, not the token's */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOIDC_LOGNO(780) "keys of %s cannot be had now: %s", pr->name,
                      err ? ap_escape_logitem(r->pool, err) : "");
        return AOIDC_R_PROVIDER_DOWN;
    }
    if (jr == AOIDC_JOSE_OK) {
        aoidc_jwt_expect_t ex = {0};
        ex.issuer = pr->issuer;
        ex.audience = dc->bearer_audience;
        ex.now = apr_time_now();
        ex.skew = sc->clock_skew;
        ex.access_token = 1;
        jr = aoidc_jwt_validate(jwt, &ex);
    }
    if (jr != AOIDC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(504) "bearer token of %s rejected: %s%s%s",
                      pr->name, aoidc_jose_result_str(jr), err ? ": " : "", err ? ap_escape_logitem(r->pool, err) : "");
        return AOIDC_R_UNAUTHORIZED;
    }
    int dropped;
    apr_array_header_t *flat = aoidc_claims_flatten(r->pool, jwt->claims, &dropped);
    out->provider = pr->name;
    out->sub = json_string_value(json_object_get(jwt->claims, "sub"));
    out->exp = (apr_int64_t)json_number_value(json_object_get(jwt->claims, "exp"));
    out->claims = (const aoidc_claim_t *)flat->elts;
    out->nclaims = flat->nelts;
    out->scope = aoidc_scope_of_claims(r->pool, out->claims, out->nclaims);
    return AOIDC_R_OK;
}

/* Opaque tokens: what the provider said about the token (from the memcached
 * cache, else by introspection), checked against this location's audience
 * on every request: the cache holds what was learnt, never a verdict. */
static aoidc_result_t validate_opaque(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc, const char *token,
                                      aoidc_principal_t *out)
{
    aoidc_provider_t *pr = aoidc_find_provider(sc, dc->provider_name);
    apr_int64_t now = apr_time_sec(apr_time_now());
    if (!pr) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(510) "no provider to introspect opaque tokens");
        return AOIDC_R_INTERNAL;
    }
    if (!aoidc_bearer_accepts(dc, pr->name)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(690)
                      "opaque token refused: it would be introspected at %s, which AuthOIDCBearerProviders "
                      "does not accept here", pr->name);
        return AOIDC_R_UNAUTHORIZED;
    }
    if (!sc->store) {
        return AOIDC_R_STORE_DOWN;
    }
    unsigned char mac[32];
    aoidc_hmac_sha256(sc->keys->index, token, strlen(token), mac);
    const char *key = apr_pstrcat(r->pool, AOIDC_INTROSPECT_KEY_PREFIX, pr->name, ":",
                                  aoidc_b64url_encode(r->pool, mac, sizeof(mac)), NULL);
    char *val;
    apr_size_t len;
    aoidc_introspection_t t;
    apr_int64_t until = 0;
    const char *why = NULL;
    int cached = 0;
    aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_OK &&
        aoidc_introspect_decode(r->pool, sc->keys, key, pr->name, (unsigned char *)val, len, &t, &until) ==
            APR_SUCCESS &&
        until > now) {
        cached = 1;
    }
    else {
        if (rc == AOIDC_STORE_DOWN) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOIDC_LOGNO(512)
                          "introspection cache unavailable; asking the provider");
        }
        aoidc_http_opts_t ho = aoidc_http_opts(sc);
        aoidc_introspect_rc_t ir = aoidc_introspect(pr, r->pool, &ho, token, now, &t, &why);
        if (ir == AOIDC_INTROSPECT_ERROR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(513) "introspection at %s failed: %s", pr->name,
                          ap_escape_logitem(r->pool, why));
            return AOIDC_R_PROVIDER_DOWN;
        }
        /* an active answer for another audience is kept as active: the next
         * location checks its own audience against it */
        long ttl = AOIDC_INACTIVE_TTL;
        if (t.active) {
            ttl = sc->introspection_ttl;
            if (t.exp && t.exp - now < ttl) {
                ttl = (long)(t.exp - now);
            }
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(514) "opaque token rejected: %s", why);
        }
        until = now + ttl;
        unsigned char *enc;
        apr_size_t enclen;
        if (ttl > 0 &&
            aoidc_introspect_encode(r->pool, sc->keys, key, pr->name, &t, now, until, &enc, &enclen) == APR_SUCCESS) {
            sc->store->set(sc->store, key, enc, enclen, ttl);
        }
        if (!t.active) {
            return AOIDC_R_UNAUTHORIZED;
        }
    }
    if (aoidc_introspect_check(&t, dc->bearer_audience, now, &why) != AOIDC_INTROSPECT_ACTIVE) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(511) "opaque token rejected%s: %s",
                      cached ? " (cached answer)" : "", why);
        return AOIDC_R_UNAUTHORIZED;
    }
    out->provider = pr->name;
    out->sub = t.sub;
    out->exp = until;
    out->claims = t.claims;
    out->nclaims = t.nclaims;
    out->scope = t.scope;
    return AOIDC_R_OK;
}

/* Authenticate a request carrying a bearer token; 0 = OK with r->user set,
 * otherwise the HTTP status to return. */
static int authenticate_token(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc, const char *token)
{
    aoidc_principal_t pr = {0};
    apr_size_t toklen = strlen(token);
    apr_int64_t now = apr_time_sec(apr_time_now());
    aoidc_result_t res = AOIDC_R_OK;
    if (!dc->bearer_audience) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(520)
                      "bearer tokens need AuthOIDCBearerAudience for this location");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    /* The cache key binds the token to the audience it was checked against;
     * a hit also needs its provider to be one this location accepts. */
    const char *ckey = apr_pstrcat(r->pool, dc->bearer_audience, "\n", token, NULL);
    apr_size_t ckeylen = strlen(dc->bearer_audience) + 1 + toklen;
    if (token_cache && aoidc_token_cache_get(token_cache, r->pool, ckey, ckeylen, now, &pr) &&
        aoidc_bearer_accepts(dc, pr.provider)) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "bearer token from the process cache");
        aoidc_metric_inc(AOIDC_M_BEARER_CACHE_HIT);
    }
    else if (aoidc_bearer_is_jwt(token)) {
        memset(&pr, 0, sizeof(pr));
        res = validate_jwt(r, sc, dc, token, &pr);
        if (res == AOIDC_R_OK && token_cache) {
            aoidc_token_cache_put(token_cache, ckey, ckeylen, &pr);
        }
    }
    else {
        memset(&pr, 0, sizeof(pr));
        res = validate_opaque(r, sc, dc, token, &pr);
    }
    switch (res) {
    case AOIDC_R_OK:
        break;
    case AOIDC_R_UNAUTHORIZED:
        return aoidc_bearer_error(r, HTTP_UNAUTHORIZED, "invalid_token", NULL);
    case AOIDC_R_PROVIDER_DOWN:
    case AOIDC_R_STORE_DOWN:
        aoidc_bearer_error(r, HTTP_SERVICE_UNAVAILABLE, "temporarily_unavailable", NULL);
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return HTTP_SERVICE_UNAVAILABLE;
    default:
        return aoidc_respond(r, res);
    }
    aoidc_req_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->session.provider = pr.provider;
    ctx->session.sub = pr.sub;
    ctx->session.user = pr.sub;
    ctx->session.claims = pr.claims;
    ctx->session.nclaims = pr.nclaims;
    ctx->session.expires = pr.exp;
    ctx->scope = pr.scope;
    ctx->have_session = 1;
    ctx->bearer = 1;
    ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    const char *claim = aoidc_remote_user_claim(dc);
    const char *user = strcmp(claim, "sub") == 0 ? pr.sub : aoidc_claims_get(r->pool, pr.claims, pr.nclaims, claim, ",");
    if (!user || !*user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(521)
                      "token has no claim '%s' for REMOTE_USER (AuthOIDCRemoteUserClaim)", claim);
        return aoidc_bearer_error(r, HTTP_FORBIDDEN, "insufficient_scope", NULL);
    }
    r->user = (char *)user;
    aoidc_pass_claims(r, dc, &ctx->session);
    return OK;
}

int aoidc_bearer_present(request_rec *r)
{
    return aoidc_bearer_scheme(apr_table_get(r->headers_in, "Authorization"));
}

int aoidc_bearer_authn(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    const char *token;
    if (!sc->keys) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(522)
                      "bearer tokens need AuthOIDCCryptoKeyFile for this server");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    switch (aoidc_bearer_find(r->pool, apr_table_get(r->headers_in, "Authorization"), r->args,
                              aoidc_bearer_query_allowed(dc), &token)) {
    case AOIDC_BEARER_NONE:
        return aoidc_bearer_error(r, HTTP_UNAUTHORIZED, NULL, NULL);
    case AOIDC_BEARER_BAD:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(523)
                      "malformed bearer request (bad header, token in the query, or both)");
        return aoidc_metric_bearer_outcome(aoidc_bearer_error(r, HTTP_BAD_REQUEST, "invalid_request", NULL));
    case AOIDC_BEARER_OK:
        break;
    }
    return aoidc_metric_bearer_outcome(authenticate_token(r, sc, dc, token));
}

/* check_authn for AuthType oidc-bearer: machines get status codes, never a
 * redirect. */
int aoidc_check_bearer(request_rec *r)
{
    const char *type = ap_auth_type(r);
    if (!type || strcasecmp(type, AOIDC_BEARER_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    r->ap_auth_type = (char *)type;
    if (aoidc_reuse_parent_verdict(r, aoidc_dir_cfg(r), 1) ||
        aoidc_spa_preflight(r, aoidc_srv_cfg(r->server), aoidc_dir_cfg(r)) == OK) {
        return OK;
    }
    return aoidc_bearer_authn(r, aoidc_srv_cfg(r->server), aoidc_dir_cfg(r));
}

/* Require oidc-scope S1 S2 ...: every listed scope must be granted. */
static const char *scope_parse(cmd_parms *cmd, const char *req_line, const void **parsed)
{
    const char *s = req_line;
    char *w;
    apr_array_header_t *need = apr_array_make(cmd->pool, 2, sizeof(const char *));
    while (*(w = ap_getword_conf(cmd->pool, &s))) {
        for (const char *c = w; *c; c++) {
            if ((unsigned char)*c < 0x21 || *c == '"' || *c == '\\' || *c == 0x7f) {
                return apr_psprintf(cmd->pool, "Require oidc-scope: '%s' is not a scope", w);
            }
        }
        APR_ARRAY_PUSH(need, const char *) = w;
    }
    if (need->nelts == 0) {
        return "Require oidc-scope: needs at least one scope";
    }
    *parsed = need;
    return NULL;
}

static authz_status scope_check(request_rec *r, const char *req_line, const void *parsed)
{
    const apr_array_header_t *need = parsed;
    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    aoidc_req_ctx_t *ctx = aoidc_req_ctx(r);
    if (ctx && ctx->preflight) {
        return AUTHZ_GRANTED; /* a CORS preflight carries no token (aoidc_spa_preflight) */
    }
    const char *have = ctx && ctx->scope ? ctx->scope : "";
    for (int i = 0; i < need->nelts; i++) {
        if (!aoidc_scope_has(have, APR_ARRAY_IDX(need, i, const char *))) {
            const char *all = apr_array_pstrcat(r->pool, need, ' ');
            /* user and scope are the provider's text */
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(530)
                          "token of '%.128s' (scope '%.256s') lacks scope '%s'", ap_escape_logitem(r->pool, r->user),
                          ap_escape_logitem(r->pool, have), all);
            if (ctx) {
                ctx->authz_denied = 1;
                ctx->missing_scope = all;
            }
            return AUTHZ_DENIED;
        }
    }
    return AUTHZ_GRANTED;
}

static const authz_provider scope_provider = {&scope_check, &scope_parse};

void aoidc_register_bearer_authz(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "oidc-scope", AUTHZ_PROVIDER_VERSION, &scope_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
