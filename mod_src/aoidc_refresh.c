/* Server-side refresh (aoidc_refresh.h). */
#include "aoidc_refresh.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>
#include <strings.h>

int aoidc_refresh_due(const aoidc_session_t *s, int before, apr_int64_t now)
{
    return before > 0 && s->refresh_token && *s->refresh_token && s->access_token_exp > 0 &&
           s->access_token_exp - now <= before;
}

const char *aoidc_refresh_lock_key(apr_pool_t *p, const char *store_key)
{
    apr_size_t n = sizeof(AOIDC_SESSION_KEY_PREFIX) - 1;
    if (!store_key || strncmp(store_key, AOIDC_SESSION_KEY_PREFIX, n) != 0 || !store_key[n] ||
        strlen(store_key + n) > 128) {
        return NULL;
    }
    return apr_pstrcat(p, AOIDC_REFRESH_LOCK_PREFIX, store_key + n, NULL);
}

apr_status_t aoidc_refresh_tokens(const aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                  const aoidc_provider_meta_t *meta, const char *refresh_token,
                                  aoidc_tokens_t *out, const char **err)
{
    const char *form =
        apr_pstrcat(p, "grant_type=refresh_token&refresh_token=", aoidc_url_encode(p, refresh_token), NULL);
    return aoidc_provider_token_request(pr, p, o, meta, form, aoidc_provider_parse_refresh_response, out, err);
}

void aoidc_refresh_apply(aoidc_session_t *s, const aoidc_tokens_t *t, apr_int64_t now)
{
    s->access_token = t->access_token;
    s->access_token_exp = t->expires_in ? now + t->expires_in : 0;
    if (t->refresh_token) {
        s->refresh_token = t->refresh_token;
    }
    /* an ID token of a refresh is not checked here: the session keeps the
     * one checked at login (it serves as id_token_hint at logout) */
}

apr_array_header_t *aoidc_refresh_merge_userinfo(apr_pool_t *p, const aoidc_claim_t *claims, int n,
                                                 json_t *userinfo, int *dropped)
{
    int drop = 0;
    apr_array_header_t *fresh = aoidc_claims_flatten(p, userinfo, &drop);
    apr_array_header_t *out = apr_array_make(p, n + fresh->nelts + 1, sizeof(aoidc_claim_t));
    for (int i = 0; i < n; i++) {
        if (json_object_get(userinfo, claims[i].name)) {
            continue; /* the answer says what this claim is now */
        }
        if (out->nelts < AOIDC_CLAIMS_MAX) {
            APR_ARRAY_PUSH(out, aoidc_claim_t) = claims[i];
        }
        else {
            drop++;
        }
    }
    for (int i = 0; i < fresh->nelts; i++) {
        if (out->nelts < AOIDC_CLAIMS_MAX) {
            APR_ARRAY_PUSH(out, aoidc_claim_t) = APR_ARRAY_IDX(fresh, i, aoidc_claim_t);
        }
        else {
            drop++;
        }
    }
    if (dropped) {
        *dropped = drop;
    }
    return out;
}
