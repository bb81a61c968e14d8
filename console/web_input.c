/* Request targets (path, query, route arguments) and parameters of console
 * requests (query strings and urlencoded form bodies): the parsing
 * web_server.c applies to client input, kept free of
 * libmicrohttpd so that the unit tests and tests/fuzz/fuzz_console.c call it
 * directly. */
#include "web.h"

#include "aoidc_util.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

int ocon_param(apr_pool_t *p, const char *src, const char *name, const char **out)
{
    int rc = aoidc_query_param(p, src, name, out);
    if (rc == 1 && !ocon_value_ok(*out)) {
        if (**out == '\0') {
            *out = NULL;
            return 0; /* empty form fields mean "not given" */
        }
        return -1;
    }
    return rc;
}

int ocon_only_params(const char *src, const char *const *names)
{
    if (!src || !*src) {
        return 1;
    }
    const char *s = src;
    int n = 0;
    while (*s) {
        const char *amp = strchr(s, '&');
        apr_size_t plen = amp ? (apr_size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', plen);
        apr_size_t klen = eq ? (apr_size_t)(eq - s) : plen;
        int ok = 0;
        if (++n > OCON_PARAMS_MAX) {
            return 0;
        }
        for (int i = 0; names[i]; i++) {
            if (strlen(names[i]) == klen && !strncmp(names[i], s, klen)) {
                ok = 1;
            }
        }
        if (!ok && plen) {
            return 0;
        }
        if (!amp) {
            break;
        }
        s = amp + 1;
    }
    return 1;
}

int ocon_param_int(const char *v, long min, long max, int *out)
{
    char *end;
    if (!v || !(v[0] >= '0' && v[0] <= '9') || strlen(v) > 12) {
        return 0;
    }
    long n = strtol(v, &end, 10);
    if (*end || n < min || n > max) {
        return 0;
    }
    *out = (int)n;
    return 1;
}

void ocon_split_target(apr_pool_t *p, const char *raw, const char **path, const char **query)
{
    const char *qm = strchr(raw, '?');
    *path = qm ? apr_pstrmemdup(p, raw, (apr_size_t)(qm - raw)) : raw;
    *query = qm ? qm + 1 : "";
}

int ocon_path_ok(const char *path)
{
    /* no path needs escapes, dot segments or empty segments */
    return path[0] == '/' && !strchr(path, '%') && !strstr(path, "//") && !strstr(path, "/.");
}

int ocon_route_match(apr_pool_t *p, const char *path, const char *prefix, const char *suffix, const char **arg)
{
    *arg = NULL;
    if (!suffix) {
        return strcmp(prefix, path) == 0;
    }
    apr_size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
    if (n <= pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + n - sl, suffix) != 0) {
        return 0;
    }
    const char *mid = apr_pstrmemdup(p, path + pl, n - pl - sl);
    if (strchr(mid, '/')) {
        return 0;
    }
    *arg = mid;
    return 1;
}

int ocon_body_parse(apr_pool_t *p, const char *ctype, const char *body, apr_size_t len, ocon_body_t *out)
{
    out->form = NULL;
    out->json = NULL;
    if (len == 0) {
        return 0;
    }
    if (memchr(body, '\0', len)) {
        return 400;
    }
    if (!ctype) {
        return 415;
    }
    if (!strncasecmp(ctype, "application/x-www-form-urlencoded", 33)) {
        out->form = apr_pstrmemdup(p, body, len);
        return 0;
    }
    if (!strncasecmp(ctype, "application/json", 16)) {
        out->json = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(out->json)) {
            json_decref(out->json);
            out->json = NULL;
            return 400;
        }
        return 0;
    }
    return 415;
}

int ocon_body_param(apr_pool_t *p, const ocon_body_t *b, const char *name, const char **out)
{
    *out = NULL;
    if (b->json) {
        json_t *v = json_object_get(b->json, name);
        if (!v) {
            return 0;
        }
        if (!json_is_string(v) || !ocon_value_ok(json_string_value(v))) {
            return -1;
        }
        *out = apr_pstrdup(p, json_string_value(v));
        return 1;
    }
    return ocon_param(p, b->form, name, out);
}
