/* Cookies: read ours from the Cookie header, write and clear them, and strip
 * them before the request reaches the backend. */
#include "mod_auth_oidc.h"
#include "aoidc_cookie.h"
#include "aoidc_state.h"

APLOG_USE_MODULE(auth_oidc);

#define COOKIE_HEADER_MAX 16384 /* a longer Cookie header is not searched */
/* r->notes key: the Cookie header as the client sent it, saved by the first
 * aoidc_cookie_strip() of the request */
#define COOKIE_NOTE "aoidc-cookie-in"

/* Our cookies leave headers_in early (header_parser) so that no backend of an
 * AuthType oidc location sees them, whatever Require says; authn and the login
 * start read them afterwards from the saved original. Subrequests and internal
 * redirects share the client's Cookie header with their first request. */
static const char *cookie_header(request_rec *r)
{
    for (request_rec *q = r; q; q = q->main ? q->main : q->prev) {
        const char *orig = apr_table_get(q->notes, COOKIE_NOTE);
        if (orig) {
            return orig;
        }
    }
    return apr_table_get(r->headers_in, "Cookie");
}

typedef struct {
    apr_pool_t *p;
    const char *name;
    apr_size_t nlen;
    const char *value;
    int count;
} find_ctx_t;

static int find_one(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    find_ctx_t *f = c;
    if (nlen == f->nlen && memcmp(name, f->name, nlen) == 0) {
        if (f->count++ == 0) {
            f->value = apr_pstrmemdup(f->p, val, vlen);
        }
    }
    return 1;
}

const char *aoidc_cookie_get(request_rec *r, const char *name, int *count)
{
    const char *h = cookie_header(r);
    find_ctx_t f = {r->pool, name, strlen(name), NULL, 0};
    if (h && strlen(h) <= COOKIE_HEADER_MAX) {
        aoidc_cookie_walk(h, find_one, &f);
    }
    if (count) {
        *count = f.count;
    }
    return f.value;
}

typedef struct {
    apr_pool_t *p;
    const char *name;
    apr_size_t nlen;
    int max;
    apr_array_header_t *values;
} all_ctx_t;

static int find_all(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    all_ctx_t *f = c;
    if (nlen == f->nlen && memcmp(name, f->name, nlen) == 0) {
        APR_ARRAY_PUSH(f->values, const char *) = apr_pstrmemdup(f->p, val, vlen);
    }
    return f->values->nelts < f->max;
}

/* The values of every cookie called name, in the order sent, at most max. */
apr_array_header_t *aoidc_cookie_values(request_rec *r, const char *name, int max)
{
    const char *h = cookie_header(r);
    all_ctx_t f = {r->pool, name, strlen(name), max, apr_array_make(r->pool, 2, sizeof(const char *))};
    if (h && strlen(h) <= COOKIE_HEADER_MAX && max > 0) {
        aoidc_cookie_walk(h, find_all, &f);
    }
    return f.values;
}

typedef struct {
    apr_pool_t *p;
    const char *prefix;
    apr_array_header_t *names;
} prefix_ctx_t;

static int find_prefix(void *c, const char *name, apr_size_t nlen, const char *val, apr_size_t vlen)
{
    prefix_ctx_t *f = c;
    apr_size_t plen = strlen(f->prefix);
    if (nlen > plen && strncmp(name, f->prefix, plen) == 0 && f->names->nelts < 64) {
        APR_ARRAY_PUSH(f->names, const char *) = apr_pstrmemdup(f->p, name, nlen);
    }
    return 1;
}

apr_array_header_t *aoidc_cookie_names_with_prefix(request_rec *r, const char *prefix)
{
    const char *h = cookie_header(r);
    prefix_ctx_t f = {r->pool, prefix, apr_array_make(r->pool, 4, sizeof(const char *))};
    if (h && strlen(h) <= COOKIE_HEADER_MAX) {
        aoidc_cookie_walk(h, find_prefix, &f);
    }
    return f.names;
}

static const char *attrs(const aoidc_srv_cfg_t *sc, const char *samesite)
{
    return sc->cookie_secure ? (strcmp(samesite, "Strict") == 0 ? "; HttpOnly; Secure; SameSite=Strict"
                                : strcmp(samesite, "None") == 0 ? "; HttpOnly; Secure; SameSite=None"
                                                                  : "; HttpOnly; Secure; SameSite=Lax")
                             : (strcmp(samesite, "Strict") == 0 ? "; HttpOnly; SameSite=Strict"
                                                                  : "; HttpOnly; SameSite=Lax");
}

void aoidc_cookie_set(request_rec *r, const aoidc_srv_cfg_t *sc, const char *name, const char *value, int max_age)
{
    /* state cookies must survive the cross-site return from the provider:
     * they are always Lax; the session cookie follows the configuration */
    int is_state = strncmp(name, AOIDC_STATE_COOKIE_PREFIX, sizeof(AOIDC_STATE_COOKIE_PREFIX) - 1) == 0;
    const char *c = apr_pstrcat(r->pool, name, "=", value, "; Path=/",
                                max_age > 0 ? apr_psprintf(r->pool, "; Max-Age=%d", max_age) : "",
                                attrs(sc, is_state ? "Lax" : sc->cookie_samesite), NULL);
    apr_table_addn(r->err_headers_out, "Set-Cookie", c);
}

void aoidc_cookie_clear(request_rec *r, const aoidc_srv_cfg_t *sc, const char *name)
{
    int is_state = strncmp(name, AOIDC_STATE_COOKIE_PREFIX, sizeof(AOIDC_STATE_COOKIE_PREFIX) - 1) == 0;
    const char *c = apr_pstrcat(r->pool, name, "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                                attrs(sc, is_state ? "Lax" : sc->cookie_samesite), NULL);
    apr_table_addn(r->err_headers_out, "Set-Cookie", c);
}

/* header_parser and authn: our cookies leave the Cookie header before the
 * backend can see it (aoidc_cookie_strip_ours does the rewrite). */
void aoidc_cookie_strip(request_rec *r, const char *session_name)
{
    const char *h = apr_table_get(r->headers_in, "Cookie");
    if (!h) {
        return;
    }
    if (!apr_table_get(r->notes, COOKIE_NOTE)) {
        apr_table_setn(r->notes, COOKIE_NOTE, h);
    }
    apr_size_t len = strlen(h);
    if (len > COOKIE_HEADER_MAX) {
        /* too long to search: do not pass what we cannot vouch for */
        apr_table_unset(r->headers_in, "Cookie");
        return;
    }
    /* the rewrite never grows the header: len + 1 bytes are enough */
    char *out = apr_palloc(r->pool, len + 1);
    apr_size_t olen = 0;
    int removed = aoidc_cookie_strip_ours(h, len, session_name, AOIDC_STATE_COOKIE_PREFIX, out, len + 1, &olen);
    if (removed == 0) {
        return;
    }
    if (removed > 0 && olen) {
        apr_table_setn(r->headers_in, "Cookie", out);
    }
    else {
        apr_table_unset(r->headers_in, "Cookie");
    }
}
