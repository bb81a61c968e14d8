/* Require oidc-claim NAME:VALUE [NAME:VALUE ...]: granted when any pair
 * matches a claim of the session (an array claim matches by membership).
 * Arguments are compiled once while the configuration is read, so a bad
 * line fails `apachectl -t` with its file and line. */
#include "mod_auth_oidc.h"
#include "mod_auth.h"

APLOG_USE_MODULE(auth_oidc);

static const char *claim_parse(cmd_parms *cmd, const char *req_line, const void **parsed)
{
    apr_array_header_t *reqs = apr_array_make(cmd->pool, 2, sizeof(aoidc_claim_req_t *));
    const char *s = req_line, *err = NULL;
    char *w;
    while (*(w = ap_getword_conf(cmd->pool, &s))) {
        aoidc_claim_req_t *req = aoidc_claim_req_parse(cmd->pool, w, &err);
        if (!req) {
            return apr_psprintf(cmd->pool, "Require oidc-claim: %s", err);
        }
        APR_ARRAY_PUSH(reqs, aoidc_claim_req_t *) = req;
    }
    if (reqs->nelts == 0) {
        return "Require oidc-claim: needs at least one NAME:VALUE";
    }
    *parsed = reqs;
    return NULL;
}

static authz_status claim_check(request_rec *r, const char *req_line, const void *parsed)
{
    const apr_array_header_t *reqs = parsed;
    if (!r->user) {
        return AUTHZ_DENIED_NO_USER;
    }
    aoidc_req_ctx_t *ctx = aoidc_req_ctx(r);
    if (ctx && ctx->preflight) {
        return AUTHZ_GRANTED; /* a CORS preflight carries no session (aoidc_spa_preflight) */
    }
    if (!ctx || !ctx->have_session) {
        return AUTHZ_DENIED;
    }
    for (int i = 0; i < reqs->nelts; i++) {
        if (aoidc_claims_match(ctx->session.claims, ctx->session.nclaims,
                               APR_ARRAY_IDX(reqs, i, aoidc_claim_req_t *))) {
            return AUTHZ_GRANTED;
        }
    }
    /* the 401 Apache would send is turned into 403 (aoidc_fix_authz_status) */
    ctx->authz_denied = 1;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(200)
                  "user '%.128s' lacks the claims of 'Require oidc-claim %.200s'", ap_escape_logitem(r->pool, r->user),
                  req_line);
    return AUTHZ_DENIED;
}

static const authz_provider claim_provider = {&claim_check, &claim_parse};

void aoidc_register_authz(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "oidc-claim", AUTHZ_PROVIDER_VERSION, &claim_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
