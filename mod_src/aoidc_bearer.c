/* RFC 6750: finding the token in a request, writing the challenge. */
#include "aoidc_bearer.h"
#include "aoidc_util.h"

#include <apr_cstr.h>
#include <apr_strings.h>
#include <string.h>

int aoidc_bearer_scheme(const char *authorization)
{
    return authorization && apr_cstr_casecmpn(authorization, "Bearer ", 7) == 0;
}

static int b64token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int aoidc_bearer_b64token_ok(const char *t)
{
    apr_size_t n = 0;
    while (n <= AOIDC_BEARER_TOKEN_MAX && b64token_char(t[n])) {
        n++;
    }
    if (n == 0) {
        return 0;
    }
    while (n <= AOIDC_BEARER_TOKEN_MAX && t[n] == '=') {
        n++;
    }
    return t[n] == '\0' && n <= AOIDC_BEARER_TOKEN_MAX;
}

aoidc_bearer_rc_t aoidc_bearer_find(apr_pool_t *p, const char *authorization, const char *query,
                                    int query_allowed, const char **token)
{
    const char *q = NULL;
    int nq = aoidc_query_param(p, query, "access_token", &q);
    *token = NULL;
    if (aoidc_bearer_scheme(authorization)) {
        const char *h = authorization + 7;
        while (*h == ' ') {
            h++;
        }
        if (nq != 0 || !aoidc_bearer_b64token_ok(h)) {
            return AOIDC_BEARER_BAD;
        }
        *token = h;
        return AOIDC_BEARER_OK;
    }
    if (nq == 0) {
        return AOIDC_BEARER_NONE;
    }
    if (nq < 0 || !query_allowed || !aoidc_bearer_b64token_ok(q)) {
        return AOIDC_BEARER_BAD;
    }
    *token = q;
    return AOIDC_BEARER_OK;
}

int aoidc_bearer_is_jwt(const char *t)
{
    int dots = 0;
    for (; *t && dots <= 2; t++) {
        dots += *t == '.';
    }
    return dots == 2;
}

/* A copy that can sit between double quotes of a header value. */
static const char *quotable(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s);
    for (char *c = out; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '_';
        }
    }
    return out;
}

const char *aoidc_bearer_challenge(apr_pool_t *p, const char *realm, const char *error, const char *scope)
{
    return apr_pstrcat(p, "Bearer realm=\"", quotable(p, realm ? realm : "api"), "\"",
                       error ? ", error=\"" : "", error ? quotable(p, error) : "", error ? "\"" : "",
                       scope ? ", scope=\"" : "", scope ? quotable(p, scope) : "", scope ? "\"" : "", NULL);
}
