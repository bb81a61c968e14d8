/* What the backend sees: inbound headers that look like ours are removed
 * before anything is set, then the session's claims are passed as headers
 * and/or environment variables. */
#include "mod_auth_oidc.h"
#include "aoidc_backend.h"

APLOG_USE_MODULE(auth_oidc);

typedef struct {
    const char *prefix;
    apr_array_header_t *drop;
} scrub_ctx_t;

static int collect(void *c, const char *key, const char *val)
{
    scrub_ctx_t *s = c;
    if (aoidc_backend_name_has_prefix(key, s->prefix) ||
        aoidc_backend_name_has_prefix(key, AOIDC_ACCESS_TOKEN_HEADER)) {
        APR_ARRAY_PUSH(s->drop, const char *) = key;
    }
    return 1;
}

/* header_parser: runs for every request in a location with AuthType oidc or
 * oidc-bearer,
 * whether or not authentication runs later (Require all granted, pass):
 * removes client headers with the claim prefix and our cookies. */
int aoidc_scrub_headers(request_rec *r)
{
    const char *type = ap_auth_type(r);
    if (!type || (strcasecmp(type, AOIDC_AUTH_TYPE) != 0 && strcasecmp(type, AOIDC_BEARER_AUTH_TYPE) != 0)) {
        return DECLINED;
    }
    aoidc_dir_cfg_t *dc = aoidc_dir_cfg(r);
    scrub_ctx_t s = {aoidc_claim_prefix(dc), apr_array_make(r->pool, 2, sizeof(const char *))};
    apr_table_do(collect, &s, r->headers_in, NULL);
    for (int i = 0; i < s.drop->nelts; i++) {
        const char *key = APR_ARRAY_IDX(s.drop, i, const char *);
        /* an internal redirect or subrequest inherits its first request's
         * headers, ours included: removing them is routine, not a client's doing */
        ap_log_rerror(APLOG_MARK, r->prev || r->main ? APLOG_DEBUG : APLOG_WARNING, 0, r, AOIDC_LOGNO(100)
                      "removed %s header '%.64s' that uses the claim prefix or names the access token", r->prev || r->main ? "inherited" : "client",
                      ap_escape_logitem(r->pool, key));
        apr_table_unset(r->headers_in, key);
    }
    /* our cookies too: authn reads them from the saved original */
    aoidc_cookie_strip(r, aoidc_srv_cfg(r->server)->cookie_name);
    return DECLINED;
}

void aoidc_pass_claims(request_rec *r, const aoidc_dir_cfg_t *dc, const aoidc_session_t *s)
{
    int how = aoidc_pass_as(dc);
    if (how == AOIDC_PASS_NONE) {
        return;
    }
    apr_array_header_t *vars = aoidc_backend_vars(r->pool, aoidc_claim_prefix(dc), s->claims, s->nclaims);
    for (int i = 0; i < vars->nelts; i++) {
        const aoidc_backend_var_t *v = &APR_ARRAY_IDX(vars, i, aoidc_backend_var_t);
        if (how & AOIDC_PASS_ENV) {
            apr_table_setn(r->subprocess_env, v->env, v->value);
        }
        if (how & AOIDC_PASS_HEADERS) {
            apr_table_setn(r->headers_in, v->header, v->header_value);
        }
    }
}
