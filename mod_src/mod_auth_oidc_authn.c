/* check_authn for AuthType oidc: the hot path.
 *   cookie -> store key -> one store get -> decrypt+parse -> r->user
 * No provider call, no JSON, and a write only when the last-seen time is
 * older than the touch interval (then a CAS, so parallel requests of one
 * session write once). */
#include "mod_auth_oidc.h"

#include <apr_time.h>

APLOG_USE_MODULE(auth_oidc);


aoidc_req_ctx_t *aoidc_req_ctx(request_rec *r)
{
    /* subrequests and internal redirects share the first request's session */
    for (request_rec *q = r; q; q = q->main ? q->main : q->prev) {
        aoidc_req_ctx_t *ctx = ap_get_module_config(q->request_config, &auth_oidc_module);
        if (ctx) {
            return ctx;
        }
    }
    return NULL;
}

int aoidc_reuse_parent_verdict(request_rec *r, const aoidc_dir_cfg_t *dc, int bearer_only)
{
    if (!r->main && !r->prev) {
        return 0;
    }
    aoidc_req_ctx_t *pctx = aoidc_req_ctx(r);
    if (!pctx || (bearer_only && !pctx->bearer)) {
        return 0;
    }
    request_rec *top = r;
    while (top->main || top->prev) {
        top = top->main ? top->main : top->prev;
    }
    if (!top->user) {
        return 0;
    }
    r->user = top->user;
    aoidc_pass_claims(r, dc, &pctx->session);
    return 1;
}

static int is_navigation(request_rec *r)
{
    const char *mode = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    if (mode) {
        return strcasecmp(mode, "navigate") == 0;
    }
    const char *xrw = apr_table_get(r->headers_in, "X-Requested-With");
    if (xrw && strcasecmp(xrw, "XMLHttpRequest") == 0) {
        return 0;
    }
    const char *accept = apr_table_get(r->headers_in, "Accept");
    if (accept && !ap_strcasestr(accept, "text/html") && !strstr(accept, "*/*")) {
        return 0;
    }
    return r->method_number == M_GET; /* HEAD is M_GET too */
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
 * has expired; LOAD_DOWN when the store cannot answer. Each case is logged. */
static load_rc_t load_session(request_rec *r, aoidc_srv_cfg_t *sc, const char *id, apr_int64_t now,
                              aoidc_req_ctx_t *ctx, uint64_t *cas)
{
    if (!aoidc_session_id_ok(id)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(302) "malformed session cookie ignored");
        return LOAD_NONE;
    }
    ctx->store_key = aoidc_session_store_key(r->pool, sc->keys, id);
    char *val;
    apr_size_t len;
    aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, ctx->store_key, &val, &len, cas);
    if (rc == AOIDC_STORE_DOWN || rc == AOIDC_STORE_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(303) "session store %s: %s", sc->store->name,
                      aoidc_store_rc_str(rc));
        return LOAD_DOWN;
    }
    if (rc == AOIDC_STORE_MISSING) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(304) "session unknown (expired or revoked)");
        return LOAD_NONE;
    }
    apr_status_t rv = aoidc_session_decode(r->pool, sc->keys, ctx->store_key, (unsigned char *)val, len,
                                           &ctx->session);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, AOIDC_LOGNO(305)
                      "session record does not decrypt (crypto key changed?); treating as logged out");
        return LOAD_NONE;
    }
    if (aoidc_session_remaining(&ctx->session, sc->inactivity, now) <= 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(306) "session expired");
        sc->store->del(sc->store, ctx->store_key);
        return LOAD_NONE;
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

    if (aoidc_reuse_parent_verdict(r, dc, 0)) {
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
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    if (lrc == LOAD_NONE) {
        return unauthenticated(r, sc, dc);
    }
    if (dc->provider_name && strcmp(dc->provider_name, ctx->session.provider) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(307)
                      "session of provider %s does not serve a location of provider %s", ctx->session.provider,
                      dc->provider_name);
        return unauthenticated(r, sc, dc);
    }
    const char *claim = aoidc_remote_user_claim(dc);
    const char *user = strcmp(claim, "sub") == 0
                           ? ctx->session.sub
                           : aoidc_claims_get(r->pool, ctx->session.claims, ctx->session.nclaims, claim, ",");
    if (!user || !*user) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(308)
                      "session has no claim '%s' for REMOTE_USER (AuthOIDCRemoteUserClaim)", claim);
        return aoidc_respond(r, AOIDC_R_FORBIDDEN);
    }
    ctx->have_session = 1;
    ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    r->user = (char *)user;
    aoidc_cookie_strip(r, sc->cookie_name);
    aoidc_pass_claims(r, dc, &ctx->session);
    if (now - ctx->session.last_seen >= sc->touch_interval) {
        touch(r, sc, ctx, cas, now);
    }
    return OK;
}
