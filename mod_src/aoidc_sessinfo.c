/* The session info JSON (aoidc_sessinfo.h). */
#include "aoidc_sessinfo.h"

#include <apr_strings.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL; /* NULL too for bytes that are not UTF-8 */
    return v ? v : json_null();
}

/* The values of one claim: a string, an array of strings, or NULL. Values
 * of a claim are adjacent (aoidc_claims_flatten). */
static json_t *claim_value(const aoidc_session_t *s, const char *name)
{
    json_t *arr = NULL;
    json_t *one = NULL;
    for (int i = 0; i < s->nclaims; i++) {
        if (strcmp(s->claims[i].name, name) != 0) {
            continue;
        }
        json_t *v = json_string(s->claims[i].value);
        if (!v) {
            continue;
        }
        if (!one && !arr) {
            one = v;
        }
        else {
            if (!arr) {
                arr = json_array();
                json_array_append_new(arr, one);
                one = NULL;
            }
            json_array_append_new(arr, v);
        }
    }
    return arr ? arr : one;
}

char *aoidc_sessinfo_json(apr_pool_t *p, const aoidc_session_t *s, apr_int64_t inactivity,
                          const apr_array_header_t *claim_names, const char *csrf_token)
{
    json_t *o = json_object();
    json_t *claims = json_object();
    if (!o || !claims) {
        json_decref(o);
        json_decref(claims);
        return NULL;
    }
    for (int i = 0; claim_names && i < claim_names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(claim_names, i, const char *);
        json_t *v = claim_value(s, name);
        if (v) {
            json_object_set_new(claims, name, v);
        }
    }
    apr_int64_t idle = s->last_seen + inactivity;
    if (s->expires && idle > s->expires) {
        idle = s->expires;
    }
    json_object_set_new(o, "sub", str_or_null(s->sub));
    json_object_set_new(o, "provider", str_or_null(s->provider));
    json_object_set_new(o, "claims", claims);
    json_object_set_new(o, "created", json_integer((json_int_t)s->created));
    json_object_set_new(o, "expires", json_integer((json_int_t)s->expires));
    json_object_set_new(o, "idle_expires", json_integer((json_int_t)idle));
    json_object_set_new(o, "access_token_expires",
                        s->access_token_exp ? json_integer((json_int_t)s->access_token_exp) : json_null());
    json_object_set_new(o, "csrf_token", str_or_null(csrf_token));
    char *d = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!d) {
        return NULL;
    }
    char *out = apr_pstrdup(p, d);
    free(d);
    return out;
}
