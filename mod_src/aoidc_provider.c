/* Discovery, key sets and the token endpoint. */
#include "aoidc_provider.h"
#include "aoidc_metrics.h"
#include "aoidc_util.h"

#include <apr_allocator.h>
#include <apr_strings.h>
#include <string.h>

static const char *str_member(apr_pool_t *p, json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return NULL; /* absent, empty, or with a NUL inside */
    }
    return apr_pstrdup(p, json_string_value(v));
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

aoidc_provider_t *aoidc_provider_for_issuer(const apr_array_header_t *providers, const char *iss,
                                            const apr_array_header_t *accepted)
{
    for (int i = 0; iss && providers && i < providers->nelts; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(providers, i, aoidc_provider_t *);
        if (strcmp(pr->issuer, iss) != 0) {
            continue;
        }
        if (!accepted) {
            return pr;
        }
        for (int j = 0; j < accepted->nelts; j++) {
            if (strcmp(APR_ARRAY_IDX(accepted, j, const char *), pr->name) == 0) {
                return pr;
            }
        }
    }
    return NULL;
}

apr_status_t aoidc_provider_runtime_init(aoidc_provider_t *pr, apr_pool_t *p)
{
    apr_status_t rv;
    apr_allocator_t *al;
    apr_thread_mutex_t *amutex;
    /* Every thread of the process fetches into subpools of rt_pool and
     * destroys the old ones; the process pool's allocator has no mutex
     * (httpd gives each thread its own), so sharing it here would race with
     * whatever else uses it. rt_pool gets its own allocator, guarded by a
     * mutex, owned by rt_pool and destroyed with it (and with p). */
    if ((rv = apr_allocator_create(&al)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_pool_create_ex(&pr->rt_pool, p, NULL, al)) != APR_SUCCESS) {
        apr_allocator_destroy(al);
        return rv;
    }
    apr_allocator_owner_set(al, pr->rt_pool);
    apr_pool_tag(pr->rt_pool, "aoidc_provider");
    if ((rv = apr_thread_mutex_create(&amutex, APR_THREAD_MUTEX_DEFAULT, pr->rt_pool)) != APR_SUCCESS) {
        return rv;
    }
    apr_allocator_mutex_set(al, amutex);
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

/* The end of the backoff after the failures-th failure in a row. */
static apr_time_t backoff_until(apr_time_t now, int failures)
{
    apr_int64_t secs = AOIDC_PROVIDER_BACKOFF_MIN;
    for (int i = 1; i < failures && secs < AOIDC_PROVIDER_BACKOFF_MAX; i++) {
        secs *= 2;
    }
    return now + apr_time_from_sec(secs < AOIDC_PROVIDER_BACKOFF_MAX ? secs : AOIDC_PROVIDER_BACKOFF_MAX);
}

static apr_status_t http_get(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o, const char *url,
                             aoidc_http_resp_t *resp, const char **err)
{
    *err = NULL;
    return (pr->http_get ? pr->http_get : aoidc_http_get)(p, o, url, NULL, resp, err);
}

/* Under fetch_mutex: fetch discovery and swap it in; a failure starts or
 * lengthens the backoff. */
static apr_status_t fetch_meta(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o, const char **err)
{
    apr_pool_t *np;
    aoidc_http_resp_t resp;
    aoidc_provider_meta_t *m;
    apr_status_t rv;
    const char *url = apr_pstrcat(p, pr->issuer, pr->issuer[strlen(pr->issuer) - 1] == '/' ? "" : "/",
                                  ".well-known/openid-configuration", NULL);
    if ((rv = apr_pool_create(&np, pr->rt_pool)) != APR_SUCCESS) {
        *err = "out of memory";
        return rv;
    }
    apr_pool_tag(np, "aoidc_meta");
    rv = http_get(pr, p, o, url, &resp, err);
    if (rv == APR_SUCCESS && resp.status != 200) {
        *err = apr_psprintf(p, "discovery at %s answered HTTP %ld", url, resp.status);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = aoidc_provider_parse_discovery(np, resp.body, resp.len, pr->issuer, &m, err);
    }
    aoidc_metric_fetch(AOIDC_M_FETCH_DISCOVERY, rv);
    apr_time_t now = apr_time_now();
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(np);
        if (!*err) {
            *err = "discovery failed";
        }
        apr_thread_rwlock_wrlock(pr->lock);
        pr->meta_tried = now;
        apr_cpystrn(pr->meta_error, *err, sizeof(pr->meta_error));
        pr->meta_failures++;
        pr->meta_retry_at = backoff_until(now, pr->meta_failures);
        pr->refreshed = 1;
        apr_thread_rwlock_unlock(pr->lock);
        return rv;
    }
    apr_thread_rwlock_wrlock(pr->lock);
    pr->meta_tried = now;
    pr->meta_error[0] = '\0';
    pr->meta_failures = 0;
    pr->meta_retry_at = 0;
    pr->refreshed = 1;
    apr_pool_t *old = pr->meta_pool;
    pr->meta_pool = np;
    pr->meta = m;
    pr->meta_fetched = now;
    apr_thread_rwlock_unlock(pr->lock);
    if (old) {
        apr_pool_destroy(old);
    }
    return APR_SUCCESS;
}

typedef enum { META_FRESH, META_BACKOFF, META_FETCH } meta_need_t;

/* Under pr->lock (read): what a caller wanting metadata must do now. */
static meta_need_t meta_need(aoidc_provider_t *pr, apr_time_t now)
{
    apr_time_t ttl = apr_time_from_sec(pr->metadata_ttl > 0 ? pr->metadata_ttl : 86400);
    if (pr->meta && now - pr->meta_fetched < ttl) {
        return META_FRESH;
    }
    return now < pr->meta_retry_at ? META_BACKOFF : META_FETCH;
}

/* Under pr->lock (read): the last good metadata into out (APR_SUCCESS), or
 * APR_EAGAIN with *err saying why there is none. */
static apr_status_t meta_cached(aoidc_provider_t *pr, apr_pool_t *p, const char *why, aoidc_provider_meta_t *out,
                                const char **err)
{
    if (pr->meta) {
        copy_meta(p, pr->meta, out);
        return APR_SUCCESS;
    }
    /* the last failure first: it is what the operator needs to fix */
    *err = pr->meta_error[0] ? apr_pstrcat(p, pr->meta_error, " (", why, ")", NULL) : why;
    return APR_EAGAIN;
}

/* With fetch_mutex held: refresh the metadata if stale and not backed off,
 * then copy it. A stale copy beats no login at all when the provider is
 * unreachable. */
static apr_status_t ensure_meta_locked(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       aoidc_provider_meta_t *out, const char **err)
{
    apr_status_t rv = APR_SUCCESS;
    apr_thread_rwlock_rdlock(pr->lock);
    meta_need_t need = meta_need(pr, apr_time_now());
    apr_thread_rwlock_unlock(pr->lock);
    if (need == META_FETCH) {
        rv = fetch_meta(pr, p, o, err);
    }
    apr_thread_rwlock_rdlock(pr->lock);
    if (pr->meta || need != META_FETCH) {
        rv = meta_cached(pr, p, "no new attempt until the backoff after that failure ends", out, err);
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
    apr_status_t rv;
    apr_thread_rwlock_rdlock(pr->lock);
    meta_need_t need = meta_need(pr, apr_time_now());
    if (need != META_FETCH) {
        rv = meta_cached(pr, p, "no new attempt until the backoff after that failure ends", out, err);
    }
    apr_thread_rwlock_unlock(pr->lock);
    if (need != META_FETCH) {
        return rv;
    }
    /* one thread fetches; the others never queue behind it (a slow or
     * frozen provider would hold every worker for a whole HTTP timeout) */
    if (apr_thread_mutex_trylock(pr->fetch_mutex) != APR_SUCCESS) {
        apr_thread_rwlock_rdlock(pr->lock);
        rv = meta_cached(pr, p, "another request is fetching the provider's discovery", out, err);
        apr_thread_rwlock_unlock(pr->lock);
        return rv;
    }
    rv = ensure_meta_locked(pr, p, o, out, err);
    apr_thread_mutex_unlock(pr->fetch_mutex);
    notify_refresh(pr, p);
    return rv;
}

/* Under fetch_mutex: fetch the JWKS and swap it in; a failure starts or
 * lengthens the backoff. */
static apr_status_t fetch_jwks(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o, const char **err)
{
    aoidc_provider_meta_t meta;
    apr_status_t rv = ensure_meta_locked(pr, p, o, &meta, err);
    if (rv != APR_SUCCESS) {
        return rv; /* the discovery failure has its own backoff */
    }
    apr_pool_t *np;
    aoidc_http_resp_t resp;
    aoidc_jwks_t *jwks = NULL;
    if ((rv = apr_pool_create(&np, pr->rt_pool)) != APR_SUCCESS) {
        *err = "out of memory";
        return rv;
    }
    apr_pool_tag(np, "aoidc_jwks");
    rv = http_get(pr, p, o, meta.jwks_uri, &resp, err);
    if (rv == APR_SUCCESS && resp.status != 200) {
        *err = apr_psprintf(p, "jwks_uri %s answered HTTP %ld", meta.jwks_uri, resp.status);
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = aoidc_jwks_parse(np, resp.body, resp.len, &jwks, err);
        if (rv != APR_SUCCESS) {
            *err = apr_pstrcat(p, "jwks_uri: ", *err ? *err : "invalid", NULL);
        }
    }
    if (rv != APR_SUCCESS && !*err) {
        *err = "JWKS fetch failed";
    }
    aoidc_metric_fetch(AOIDC_M_FETCH_JWKS, rv);
    apr_time_t now = apr_time_now();
    apr_thread_rwlock_wrlock(pr->lock);
    pr->jwks_tried = now;
    apr_cpystrn(pr->jwks_error, rv == APR_SUCCESS ? "" : *err, sizeof(pr->jwks_error));
    pr->refreshed = 1;
    apr_pool_t *old = NULL;
    if (rv == APR_SUCCESS) {
        old = pr->jwks_pool;
        pr->jwks_pool = np;
        pr->jwks = jwks;
        pr->jwks_fetched = now;
        pr->jwks_failures = 0;
        pr->jwks_retry_at = 0;
    }
    else {
        pr->jwks_failures++;
        pr->jwks_retry_at = backoff_until(now, pr->jwks_failures);
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

typedef enum { REFETCH_OK, REFETCH_BACKOFF, REFETCH_KID_THROTTLED, REFETCH_BUDGET_SPENT } refetch_t;

/* Under pr->lock (write): may a token whose kid is not in the keys we hold
 * cause a JWKS fetch now? When it may, the attempt is charged to the kid
 * and to the interval's budget. Keys we do not have at all are fetched
 * whenever no backoff holds. */
static refetch_t refetch_allowed(aoidc_provider_t *pr, const char *kid, int have_keys, apr_time_t now)
{
    if (now < pr->jwks_retry_at) {
        return REFETCH_BACKOFF;
    }
    if (!have_keys) {
        return REFETCH_OK;
    }
    apr_time_t interval = apr_time_from_sec(pr->jwks_refresh_interval > 0 ? pr->jwks_refresh_interval : 0);
    char key[AOIDC_KID_MAX_LEN + 1];
    apr_cpystrn(key, kid ? kid : "", sizeof(key)); /* a longer kid is throttled with its prefix */
    aoidc_kid_miss_t *slot = NULL;
    for (int i = 0; i < AOIDC_KID_MISS_SLOTS; i++) {
        aoidc_kid_miss_t *m = &pr->kid_miss[i];
        if (m->tried && strcmp(m->kid, key) == 0) {
            slot = m;
            break;
        }
    }
    if (slot && now - slot->tried < interval) {
        return REFETCH_KID_THROTTLED;
    }
    apr_time_t window = interval > apr_time_from_sec(1) ? interval : apr_time_from_sec(1);
    if (now - pr->refetch_window >= window || now < pr->refetch_window) {
        pr->refetch_window = now;
        pr->refetch_count = 0;
    }
    if (pr->refetch_count >= AOIDC_JWKS_REFETCH_BUDGET) {
        return REFETCH_BUDGET_SPENT;
    }
    pr->refetch_count++;
    if (!slot) {
        slot = &pr->kid_miss[0];
        for (int i = 0; i < AOIDC_KID_MISS_SLOTS; i++) { /* a free slot, else the oldest */
            if (pr->kid_miss[i].tried < slot->tried) {
                slot = &pr->kid_miss[i];
            }
        }
        apr_cpystrn(slot->kid, key, sizeof(slot->kid));
    }
    slot->tried = now;
    return REFETCH_OK;
}

aoidc_jose_result_t aoidc_provider_verify_ex(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                             const aoidc_jwt_t *jwt, const char **err, int *unavailable)
{
    int have_keys, dummy;
    if (!unavailable) {
        unavailable = &dummy;
    }
    *unavailable = 0;
    aoidc_jose_result_t r = verify_locked(pr, jwt, &have_keys);
    if (r != AOIDC_JOSE_UNKNOWN_KID) {
        return r;
    }
    /* one thread fetches; the others never queue behind it */
    if (apr_thread_mutex_trylock(pr->fetch_mutex) != APR_SUCCESS) {
        *err = "another request is fetching the provider's keys";
        *unavailable = 1; /* cannot tell yet: the fetch may bring this kid */
        return AOIDC_JOSE_UNKNOWN_KID;
    }
    /* the thread that held the mutex may just have fetched the new keys */
    r = verify_locked(pr, jwt, &have_keys);
    if (r != AOIDC_JOSE_UNKNOWN_KID) {
        apr_thread_mutex_unlock(pr->fetch_mutex);
        return r;
    }
    apr_thread_rwlock_wrlock(pr->lock);
    refetch_t may = refetch_allowed(pr, jwt->kid, have_keys, apr_time_now());
    if (may == REFETCH_BACKOFF) {
        *err = apr_pstrcat(p, pr->jwks_error, " (no new attempt until the backoff after that failure ends)", NULL);
    }
    apr_thread_rwlock_unlock(pr->lock);
    if (may != REFETCH_OK) {
        apr_thread_mutex_unlock(pr->fetch_mutex);
        if (may == REFETCH_KID_THROTTLED) {
            *err = "kid not in the provider's keys (looked up again recently)";
        }
        else if (may == REFETCH_BUDGET_SPENT) {
            *err = "kid not in the provider's keys (too many unknown kids: refetch budget spent)";
        }
        *unavailable = may == REFETCH_BACKOFF;
        return AOIDC_JOSE_UNKNOWN_KID;
    }
    apr_status_t rv = fetch_jwks(pr, p, o, err);
    apr_thread_mutex_unlock(pr->fetch_mutex);
    notify_refresh(pr, p);
    if (rv != APR_SUCCESS) {
        *unavailable = 1;
        return AOIDC_JOSE_UNKNOWN_KID;
    }
    return verify_locked(pr, jwt, &have_keys);
}

aoidc_jose_result_t aoidc_provider_verify(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_jwt_t *jwt, const char **err)
{
    return aoidc_provider_verify_ex(pr, p, o, jwt, err, NULL);
}

/* One parser for both grants: the code exchange needs an ID token, a
 * refresh need not carry one. */
static apr_status_t parse_tokens(apr_pool_t *p, const char *body, apr_size_t len, int need_id_token,
                                 aoidc_tokens_t *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (!body || len > AOIDC_TOKEN_BODY_MAX) {
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
    out->id_token = str_member(p, o, "id_token");
    out->access_token = str_member(p, o, "access_token");
    out->refresh_token = str_member(p, o, "refresh_token");
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
    if (!out->access_token || (need_id_token && !out->id_token)) {
        *err = need_id_token ? "token response lacks id_token or access_token" : "token response lacks access_token";
        return APR_EINVAL;
    }
    if (!tt || strcasecmp(tt, "Bearer") != 0) {
        *err = "token response token_type is not Bearer";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_provider_parse_token_response(apr_pool_t *p, const char *body, apr_size_t len,
                                                 aoidc_tokens_t *out, const char **err)
{
    return parse_tokens(p, body, len, 1, out, err);
}

apr_status_t aoidc_provider_parse_refresh_response(apr_pool_t *p, const char *body, apr_size_t len,
                                                   aoidc_tokens_t *out, const char **err)
{
    return parse_tokens(p, body, len, 0, out, err);
}

apr_status_t aoidc_provider_token_request(const aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_provider_meta_t *meta, const char *form,
                                          aoidc_token_parse_fn parse, aoidc_tokens_t *out, const char **err)
{
    aoidc_http_resp_t resp;
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
        if (parse(p, resp.body, resp.len, &ignored, &e2) == APR_EGENERAL) {
            *err = apr_psprintf(p, "token endpoint answered HTTP %ld: %s", resp.status, e2);
        }
        else {
            *err = apr_psprintf(p, "token endpoint answered HTTP %ld", resp.status);
        }
        /* a 4xx is the provider refusing this grant or client (RFC 6749 5.2);
         * anything else means the provider is not working */
        return resp.status >= 400 && resp.status < 500 ? APR_EACCES : APR_EGENERAL;
    }
    return parse(p, resp.body, resp.len, out, err);
}

/* APR_EACCES: the token endpoint refused (HTTP 4xx, e.g. invalid_grant);
 * other errors: no usable answer (transport failure, 5xx, malformed body). */
apr_status_t aoidc_provider_exchange_code(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                          const aoidc_provider_meta_t *meta, const char *code,
                                          const char *verifier, const char *redirect_uri, aoidc_tokens_t *out,
                                          const char **err)
{
    const char *form = apr_pstrcat(p, "grant_type=authorization_code&code=", aoidc_url_encode(p, code),
                                   "&redirect_uri=", aoidc_url_encode(p, redirect_uri),
                                   "&code_verifier=", aoidc_url_encode(p, verifier), NULL);
    return aoidc_provider_token_request(pr, p, o, meta, form, aoidc_provider_parse_token_response, out, err);
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
