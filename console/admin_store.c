/* Console (admin) sessions kept in the session store, so that a restart of
 * the console logs nobody out and a logout holds whatever instance the cookie
 * is shown to next. The cookie value is never stored: the record's key is
 * aoidc:c:<base64url(SHA-256(cookie))>, its value {"admin", "created",
 * "last"} sealed with the session key (AAD = the key), and memcached expires
 * it at the end of the idle timeout (refreshed as the admin works), or at the
 * absolute timeout, whichever comes first. */
#include "console.h"

#include "aoidc_util.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define REC_MAX 1024

static const char *rec_key(apr_pool_t *p, const char *sid)
{
    unsigned char h[32];
    aoidc_sha256(sid, strlen(sid), h);
    return apr_pstrcat(p, "aoidc:c:", aoidc_b64url_encode(p, h, sizeof(h)), NULL);
}

apr_status_t ocon_admin_put(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid, const ocon_admin_rec_t *rec,
                            long ttl)
{
    const char *key = rec_key(p, sid);
    json_t *j = json_pack("{s:s, s:I, s:I}", "admin", rec->admin, "created", (json_int_t)rec->created, "last",
                          (json_int_t)rec->last);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        return APR_ENOMEM;
    }
    unsigned char *ct;
    apr_size_t ctlen;
    apr_status_t rv =
        aoidc_keys_seal(p, &ctx->keys, AOIDC_KEY_SESSION, key, strlen(key), text, strlen(text), &ct, &ctlen);
    free(text);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return ctx->store->set(ctx->store, key, ct, ctlen, ttl > 0 ? ttl : 1) == AOIDC_STORE_OK ? APR_SUCCESS
                                                                                            : APR_EGENERAL;
}

int ocon_admin_get(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid, ocon_admin_rec_t *rec)
{
    const char *key = rec_key(p, sid);
    char *v;
    apr_size_t n;
    unsigned char *pt;
    apr_size_t ptlen;
    memset(rec, 0, sizeof(*rec));
    aoidc_store_rc_t rc = ctx->store->get(ctx->store, p, key, &v, &n, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return 0;
    }
    if (rc != AOIDC_STORE_OK) {
        return -1;
    }
    if (n > REC_MAX || aoidc_keys_open(p, &ctx->keys, AOIDC_KEY_SESSION, key, strlen(key),
                                       (const unsigned char *)v, n, &pt, &ptlen, NULL) != APR_SUCCESS) {
        return 0; /* not ours (another key): nobody */
    }
    json_t *j = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, NULL);
    json_t *a = json_object_get(j, "admin"), *c = json_object_get(j, "created"),
           *l = json_object_get(j, "last");
    int ok = json_is_string(a) && json_is_integer(c) && json_is_integer(l);
    if (ok) {
        rec->admin = apr_pstrdup(p, json_string_value(a));
        rec->created = (apr_int64_t)json_integer_value(c);
        rec->last = (apr_int64_t)json_integer_value(l);
    }
    json_decref(j);
    return ok;
}

void ocon_admin_del(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid)
{
    ctx->store->del(ctx->store, rec_key(p, sid));
}
