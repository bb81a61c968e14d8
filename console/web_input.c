/* Parameters of console requests (query strings and urlencoded form bodies):
 * the parsing web_server.c applies to client input, kept free of
 * libmicrohttpd so that the unit tests and tests/fuzz/fuzz_console.c call it
 * directly. */
#include "web.h"

#include "aoidc_util.h"

#include <stdlib.h>
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
