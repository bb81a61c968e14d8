/* What the backend sees: inbound headers that look like ours are removed
 * before anything is set, then the session's claims are passed as headers
 * and/or environment variables. */
#include "mod_auth_oidc.h"

APLOG_USE_MODULE(auth_oidc);

/* Case-insensitive prefix match where '-' and '_' are equal: CGI turns both
 * into '_', so a client must not be able to sneak one in as the other. */
static int env_prefix_match(const char *name, const char *prefix)
{
    for (; *prefix; name++, prefix++) {
        char a = *name, b = *prefix;
        if (!a) {
            return 0;
        }
        if (a == '-') {
            a = '_';
        }
        if (b == '-') {
            b = '_';
        }
        if (apr_tolower(a) != apr_tolower(b)) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    const char *prefix;
    apr_array_header_t *drop;
} scrub_ctx_t;

static int collect(void *c, const char *key, const char *val)
{
    scrub_ctx_t *s = c;
    if (env_prefix_match(key, s->prefix)) {
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
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOIDC_LOGNO(100)
                      "removed client header '%.64s' that uses the claim prefix", key);
        apr_table_unset(r->headers_in, key);
    }
    /* our cookies too: authn reads them from the saved original */
    aoidc_cookie_strip(r, aoidc_srv_cfg(r->server)->cookie_name);
    return DECLINED;
}

/* Header values must not carry CR/LF or other controls onward. */
static const char *header_safe(apr_pool_t *p, const char *v)
{
    const char *c;
    for (c = v; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            break;
        }
    }
    if (!*c) {
        return v;
    }
    char *o = apr_pstrdup(p, v);
    for (char *d = o; *d; d++) {
        if ((unsigned char)*d < 0x20 || *d == 0x7f) {
            *d = ' ';
        }
    }
    return o;
}

void aoidc_pass_claims(request_rec *r, const aoidc_dir_cfg_t *dc, const aoidc_session_t *s)
{
    int how = aoidc_pass_as(dc);
    if (how == AOIDC_PASS_NONE) {
        return;
    }
    const char *prefix = aoidc_claim_prefix(dc);
    /* the values of an array claim are adjacent (aoidc_claims_flatten), so
     * each run of one name is joined in one pass over the claims */
    for (int i = 0; i < s->nclaims;) {
        const char *name = s->claims[i].name;
        const char *val = s->claims[i].value;
        int j = i + 1;
        for (; j < s->nclaims && strcmp(s->claims[j].name, name) == 0; j++) {
            val = apr_pstrcat(r->pool, val, ",", s->claims[j].value, NULL);
        }
        i = j;
        const char *env = apr_pstrcat(r->pool, prefix, name, NULL);
        if (how & AOIDC_PASS_ENV) {
            apr_table_setn(r->subprocess_env, env, val);
        }
        if (how & AOIDC_PASS_HEADERS) {
            /* '-' in header names: Apache 2.4 drops headers with '_' from
             * the CGI environment */
            char *hdr = apr_pstrdup(r->pool, env);
            for (char *c = hdr; *c; c++) {
                if (*c == '_' || *c == '.' || *c == ':') {
                    *c = '-';
                }
            }
            apr_table_setn(r->headers_in, hdr, header_safe(r->pool, val));
        }
    }
}
