/* What the backend gets: claim header and variable names and values, and
 * the prefix test that scrubs client headers posing as them. */
#include "aoidc_backend.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <string.h>

static int fold(char c)
{
    return c == '-' ? '_' : apr_tolower(c);
}

int aoidc_backend_name_has_prefix(const char *name, const char *prefix)
{
    if (!name || !prefix) {
        return 0;
    }
    for (; *prefix; name++, prefix++) {
        if (!*name || fold(*name) != fold(*prefix)) {
            return 0;
        }
    }
    return 1;
}

long aoidc_backend_header_name(const char *prefix, const char *claim, char *out, apr_size_t outsize)
{
    apr_size_t pl = strlen(prefix), cl = strlen(claim);
    if (outsize < pl + cl + 1) {
        return -1;
    }
    memcpy(out, prefix, pl);
    memcpy(out + pl, claim, cl + 1);
    for (char *c = out; *c; c++) {
        if (*c == '_' || *c == '.' || *c == ':') {
            *c = '-';
        }
    }
    return (long)(pl + cl);
}

apr_size_t aoidc_backend_join_size(const char *const *vals, int n)
{
    apr_size_t size = 1; /* the NUL */
    for (int i = 0; i < n; i++) {
        size += strlen(vals[i]) + (i > 0); /* the ',' before each but the first */
    }
    return size;
}

static int is_control(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

long aoidc_backend_join(const char *const *vals, int n, int header_safe, char *out, apr_size_t outsize)
{
    if (outsize < aoidc_backend_join_size(vals, n)) {
        return -1;
    }
    /* writes exactly the size computed above: each value and one ',' between */
    apr_size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            out[o++] = ',';
        }
        for (const char *c = vals[i]; *c; c++) {
            out[o++] = header_safe && is_control(*c) ? ' ' : *c;
        }
    }
    out[o] = '\0';
    return (long)o;
}

apr_array_header_t *aoidc_backend_vars(apr_pool_t *p, const char *prefix, const aoidc_claim_t *claims, int n)
{
    apr_array_header_t *vars = apr_array_make(p, n > 0 ? n : 1, sizeof(aoidc_backend_var_t));
    const char **vals = apr_palloc(p, sizeof(const char *) * (apr_size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n;) {
        const char *name = claims[i].name;
        int j = i;
        for (; j < n && strcmp(claims[j].name, name) == 0; j++) {
            vals[j - i] = claims[j].value;
        }
        int k = j - i;
        i = j;
        if (strcmp(name, AOIDC_CLAIM_AUTH_TIME) == 0) {
            continue; /* about the login, not the user (kept for AuthOIDCMaxAuthAge) */
        }
        aoidc_backend_var_t *v = apr_array_push(vars);
        name = aoidc_claim_path_plain(p, name); /* "a\\.b" is the claim a.b */
        v->env = apr_pstrcat(p, prefix, name, NULL);
        apr_size_t hsize = strlen(prefix) + strlen(name) + 1;
        char *h = apr_palloc(p, hsize);
        aoidc_backend_header_name(prefix, name, h, hsize);
        v->header = h;
        apr_size_t size = aoidc_backend_join_size(vals, k);
        char *val = apr_palloc(p, size);
        aoidc_backend_join(vals, k, 0, val, size);
        v->value = val;
        v->header_value = val;
        for (const char *c = val; *c; c++) {
            if (is_control(*c)) {
                char *safe = apr_palloc(p, size);
                aoidc_backend_join(vals, k, 1, safe, size);
                v->header_value = safe;
                break;
            }
        }
    }
    return vars;
}

int aoidc_backend_token_ok(const char *token)
{
    apr_size_t n = 0;
    if (!token) {
        return 0;
    }
    for (; token[n] && n <= AOIDC_ACCESS_TOKEN_MAX; n++) {
        if ((unsigned char)token[n] < 0x21 || (unsigned char)token[n] > 0x7e) {
            return 0;
        }
    }
    return n >= 1 && n <= AOIDC_ACCESS_TOKEN_MAX;
}
