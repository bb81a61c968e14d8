/* Claims: flattening at login, matching at authorization. */
#include "aoidc_claims.h"

#include <apr_strings.h>
#include <string.h>

static const char *const protocol_claims[] = {"iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash",
                                              "c_hash", "azp", "jti", "auth_time", "sid", NULL};

int aoidc_claim_name_ok(const char *name)
{
    apr_size_t n = 0;
    for (const char *c = name; *c; c++, n++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-' || *c == '.' || *c == ':')) {
            return 0;
        }
    }
    return n > 0 && n <= AOIDC_CLAIM_NAME_MAX;
}

static int name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
}

int aoidc_claim_path_ok(const char *path)
{
    apr_size_t n = 0;
    int seg = 0; /* characters in the current segment */
    for (const char *c = path; *c; c++, n++) {
        if (*c == '\\') {
            if (c[1] != '.') {
                return 0;
            }
            c++;
            n++;
            seg++;
        }
        else if (*c == '.') {
            if (seg == 0) {
                return 0;
            }
            seg = 0;
        }
        else if (name_char(*c)) {
            seg++;
        }
        else {
            return 0;
        }
    }
    return n > 0 && n <= AOIDC_CLAIM_PATH_MAX && seg > 0;
}

const char *aoidc_claim_path_plain(apr_pool_t *p, const char *path)
{
    if (!strchr(path, '\\')) {
        return path;
    }
    char *out = apr_palloc(p, strlen(path) + 1), *o = out;
    for (const char *c = path; *c; c++) {
        if (*c == '\\' && c[1]) {
            c++;
        }
        *o++ = *c;
    }
    *o = '\0';
    return out;
}

/* A member name as one path segment: its dots escaped. NULL when the name
 * is not a claim name or the path would be too long. */
static const char *path_join(apr_pool_t *p, const char *parent, const char *key)
{
    if (!aoidc_claim_name_ok(key)) {
        return NULL;
    }
    apr_size_t dots = 0;
    for (const char *c = key; *c; c++) {
        dots += *c == '.';
    }
    apr_size_t plen = parent ? strlen(parent) + 1 : 0, klen = strlen(key) + dots;
    if (plen + klen > AOIDC_CLAIM_PATH_MAX) {
        return NULL;
    }
    char *out = apr_palloc(p, plen + klen + 1), *o = out;
    if (parent) {
        memcpy(o, parent, plen - 1);
        o += plen - 1;
        *o++ = '.';
    }
    for (const char *c = key; *c; c++) {
        if (*c == '.') {
            *o++ = '\\';
        }
        *o++ = *c;
    }
    *o = '\0';
    return out;
}

static int is_protocol_claim(const char *name)
{
    for (int i = 0; protocol_claims[i]; i++) {
        if (strcmp(name, protocol_claims[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Render a scalar or compound value; NULL if too long or null. */
static const char *render(apr_pool_t *p, json_t *v)
{
    const char *s = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        s = apr_pstrmemdup(p, json_string_value(v), json_string_length(v));
        if (strlen(s) != json_string_length(v)) {
            return NULL; /* embedded NUL */
        }
        break;
    case JSON_TRUE:
        s = "true";
        break;
    case JSON_FALSE:
        s = "false";
        break;
    case JSON_NULL:
        return NULL;
    default: {
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (d) {
            s = apr_pstrdup(p, d);
            free(d);
        }
        break;
    }
    }
    if (s && strlen(s) > AOIDC_CLAIM_VALUE_MAX) {
        return NULL;
    }
    return s;
}

static void push(apr_array_header_t *a, const char *name, const char *value, int *dropped)
{
    if (!value || a->nelts >= AOIDC_CLAIMS_MAX) {
        (*dropped)++;
        return;
    }
    aoidc_claim_t *c = apr_array_push(a);
    c->name = name;
    c->value = value;
}

/* The members of obj under parent (NULL: the top level); a top-level
 * object is kept whole as JSON too, nested ones only by their members. */
static void flatten(apr_pool_t *p, apr_array_header_t *a, const char *parent, json_t *obj, int depth,
                    int *drop)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (!parent && is_protocol_claim(key)) {
            continue;
        }
        const char *name = path_join(p, parent, key);
        if (!name) {
            (*drop)++;
            continue;
        }
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                push(a, name, render(p, e), drop);
            }
            continue;
        }
        if (!json_is_object(v) || !parent) {
            push(a, name, render(p, v), drop);
        }
        if (json_is_object(v)) {
            if (depth < AOIDC_CLAIM_DEPTH) {
                flatten(p, a, name, v, depth + 1, drop);
            }
            else {
                (*drop)++;
            }
        }
    }
}

apr_array_header_t *aoidc_claims_flatten(apr_pool_t *p, json_t *obj, int *dropped)
{
    apr_array_header_t *a = apr_array_make(p, 16, sizeof(aoidc_claim_t));
    int drop = 0;
    if (json_is_object(obj)) {
        flatten(p, a, NULL, obj, 1, &drop);
    }
    if (dropped) {
        *dropped = drop;
    }
    return a;
}

aoidc_claim_req_t *aoidc_claim_req_parse(apr_pool_t *p, const char *arg, const char **err)
{
    const char *colon = strchr(arg, ':');
    if (!colon) {
        *err = apr_psprintf(p, "'%s' is not NAME:VALUE", arg);
        return NULL;
    }
    aoidc_claim_req_t *r = apr_pcalloc(p, sizeof(*r));
    r->name = apr_pstrmemdup(p, arg, (apr_size_t)(colon - arg));
    r->value = apr_pstrdup(p, colon + 1);
    if (!aoidc_claim_path_ok(r->name) || strchr(r->name, ':')) {
        *err = apr_psprintf(p,
                            "'%s': claim name must be 1-%d characters of A-Z a-z 0-9 _ - . (a dotted path "
                            "reaches nested claims; \\. is a dot inside one name)",
                            arg, AOIDC_CLAIM_PATH_MAX);
        return NULL;
    }
    return r;
}

int aoidc_claims_match(const aoidc_claim_t *claims, int n, const aoidc_claim_req_t *req)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(claims[i].name, req->name) == 0 && strcmp(claims[i].value, req->value) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *aoidc_claims_get(apr_pool_t *p, const aoidc_claim_t *claims, int n, const char *name,
                             const char *sep)
{
    const char *out = NULL;
    for (int i = 0; i < n; i++) {
        if (strcmp(claims[i].name, name) == 0) {
            out = out ? apr_pstrcat(p, out, sep, claims[i].value, NULL) : claims[i].value;
        }
    }
    return out;
}
