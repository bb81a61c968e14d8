/* RFC 7662 token introspection. */
#include "aoidc_introspect.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

static const char *scope_of(apr_pool_t *p, json_t *o)
{
    json_t *s = json_object_get(o, "scope");
    if (json_is_string(s)) {
        return apr_pstrdup(p, json_string_value(s));
    }
    json_t *scp = json_object_get(o, "scp");
    if (json_is_string(scp)) {
        return apr_pstrdup(p, json_string_value(scp));
    }
    const char *out = "";
    size_t i;
    json_t *e;
    json_array_foreach(scp, i, e) {
        if (json_is_string(e) && !strchr(json_string_value(e), ' ')) {
            out = *out ? apr_pstrcat(p, out, " ", json_string_value(e), NULL) : apr_pstrdup(p, json_string_value(e));
        }
    }
    return out;
}

aoidc_introspect_rc_t aoidc_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len, const char *issuer,
                                             const char *audience, apr_int64_t now, aoidc_principal_t *out,
                                             const char **why)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    aoidc_introspect_rc_t rc = AOIDC_INTROSPECT_INACTIVE;
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
    else if (audience && aud && !aoidc_aud_contains(aud, audience)) {
        *why = "token for another audience";
    }
    else if (audience && !aud) {
        *why = "token names no audience";
    }
    else if (!sub || !*sub) {
        *why = "token has neither sub nor client_id";
    }
    else {
        int dropped;
        apr_array_header_t *flat = aoidc_claims_flatten(p, o, &dropped);
        out->sub = apr_pstrdup(p, sub);
        out->scope = scope_of(p, o);
        out->exp = exp ? (apr_int64_t)json_integer_value(exp) : 0;
        out->claims = (const aoidc_claim_t *)flat->elts;
        out->nclaims = flat->nelts;
        rc = AOIDC_INTROSPECT_ACTIVE;
    }
    json_decref(o);
    return rc;
}

aoidc_introspect_rc_t aoidc_introspect(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       const char *token, const char *audience, apr_int64_t now,
                                       aoidc_principal_t *out, const char **why)
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
    out->provider = pr->name;
    return aoidc_introspect_parse(p, resp.body, resp.len, pr->issuer, audience, now, out, why);
}
