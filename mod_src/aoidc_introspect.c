/* RFC 7662 token introspection: ask, parse into what was learnt, check per
 * location, and the record the store keeps (see aoidc_introspect.h). */
#include "aoidc_introspect.h"
#include "aoidc_session.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

#define AUD_CLAIM "aud"

static apr_status_t json_cleanup(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

static json_t *json_own(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

/* aud as RFC 7662 allows it (a string or a non-empty array of strings) and
 * within what a cached record holds. */
static int aud_shape_ok(const json_t *aud)
{
    if (json_is_string(aud)) {
        return json_string_length(aud) <= AOIDC_CLAIM_VALUE_MAX;
    }
    if (!json_is_array(aud) || json_array_size(aud) == 0 || json_array_size(aud) > AOIDC_INTROSPECT_AUD_MAX) {
        return 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(aud, i, e) {
        if (!json_is_string(e) || json_string_length(e) > AOIDC_CLAIM_VALUE_MAX) {
            return 0;
        }
    }
    return 1;
}

aoidc_introspect_rc_t aoidc_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len, const char *issuer,
                                             apr_int64_t now, aoidc_introspection_t *out, const char **why)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    aoidc_introspect_rc_t rc = AOIDC_INTROSPECT_INACTIVE;
    memset(out, 0, sizeof(*out));
    out->sub = "";
    out->scope = "";
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "introspection answer is not a JSON object";
        return AOIDC_INTROSPECT_ERROR;
    }
    json_t *active = json_object_get(o, "active");
    json_t *exp = json_object_get(o, "exp");
    json_t *iss = json_object_get(o, "iss");
    json_t *aud = json_object_get(o, "aud");
    const char *sub = json_string_value(json_object_get(o, "sub"));
    if (!sub) {
        sub = json_string_value(json_object_get(o, "client_id"));
    }
    if (!json_is_boolean(active)) {
        *why = "introspection answer has no boolean 'active'";
        rc = AOIDC_INTROSPECT_ERROR;
    }
    else if (!json_is_true(active)) {
        *why = "token is not active";
    }
    else if (exp && (!json_is_integer(exp) || json_integer_value(exp) <= now)) {
        *why = "token expired";
    }
    else if (iss && (!json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0)) {
        *why = "token of another issuer";
    }
    else if (aud && !aud_shape_ok(aud)) {
        *why = "token aud is not a string or array of strings within the limits";
    }
    else if (!sub || !*sub) {
        *why = "token has neither sub nor client_id";
    }
    else {
        int dropped;
        apr_array_header_t *flat = aoidc_claims_flatten(p, o, &dropped);
        out->active = 1;
        out->sub = apr_pstrdup(p, sub);
        out->exp = exp ? (apr_int64_t)json_integer_value(exp) : 0;
        out->aud = aud ? json_own(p, json_incref(aud)) : NULL;
        out->claims = (const aoidc_claim_t *)flat->elts;
        out->nclaims = flat->nelts;
        out->scope = aoidc_scope_of_claims(p, out->claims, out->nclaims);
        rc = AOIDC_INTROSPECT_ACTIVE;
    }
    json_decref(o);
    return rc;
}

aoidc_introspect_rc_t aoidc_introspect_check(const aoidc_introspection_t *t, const char *audience, apr_int64_t now,
                                             const char **why)
{
    if (!t->active) {
        *why = "token is not active";
    }
    else if (t->exp && t->exp <= now) {
        *why = "token expired";
    }
    else if (!t->aud) {
        *why = "token names no audience";
    }
    else if (!aoidc_aud_contains(t->aud, audience)) {
        *why = "token for another audience";
    }
    else {
        return AOIDC_INTROSPECT_ACTIVE;
    }
    return AOIDC_INTROSPECT_INACTIVE;
}

aoidc_introspect_rc_t aoidc_introspect(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       const char *token, apr_int64_t now, aoidc_introspection_t *out,
                                       const char **why)
{
    aoidc_provider_meta_t meta;
    aoidc_http_resp_t resp;
    if (aoidc_provider_get_meta(pr, p, o, &meta, why) != APR_SUCCESS) {
        return AOIDC_INTROSPECT_ERROR;
    }
    if (!meta.introspection_endpoint) {
        *why = "provider has no introspection_endpoint";
        return AOIDC_INTROSPECT_ERROR;
    }
    const char *form = apr_pstrcat(p, "token=", aoidc_url_encode(p, token), "&token_type_hint=access_token", NULL);
    apr_status_t rv;
    if (pr->auth_method == AOIDC_AUTH_CLIENT_SECRET_POST) {
        form = apr_pstrcat(p, form, "&client_id=", aoidc_url_encode(p, pr->client_id),
                           "&client_secret=", aoidc_url_encode(p, pr->client_secret), NULL);
        rv = aoidc_http_post_form(p, o, meta.introspection_endpoint, form, NULL, NULL, &resp, why);
    }
    else {
        rv = aoidc_http_post_form(p, o, meta.introspection_endpoint, form, pr->client_id, pr->client_secret, &resp,
                                  why);
    }
    if (rv != APR_SUCCESS) {
        return AOIDC_INTROSPECT_ERROR;
    }
    if (resp.status != 200) {
        *why = apr_psprintf(p, "introspection answered HTTP %ld", resp.status);
        return AOIDC_INTROSPECT_ERROR;
    }
    return aoidc_introspect_parse(p, resp.body, resp.len, pr->issuer, now, out, why);
}

/* ---- the cached record ---- */

apr_status_t aoidc_introspect_encode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                     const char *provider, const aoidc_introspection_t *t, apr_int64_t now,
                                     apr_int64_t expires, unsigned char **out, apr_size_t *outlen)
{
    aoidc_session_t rec;
    memset(&rec, 0, sizeof(rec));
    rec.provider = provider;
    rec.sub = t->active ? t->sub : "";
    rec.created = now;
    rec.last_seen = now;
    rec.expires = expires;
    rec.access_token_exp = t->exp;
    if (t->active) {
        /* the flattened claims, then each aud value as an "aud" claim (the
         * flattening leaves the protocol claim aud out, so the name is free) */
        size_t naud = json_is_array(t->aud) ? json_array_size(t->aud) : t->aud ? 1 : 0;
        aoidc_claim_t *c = apr_palloc(p, sizeof(*c) * ((apr_size_t)t->nclaims + naud + 1));
        int n = 0;
        for (int i = 0; i < t->nclaims; i++) {
            c[n++] = t->claims[i];
        }
        if (json_is_string(t->aud)) {
            c[n].name = AUD_CLAIM;
            c[n++].value = json_string_value(t->aud);
        }
        size_t i;
        json_t *e;
        json_array_foreach(t->aud, i, e) {
            if (json_is_string(e)) {
                c[n].name = AUD_CLAIM;
                c[n++].value = json_string_value(e);
            }
        }
        rec.claims = c;
        rec.nclaims = n;
    }
    return aoidc_session_encode(p, keys, store_key, &rec, out, outlen);
}

apr_status_t aoidc_introspect_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                     const char *provider, const unsigned char *in, apr_size_t inlen,
                                     aoidc_introspection_t *t, apr_int64_t *expires)
{
    aoidc_session_t rec;
    apr_status_t rv = aoidc_session_decode(p, keys, store_key, in, inlen, &rec);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (!rec.provider || strcmp(rec.provider, provider) != 0 || rec.nclaims < 0) {
        return APR_EINVAL;
    }
    memset(t, 0, sizeof(*t));
    t->active = rec.sub && *rec.sub;
    t->sub = rec.sub ? rec.sub : "";
    t->exp = rec.access_token_exp;
    t->scope = "";
    *expires = rec.expires;
    if (!t->active) {
        return APR_SUCCESS;
    }
    aoidc_claim_t *c = apr_palloc(p, sizeof(*c) * ((apr_size_t)rec.nclaims + 1));
    int n = 0;
    json_t *aud = NULL;
    for (int i = 0; i < rec.nclaims; i++) {
        if (strcmp(rec.claims[i].name, AUD_CLAIM) != 0) {
            c[n++] = rec.claims[i];
            continue;
        }
        if (!aud) {
            aud = json_own(p, json_array());
            if (!aud) {
                return APR_ENOMEM;
            }
        }
        if (json_array_append_new(aud, json_string(rec.claims[i].value)) != 0) {
            return APR_EINVAL; /* not UTF-8: not written by us */
        }
    }
    t->aud = aud;
    t->claims = c;
    t->nclaims = n;
    t->scope = aoidc_scope_of_claims(p, c, n);
    return APR_SUCCESS;
}
