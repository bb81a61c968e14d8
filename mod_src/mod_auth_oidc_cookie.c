/* Cookies: read ours from the Cookie header, write and clear them, and strip
 * them before the request reaches the backend. */
#include "mod_auth_oidc.h"
#include "aoidc_cookie.h"
#include "aoidc_state.h"

APLOG_USE_MODULE(auth_oidc);

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

const char *aoidc_cookie_get(request_rec *r, const char *name, int *count)
{
    return aoidc_cookie_header_get(r->pool, cookie_header(r), name, count);
}

/* The values of every cookie called name, in the order sent, at most max. */
apr_array_header_t *aoidc_cookie_values(request_rec *r, const char *name, int max)
{
    return aoidc_cookie_header_values(r->pool, cookie_header(r), name, max);
}

apr_array_header_t *aoidc_cookie_names_with_prefix(request_rec *r, const char *prefix)
{
    return aoidc_cookie_header_names(r->pool, cookie_header(r), prefix, 64);
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
    if (len > AOIDC_COOKIE_HEADER_MAX) {
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
