/* check_authn for AuthType oidc: the hot path.
 *   cookie -> store key -> one store get -> decrypt+parse -> r->user
 * No provider call, no JSON, and a write only when the last-seen time is
 * older than the touch interval (then a CAS, so parallel requests of one
 * session write once). */
#include "mod_auth_oidc.h"
#include "aoidc_request.h"
#include "mod_auth_oidc_spa.h"
#include "aoidc_directory.h"
#include "aoidc_reauth.h"

#include <apr_time.h>

APLOG_USE_MODULE(auth_oidc);


/* The nearest request up the chain of main requests and redirects, r
 * included, that holds our context (*ctx). A subrequest or redirect that
 * authenticates on its own gets a context of its own first
 * (aoidc_reuse_parent_verdict), so it never sees its parent's session. */
static request_rec *ctx_owner(request_rec *r, aoidc_req_ctx_t **ctx)
{
    for (request_rec *q = r; q; q = q->main ? q->main : q->prev) {
        *ctx = ap_get_module_config(q->request_config, &auth_oidc_module);
        if (*ctx) {
            return q;
        }
    }
    return NULL;
}

aoidc_req_ctx_t *aoidc_req_ctx(request_rec *r)
{
    aoidc_req_ctx_t *ctx = NULL;
    ctx_owner(r, &ctx);
    return ctx;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Why the verdict of q (context ctx) does not hold for r's location, or
 * NULL when it does. The verdict carries the provider of its session or
 * token; the settings it was reached under are q's own. */
static const char *verdict_mismatch(request_rec *r, request_rec *q, const aoidc_req_ctx_t *ctx,
                                    const aoidc_dir_cfg_t *dc, int bearer_only)
{
    if (!q || !ctx->have_session || !q->user || !*q->user) {
        return "no verdict to take over";
    }
    const aoidc_dir_cfg_t *qdc = aoidc_dir_cfg(q);
    if (ctx->bearer) {
        if (!bearer_only && !aoidc_accept_bearer(dc)) {
            return "a bearer token does not open a location without AuthOIDCAcceptBearer";
        }
        if (!dc->bearer_audience || !same_str(qdc->bearer_audience, dc->bearer_audience)) {
            return "another AuthOIDCBearerAudience";
        }
        if (!aoidc_bearer_accepts(dc, ctx->session.provider)) {
            return "a token of a provider that AuthOIDCBearerProviders leaves out";
        }
    }
    else {
        if (bearer_only) {
            return "a session does not open an AuthType oidc-bearer location";
        }
        if (!aoidc_location_accepts(aoidc_srv_cfg(r->server), dc, ctx->session.provider)) {
            return "a session of another provider";
        }
    }
    if (strcmp(aoidc_remote_user_claim(qdc), aoidc_remote_user_claim(dc)) != 0) {
        return "another AuthOIDCRemoteUserClaim";
    }
    return NULL;
}

int aoidc_reuse_parent_verdict(request_rec *r, const aoidc_dir_cfg_t *dc, int bearer_only)
{
    if (!r->main && !r->prev) {
        return 0;
    }
    aoidc_req_ctx_t *pctx = NULL;
    request_rec *q = ctx_owner(r->main ? r->main : r->prev, &pctx);
    const char *why = verdict_mismatch(r, q, pctx, dc, bearer_only);
    if (why) {
        if (q && pctx->have_session) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(640)
                          "%s of '%s' authenticates on its own: %s", r->main ? "subrequest" : "internal redirect",
                          q->user ? ap_escape_logitem(r->pool, q->user) : "", why);
        }
        /* this request's own context (filled if it authenticates): the first
         * request's session must not answer Require oidc-claim here */
        ap_set_module_config(r->request_config, &auth_oidc_module, apr_pcalloc(r->pool, sizeof(aoidc_req_ctx_t)));
        return 0;
    }
    r->user = q->user;
    aoidc_pass_claims(r, dc, &pctx->session);
    return 1;
}

static int is_navigation(request_rec *r)
{
    /* HEAD is M_GET too */
    return aoidc_request_is_navigation(apr_table_get(r->headers_in, "Sec-Fetch-Mode"),
                                       apr_table_get(r->headers_in, "X-Requested-With"),
                                       apr_table_get(r->headers_in, "Accept"), r->method_number == M_GET);
}

static int unauthenticated(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    switch (aoidc_unauth_action(dc)) {
    case AOIDC_UNAUTH_PASS:
        aoidc_cookie_strip(r, sc->cookie_name);
        r->user = "";
        return OK;
    case AOIDC_UNAUTH_401:
        return aoidc_respond(r, AOIDC_R_UNAUTHORIZED);
    default:
        if (!is_navigation(r)) {
            return aoidc_respond(r, AOIDC_R_UNAUTHORIZED);
        }
        /* not into a login that cannot finish: the callback needs the store */
        if (!aoidc_store_usable(sc->store, r->pool)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(750)
                          "session store %s is down: 503 instead of a login", sc->store->name);
            return aoidc_respond(r, AOIDC_R_STORE_DOWN);
        }
        return aoidc_start_login(r, sc, dc);
    }
}

/* Write the new last-seen time back; a lost CAS race means another request
 * of the same session just did it. */
static void touch(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, uint64_t cas, apr_int64_t now)
{
    unsigned char *val;
    apr_size_t len;
    ctx->session.last_seen = now;
    apr_int64_t ttl = aoidc_session_remaining(&ctx->session, sc->inactivity, now);
    if (ttl <= 0 || aoidc_session_encode(r->pool, sc->keys, ctx->store_key, &ctx->session, &val, &len) != APR_SUCCESS) {
        return;
    }
    aoidc_store_rc_t rc = cas ? sc->store->cas(sc->store, ctx->store_key, val, len, (long)ttl, cas)
                              : sc->store->set(sc->store, ctx->store_key, val, len, (long)ttl);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "session touch: %s", aoidc_store_rc_str(rc));
}

typedef enum { LOAD_OK, LOAD_NONE, LOAD_DOWN } load_rc_t;

/* The live record of one session id. LOAD_OK fills ctx (store_key, session)
 * and *cas; LOAD_NONE when the id is malformed, unknown, does not decrypt or
 * has expired; LOAD_DOWN when the store cannot answer. Each case is logged.
 * The per-process session cache (AuthOIDCSessionCacheTTL) may answer
 * instead of the store; its copy serves only a session that is valid and
 * not due for a write-back by that copy's times, else the store is asked:
 * expiry and write-backs are always the store's record's. */
static load_rc_t load_session(request_rec *r, aoidc_srv_cfg_t *sc, const char *id, apr_int64_t now,
                              aoidc_req_ctx_t *ctx, uint64_t *cas)
{
    if (!aoidc_session_id_ok(id)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(302) "malformed session cookie ignored");
        aoidc_metric_inc(AOIDC_M_SESSION_MALFORMED);
        return LOAD_NONE;
    }
    ctx->store_key = aoidc_session_store_key(r->pool, sc->keys, id);
    char *val;
    apr_size_t len;
    apr_uint32_t gen = 0;
    apr_status_t rv = APR_EGENERAL;
    int cached = aoidc_session_cache_lookup(r, sc, ctx->store_key, &val, &len, cas, &gen);
    if (cached) {
        rv = aoidc_session_decode(r->pool, sc->keys, ctx->store_key, (unsigned char *)val, len, &ctx->session);
        if (rv != APR_SUCCESS || aoidc_session_remaining(&ctx->session, sc->inactivity, now) <= 0 ||
            now - ctx->session.last_seen >= sc->touch_interval) {
            /* another node may have written it back meanwhile: ask the
             * store (the drop also keeps this read out of the cache) */
            aoidc_session_cache_drop(sc, ctx->store_key);
            cached = 0;
        }
    }
    if (!cached) {
        aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, ctx->store_key, &val, &len, cas);
        if (rc == AOIDC_STORE_DOWN || rc == AOIDC_STORE_ERROR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(303) "session store %s: %s", sc->store->name,
                          aoidc_store_rc_str(rc));
            return LOAD_DOWN;
        }
        if (rc == AOIDC_STORE_MISSING) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(304) "session unknown (expired or revoked)");
            aoidc_metric_inc(AOIDC_M_SESSION_UNKNOWN);
            aoidc_session_cache_drop(sc, ctx->store_key);
            return LOAD_NONE;
        }
        rv = aoidc_session_decode(r->pool, sc->keys, ctx->store_key, (unsigned char *)val, len, &ctx->session);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, AOIDC_LOGNO(305)
                      "session record does not decrypt (crypto key changed?); treating as logged out");
        aoidc_metric_inc(AOIDC_M_SESSION_UNDECRYPTABLE);
        return LOAD_NONE;
    }
    if (aoidc_session_remaining(&ctx->session, sc->inactivity, now) <= 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(306) "session expired");
        aoidc_metric_inc(AOIDC_M_SESSION_EXPIRED);
        sc->store->del(sc->store, ctx->store_key);
        return LOAD_NONE;
    }
    if (!cached && now - ctx->session.last_seen < sc->touch_interval) {
        /* a record due for a write-back changes with it: cached after it */
        aoidc_session_cache_keep(sc, ctx->store_key, val, len, *cas, gen);
    }
    return LOAD_OK;
}

#define SESSION_COOKIES_MAX 4

/* Several session cookies in one request. We only ever set one (host-only,
 * Path=/): the others are stale or were planted (cookie tossing from a
 * sibling domain, a longer path), and the browser sends the more specific,
 * planted one first, so "the first one" would let an attacker choose the
 * session. Use the one that is a live session; when none or several are, the
 * request counts as logged out. (Refusing all duplicates would loop the login
 * forever while a planted cookie we cannot clear stays in the browser.) */
static load_rc_t load_one_of(request_rec *r, aoidc_srv_cfg_t *sc, apr_int64_t now, aoidc_req_ctx_t *ctx,
                             uint64_t *cas)
{
    apr_array_header_t *ids = aoidc_cookie_values(r, sc->cookie_name, SESSION_COOKIES_MAX + 1);
    int live = 0;
    if (ids->nelts > SESSION_COOKIES_MAX) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(309)
                      "more than %d session cookies in one request; treating as logged out", SESSION_COOKIES_MAX);
        return LOAD_NONE;
    }
    for (int i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            seen = strcmp(id, APR_ARRAY_IDX(ids, j, const char *)) == 0;
        }
        if (seen) {
            continue;
        }
        aoidc_req_ctx_t one = {0};
        uint64_t one_cas = 0;
        load_rc_t rc = load_session(r, sc, id, now, &one, &one_cas);
        if (rc == LOAD_DOWN) {
            return LOAD_DOWN;
        }
        if (rc == LOAD_OK && live++ == 0) {
            *ctx = one;
            *cas = one_cas;
        }
    }
    if (live != 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(309)
                      "%d session cookies in one request, %d of them live; treating as logged out", ids->nelts,
                      live);
        return LOAD_NONE;
    }
    return LOAD_OK;
}

int aoidc_check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    if (!type || strcasecmp(type, AOIDC_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    aoidc_dir_cfg_t *dc = aoidc_dir_cfg(r);
    r->ap_auth_type = (char *)type; /* AUTH_TYPE for CGI and logs */

    if (aoidc_reuse_parent_verdict(r, dc, 0) || aoidc_spa_preflight(r, sc, dc) == OK) {
        return OK;
    }

    /* AuthOIDCAcceptBearer: a request that brings a token is a machine; its
     * token decides, never a login redirect */
    if (aoidc_accept_bearer(dc) && aoidc_bearer_present(r)) {
        return aoidc_bearer_authn(r, sc, dc);
    }
    if (!sc->keys || !sc->store_servers) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(300)
                      "AuthType oidc without AuthOIDCCryptoKeyFile/AuthOIDCSessionStore for this server");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    if (!sc->store) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(301) "session store not initialised");
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }

    int count = 0;
    const char *id = aoidc_cookie_get(r, sc->cookie_name, &count);
    if (!id) {
        return unauthenticated(r, sc, dc);
    }
    aoidc_req_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    uint64_t cas = 0;
    apr_int64_t now = apr_time_sec(apr_time_now());
    load_rc_t lrc = count > 1 ? load_one_of(r, sc, now, ctx, &cas) : load_session(r, sc, id, now, ctx, &cas);
    if (lrc == LOAD_DOWN) {
        aoidc_metric_inc(AOIDC_M_SESSION_STORE_DOWN);
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    if (lrc == LOAD_NONE) {
        return unauthenticated(r, sc, dc);
    }
    /* Sessions open only locations of their own provider, whether named
     * (AuthOIDCUseProvider) or the default (the first); a session of
     * another one is no session here, and a login with this location's
     * provider follows. AuthOIDCBearerProviders is about tokens only. */
    if (!aoidc_location_accepts(sc, dc, ctx->session.provider)) {
        aoidc_provider_t *lp = aoidc_location_provider(sc, dc);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(307)
                      "session of '%s' at provider %s does not serve a location of provider %s%s",
                      ap_escape_logitem(r->pool, ctx->session.sub), ctx->session.provider,
                      lp ? lp->name : "(none)", aoidc_location_chooses(dc) ? " (and others)" : "");
        aoidc_metric_inc(AOIDC_M_SESSION_OTHER_PROVIDER);
        return unauthenticated(r, sc, dc);
    }
    /* AuthOIDCMaxAuthAge (step-up): an authentication older than that is
     * no session here; the login that follows sends max_age */
    if (dc->max_auth_age >= 0 &&
        aoidc_reauth_too_old(aoidc_reauth_auth_time(aoidc_claims_get(r->pool, ctx->session.claims,
                                                                     ctx->session.nclaims, AOIDC_CLAIM_AUTH_TIME, ",")),
                             dc->max_auth_age, now, sc->clock_skew)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(842)
                      "session of '%s' authenticated longer than AuthOIDCMaxAuthAge %d ago: log in again",
                      ap_escape_logitem(r->pool, ctx->session.sub), dc->max_auth_age);
        return unauthenticated(r, sc, dc);
    }
    /* a write-back is due: read the revocation epochs first (they catch a
     * session that revocation by user or provider could not find in the
     * index); a session that is not due is not touched and costs nothing */
    int touch_due = now - ctx->session.last_seen >= sc->touch_interval;
    if (touch_due) {
        aoidc_dir_verdict_t v = aoidc_dir_session_revoked(sc->store, r->pool, &ctx->session);
        if (v == AOIDC_DIR_REVOKED) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(710)
                          "session revoked (its user or provider was revoked after it was created)");
            aoidc_metric_inc(AOIDC_M_SESSION_REVOKED);
            sc->store->del(sc->store, ctx->store_key);
            aoidc_session_cache_drop(sc, ctx->store_key);
            return unauthenticated(r, sc, dc);
        }
        touch_due = v == AOIDC_DIR_LIVE; /* store trouble: serve it, try again next request */
    }
    int spa = aoidc_spa_session_checks(r, sc, dc, ctx, now, &cas, &touch_due);
    if (spa == AOIDC_SPA_ENDED) {
        return unauthenticated(r, sc, dc);
    }
    if (spa != OK) {
        return spa;
    }
    const char *claim = aoidc_remote_user_claim(dc);
    const char *user = strcmp(claim, "sub") == 0
                           ? ctx->session.sub
                           : aoidc_claims_get(r->pool, ctx->session.claims, ctx->session.nclaims, claim, ",");
    if (!user || !*user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(308)
                      "session has no claim '%s' for REMOTE_USER (AuthOIDCRemoteUserClaim); sub '%s'", claim,
                      ap_escape_logitem(r->pool, ctx->session.sub));
        aoidc_metric_inc(AOIDC_M_SESSION_NO_USER);
        return aoidc_respond(r, AOIDC_R_FORBIDDEN);
    }
    ctx->have_session = 1;
    ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    r->user = (char *)user;
    aoidc_cookie_strip(r, sc->cookie_name);
    aoidc_pass_claims(r, dc, &ctx->session);
    if (touch_due) {
        touch(r, sc, ctx, cas, now);
    }
    aoidc_metric_inc(AOIDC_M_SESSION_VALID);
    return OK;
}

aoidc_load_t aoidc_load_request_session(request_rec *r, aoidc_srv_cfg_t *sc, apr_int64_t now, aoidc_req_ctx_t *ctx,
                                        uint64_t *cas)
{
    int count = 0;
    const char *id = aoidc_cookie_get(r, sc->cookie_name, &count);
    if (!id || !sc->store) {
        return id ? AOIDC_LOAD_DOWN : AOIDC_LOAD_NONE;
    }
    load_rc_t rc = count > 1 ? load_one_of(r, sc, now, ctx, cas) : load_session(r, sc, id, now, ctx, cas);
    return rc == LOAD_OK ? AOIDC_LOAD_OK : rc == LOAD_DOWN ? AOIDC_LOAD_DOWN : AOIDC_LOAD_NONE;
}

void aoidc_session_touch(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, uint64_t cas, apr_int64_t now)
{
    touch(r, sc, ctx, cas, now);
}
