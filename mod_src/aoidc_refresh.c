/* Server-side refresh (aoidc_refresh.h). */
#include "aoidc_refresh.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <jansson.h>
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

static const char *str_member(apr_pool_t *p, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return NULL; /* absent, empty, or with a NUL inside */
    }
    return apr_pstrdup(p, json_string_value(v));
}

apr_status_t aoidc_refresh_parse_response(apr_pool_t *p, const char *body, apr_size_t len,
                                          aoidc_tokens_t *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (!body || len > AOIDC_REFRESH_BODY_MAX) {
        *err = "token response missing or too large";
        return APR_EINVAL;
    }
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        *err = "token response is not a JSON object";
        return APR_EINVAL;
    }
    const char *err_code = str_member(p, o, "error");
    out->access_token = str_member(p, o, "access_token");
    out->refresh_token = str_member(p, o, "refresh_token");
    out->id_token = str_member(p, o, "id_token");
    const char *tt = str_member(p, o, "token_type");
    json_t *ei = json_object_get(o, "expires_in");
    if (json_is_integer(ei) && json_integer_value(ei) > 0 && json_integer_value(ei) <= 10 * 365 * 86400) {
        out->expires_in = (apr_int64_t)json_integer_value(ei);
    }
    json_decref(o);
    if (err_code) {
        *err = apr_psprintf(p, "token endpoint error '%.64s'", err_code);
        return APR_EGENERAL;
    }
    if (!out->access_token) {
        *err = "token response lacks access_token";
        return APR_EINVAL;
    }
    if (!tt || strcasecmp(tt, "Bearer") != 0) {
        *err = "token response token_type is not Bearer";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_refresh_tokens(const aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                  const aoidc_provider_meta_t *meta, const char *refresh_token,
                                  aoidc_tokens_t *out, const char **err)
{
    const char *form =
        apr_pstrcat(p, "grant_type=refresh_token&refresh_token=", aoidc_url_encode(p, refresh_token), NULL);
    return aoidc_provider_token_request(pr, p, o, meta, form, aoidc_refresh_parse_response, out, err);
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
