/* Discovery, key sets and the token endpoint. */
#include "aoidc_provider.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

static const char *str_member(apr_pool_t *p, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) > 0 ? apr_pstrdup(p, json_string_value(v)) : NULL;
}

static int url_ok(const char *url, int need_https)
{
    if (!url) {
        return 0;
    }
    if (strncmp(url, "https://", 8) == 0) {
        return 1;
    }
    return !need_https && strncmp(url, "http://", 7) == 0;
}

apr_status_t aoidc_provider_parse_discovery(apr_pool_t *p, const char *json, apr_size_t len,
                                            const char *expected_issuer, aoidc_provider_meta_t **out,
                                            const char **err)
{
    json_error_t jerr;
    if (len > AOIDC_DISCOVERY_MAX_LEN) {
        *err = "discovery document too large";
        return APR_ENOSPC;
    }
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        *err = "discovery document is not a JSON object";
        return APR_EINVAL;
    }
    aoidc_provider_meta_t *m = apr_pcalloc(p, sizeof(*m));
    m->issuer = str_member(p, o, "issuer");
    m->authorization_endpoint = str_member(p, o, "authorization_endpoint");
    m->token_endpoint = str_member(p, o, "token_endpoint");
    m->userinfo_endpoint = str_member(p, o, "userinfo_endpoint");
    m->end_session_endpoint = str_member(p, o, "end_session_endpoint");
    m->jwks_uri = str_member(p, o, "jwks_uri");
    m->introspection_endpoint = str_member(p, o, "introspection_endpoint");
    m->iss_parameter_supported = json_is_true(json_object_get(o, "authorization_response_iss_parameter_supported"));
    json_t *pkce = json_object_get(o, "code_challenge_methods_supported");
    int s256 = !json_is_array(pkce);
    size_t i;
    json_t *e;
    json_array_foreach(pkce, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), "S256") == 0) {
            s256 = 1;
        }
    }
    json_decref(o);
    int https = strncmp(expected_issuer, "https://", 8) == 0;
    if (!m->issuer || strcmp(m->issuer, expected_issuer) != 0) {
        *err = "discovery issuer does not equal the configured issuer";
        return APR_EINVAL;
    }
    if (!url_ok(m->authorization_endpoint, https) || !url_ok(m->token_endpoint, https) ||
        !url_ok(m->jwks_uri, https)) {
        *err = "discovery lacks a valid authorization_endpoint, token_endpoint or jwks_uri";
        return APR_EINVAL;
    }
    if ((m->userinfo_endpoint && !url_ok(m->userinfo_endpoint, https)) ||
        (m->end_session_endpoint && !url_ok(m->end_session_endpoint, https)) ||
        (m->introspection_endpoint && !url_ok(m->introspection_endpoint, https))) {
        *err = "discovery has an endpoint that is not an http(s) URL of the issuer's scheme";
        return APR_EINVAL;
    }
    if (!s256) {
        *err = "provider does not support PKCE S256";
        return APR_EINVAL;
    }
    *out = m;
    return APR_SUCCESS;
}

apr_status_t aoidc_provider_runtime_init(aoidc_provider_t *pr, apr_pool_t *p)
{
    apr_status_t rv;
    if ((rv = apr_pool_create(&pr->rt_pool, p)) != APR_SUCCESS) {
        return rv;
    }
    apr_pool_tag(pr->rt_pool, "aoidc_provider");
    if ((rv = apr_thread_rwlock_create(&pr->lock, pr->rt_pool)) != APR_SUCCESS) {
        return rv;
    }
    return apr_thread_mutex_create(&pr->fetch_mutex, APR_THREAD_MUTEX_DEFAULT, pr->rt_pool);
}

static const char *dup_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static void copy_meta(apr_pool_t *p, const aoidc_provider_meta_t *in, aoidc_provider_meta_t *out)
{
    out->issuer = dup_or_null(p, in->issuer);
    out->authorization_endpoint = dup_or_null(p, in->authorization_endpoint);
    out->token_endpoint = dup_or_null(p, in->token_endpoint);
    out->userinfo_endpoint = dup_or_null(p, in->userinfo_endpoint);
    out->end_session_endpoint = dup_or_null(p, in->end_session_endpoint);
    out->jwks_uri = dup_or_null(p, in->jwks_uri);
    out->introspection_endpoint = dup_or_null(p, in->introspection_endpoint);
    out->iss_parameter_supported = in->iss_parameter_supported;
}

/* Under fetch_mutex: fetch discovery and swap it in. */
static apr_status_t fetch_meta(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o, const char **err)
{
    apr_pool_t *np;
    aoidc_http_resp_t resp;
    aoidc_provider_meta_t *m;
    apr_status_t rv;
    apr_pool_create(&np, pr->rt_pool);
    apr_pool_tag(np, "aoidc_meta");
    const char *url = apr_pstrcat(p, pr->issuer, pr->issuer[strlen(pr->issuer) - 1] == '/' ? "" : "/",
                                  ".well-known/openid-configuration", NULL);
    rv = aoidc_http_get(p, o, url, NULL, &resp, err);
    if (rv == APR_SUCCESS && resp.status != 200) {
        *err = apr_psprintf(p, "discovery at %s answered HTTP %ld", url, resp.status);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = aoidc_provider_parse_discovery(np, resp.body, resp.len, pr->issuer, &m, err);
    }
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(np);
        apr_thread_rwlock_wrlock(pr->lock);
        pr->meta_tried = apr_time_now();
        apr_cpystrn(pr->meta_error, *err ? *err : "failed", sizeof(pr->meta_error));
        pr->refreshed = 1;
        apr_thread_rwlock_unlock(pr->lock);
        return rv;
    }
    apr_thread_rwlock_wrlock(pr->lock);
    pr->meta_tried = apr_time_now();
    pr->meta_error[0] = '\0';
    pr->refreshed = 1;
    apr_pool_t *old = pr->meta_pool;
    pr->meta_pool = np;
    pr->meta = m;
    pr->meta_fetched = apr_time_now();
    apr_thread_rwlock_unlock(pr->lock);
    if (old) {
        apr_pool_destroy(old);
    }
    return APR_SUCCESS;
}

static int meta_fresh(aoidc_provider_t *pr)
{
    apr_time_t ttl = apr_time_from_sec(pr->metadata_ttl > 0 ? pr->metadata_ttl : 86400);
    return pr->meta && apr_time_now() - pr->meta_fetched < ttl;
}

/* With fetch_mutex held: refresh the metadata if stale, then copy it. A
 * stale copy beats no login at all when the provider is unreachable. */
static apr_status_t ensure_meta_locked(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       aoidc_provider_meta_t *out, const char **err)
{
    apr_status_t rv = APR_SUCCESS;
    apr_thread_rwlock_rdlock(pr->lock);
    int fresh = meta_fresh(pr);
    apr_thread_rwlock_unlock(pr->lock);
    if (!fresh) {
        rv = fetch_meta(pr, p, o, err);
    }
    apr_thread_rwlock_rdlock(pr->lock);
    if (pr->meta) {
        copy_meta(p, pr->meta, out);
        rv = APR_SUCCESS;
    }
    apr_thread_rwlock_unlock(pr->lock);
    return rv;
}

/* After fetch_mutex is released: tell the listener about a fetch, once. */
static void notify_refresh(aoidc_provider_t *pr, apr_pool_t *p)
{
    apr_thread_rwlock_wrlock(pr->lock);
    int refreshed = pr->refreshed;
    pr->refreshed = 0;
    apr_thread_rwlock_unlock(pr->lock);
    if (refreshed && pr->on_refresh) {
        pr->on_refresh(pr, p, pr->on_refresh_baton);
    }
}

apr_status_t aoidc_provider_get_meta(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                     aoidc_provider_meta_t *out, const char **err)
{
    apr_thread_rwlock_rdlock(pr->lock);
    int fresh = meta_fresh(pr);
    if (fresh) {
        copy_meta(p, pr->meta, out);
    }
    apr_thread_rwlock_unlock(pr->lock);
    if (fresh) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(pr->fetch_mutex);
    apr_status_t rv = ensure_meta_locked(pr, p, o, out, err);
    apr_thread_mutex_unlock(pr->fetch_mutex);
    notify_refresh(pr, p);
    return rv;
}

/* Under fetch_mutex: fetch the JWKS and swap it in. */
static apr_status_t fetch_jwks(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o, const char **err)
{
    aoidc_provider_meta_t meta;
    apr_status_t rv = ensure_meta_locked(pr, p, o, &meta, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_pool_t *np;
    aoidc_http_resp_t resp;
    aoidc_jwks_t *jwks = NULL;
    apr_pool_create(&np, pr->rt_pool);
    apr_pool_tag(np, "aoidc_jwks");
    rv = aoidc_http_get(p, o, meta.jwks_uri, NULL, &resp, err);
    if (rv == APR_SUCCESS && resp.status != 200) {
        *err = apr_psprintf(p, "jwks_uri %s answered HTTP %ld", meta.jwks_uri, resp.status);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = aoidc_jwks_parse(np, resp.body, resp.len, &jwks, err);
        if (rv != APR_SUCCESS) {
            *err = apr_pstrcat(p, "jwks_uri: ", *err, NULL);
        }
    }
    apr_thread_rwlock_wrlock(pr->lock);
    /* record the attempt even when it failed, so a broken provider is not
     * hammered by every request carrying an unknown kid */
    pr->jwks_fetched = apr_time_now();
    pr->jwks_tried = pr->jwks_fetched;
    apr_cpystrn(pr->jwks_error, rv == APR_SUCCESS ? "" : *err ? *err : "failed", sizeof(pr->jwks_error));
    pr->refreshed = 1;
    apr_pool_t *old = NULL;
    if (rv == APR_SUCCESS) {
        old = pr->jwks_pool;
        pr->jwks_pool = np;
        pr->jwks = jwks;
    }
    apr_thread_rwlock_unlock(pr->lock);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(np);
    }
    if (old) {
        apr_pool_destroy(old);
    }
    return rv;
}

static aoidc_jose_result_t verify_locked(aoidc_provider_t *pr, const aoidc_jwt_t *jwt, int *have_keys)
{
    aoidc_jose_result_t r = AOIDC_JOSE_UNKNOWN_KID;
    apr_thread_rwlock_rdlock(pr->lock);
    *have_keys = pr->jwks != NULL;
    if (pr->jwks) {
        r = aoidc_jwt_verify(jwt, pr->jwks, pr->id_token_algs);
    }
    apr_thread_rwlock_unlock(pr->lock);
    return r;
}

aoidc_jose_result_t aoidc_provider_verify(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_jwt_t *jwt, const char **err)
{
    int have_keys;
    aoidc_jose_result_t r = verify_locked(pr, jwt, &have_keys);
    if (r != AOIDC_JOSE_UNKNOWN_KID) {
        return r;
    }
    apr_thread_mutex_lock(pr->fetch_mutex);
    /* another thread may have fetched the keys while this one waited: many
     * requests arriving together must cause one fetch, not one each */
    r = verify_locked(pr, jwt, &have_keys);
    if (r != AOIDC_JOSE_UNKNOWN_KID) {
        apr_thread_mutex_unlock(pr->fetch_mutex);
        return r;
    }
    apr_thread_rwlock_rdlock(pr->lock);
    apr_time_t since = apr_time_now() - pr->jwks_fetched;
    apr_thread_rwlock_unlock(pr->lock);
    int interval = pr->jwks_refresh_interval > 0 ? pr->jwks_refresh_interval : 0;
    if (!have_keys || since >= apr_time_from_sec(interval)) {
        if (fetch_jwks(pr, p, o, err) != APR_SUCCESS) {
            apr_thread_mutex_unlock(pr->fetch_mutex);
            notify_refresh(pr, p);
            return AOIDC_JOSE_UNKNOWN_KID;
        }
    }
    apr_thread_mutex_unlock(pr->fetch_mutex);
    notify_refresh(pr, p);
    return verify_locked(pr, jwt, &have_keys);
}

apr_status_t aoidc_provider_parse_token_response(apr_pool_t *p, const char *body, apr_size_t len,
                                                 aoidc_tokens_t *out, const char **err)
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    memset(out, 0, sizeof(*out));
    if (!json_is_object(o)) {
        json_decref(o);
        *err = "token response is not a JSON object";
        return APR_EINVAL;
    }
    const char *err_code = str_member(p, o, "error");
    out->id_token = str_member(p, o, "id_token");
    out->access_token = str_member(p, o, "access_token");
    out->refresh_token = str_member(p, o, "refresh_token");
    const char *tt = str_member(p, o, "token_type");
    json_t *ei = json_object_get(o, "expires_in");
    if (json_is_integer(ei) && json_integer_value(ei) > 0) {
        out->expires_in = (apr_int64_t)json_integer_value(ei);
    }
    json_decref(o);
    if (err_code) {
        *err = apr_psprintf(p, "token endpoint error '%.64s'", err_code);
        return APR_EGENERAL;
    }
    if (!out->id_token || !out->access_token) {
        *err = "token response lacks id_token or access_token";
        return APR_EINVAL;
    }
    if (!tt || strcasecmp(tt, "Bearer") != 0) {
        *err = "token response token_type is not Bearer";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* APR_EACCES: the token endpoint refused (HTTP 4xx, e.g. invalid_grant);
 * other errors: no usable answer (transport failure, 5xx, malformed body). */
apr_status_t aoidc_provider_exchange_code(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_provider_meta_t *meta, const char *code,
                                          const char *verifier, const char *redirect_uri, aoidc_tokens_t *out,
                                          const char **err)
{
    aoidc_http_resp_t resp;
    const char *form = apr_pstrcat(p, "grant_type=authorization_code&code=", aoidc_url_encode(p, code),
                                   "&redirect_uri=", aoidc_url_encode(p, redirect_uri),
                                   "&code_verifier=", aoidc_url_encode(p, verifier), NULL);
    apr_status_t rv;
    if (pr->auth_method == AOIDC_AUTH_CLIENT_SECRET_POST) {
        form = apr_pstrcat(p, form, "&client_id=", aoidc_url_encode(p, pr->client_id),
                           "&client_secret=", aoidc_url_encode(p, pr->client_secret), NULL);
        rv = aoidc_http_post_form(p, o, meta->token_endpoint, form, NULL, NULL, &resp, err);
    }
    else {
        rv = aoidc_http_post_form(p, o, meta->token_endpoint, form, pr->client_id, pr->client_secret, &resp, err);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp.status != 200) {
        const char *e2;
        aoidc_tokens_t ignored;
        if (aoidc_provider_parse_token_response(p, resp.body, resp.len, &ignored, &e2) == APR_EGENERAL) {
            *err = apr_psprintf(p, "token endpoint answered HTTP %ld: %s", resp.status, e2);
        }
        else {
            *err = apr_psprintf(p, "token endpoint answered HTTP %ld", resp.status);
        }
        /* a 4xx is the provider refusing this code or client (RFC 6749 5.2);
         * anything else means the provider is not working */
        return resp.status >= 400 && resp.status < 500 ? APR_EACCES : APR_EGENERAL;
    }
    return aoidc_provider_parse_token_response(p, resp.body, resp.len, out, err);
}

apr_status_t aoidc_provider_userinfo(apr_pool_t *p, const aoidc_http_opts_t *o, const aoidc_provider_meta_t *meta,
                                     const char *access_token, json_t **claims, const char **err)
{
    aoidc_http_resp_t resp;
    json_error_t jerr;
    if (!meta->userinfo_endpoint) {
        *err = "provider has no userinfo_endpoint";
        return APR_ENOENT;
    }
    apr_status_t rv = aoidc_http_get(p, o, meta->userinfo_endpoint, access_token, &resp, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (resp.status != 200) {
        *err = apr_psprintf(p, "userinfo answered HTTP %ld", resp.status);
        return APR_EGENERAL;
    }
    json_t *j = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        *err = "userinfo response is not a JSON object (signed userinfo is not supported)";
        return APR_EINVAL;
    }
    *claims = j;
    return APR_SUCCESS;
}

void aoidc_provider_status(aoidc_provider_t *pr, apr_pool_t *p, aoidc_provider_status_t *out)
{
    memset(out, 0, sizeof(*out));
    out->kids = apr_array_make(p, 4, sizeof(const char *));
    out->ktys = apr_array_make(p, 4, sizeof(const char *));
    out->meta_error = out->jwks_error = "";
    if (!pr->lock) {
        return; /* the parent: no runtime, nothing fetched */
    }
    apr_thread_rwlock_rdlock(pr->lock);
    if (pr->meta) {
        out->have_meta = 1;
        copy_meta(p, pr->meta, &out->meta);
    }
    out->meta_fetched = pr->meta_fetched;
    out->meta_tried = pr->meta_tried;
    out->jwks_fetched = pr->jwks_fetched;
    out->jwks_tried = pr->jwks_tried;
    out->meta_error = apr_pstrdup(p, pr->meta_error);
    out->jwks_error = apr_pstrdup(p, pr->jwks_error);
    for (int i = 0; pr->jwks && i < aoidc_jwks_count(pr->jwks); i++) {
        const char *kid = aoidc_jwks_kid(pr->jwks, i), *kty = aoidc_jwks_kty(pr->jwks, i);
        APR_ARRAY_PUSH(out->kids, const char *) = apr_pstrdup(p, kid ? kid : "");
        APR_ARRAY_PUSH(out->ktys, const char *) = apr_pstrdup(p, kty ? kty : "");
    }
    apr_thread_rwlock_unlock(pr->lock);
}
