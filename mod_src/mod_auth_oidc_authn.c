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

int aoidc_check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    if (!type || strcasecmp(type, AOIDC_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    aoidc_dir_cfg_t *dc = aoidc_dir_cfg(r);
    r->ap_auth_type = (char *)type; /* AUTH_TYPE for CGI and logs */

    /* a subrequest or internal redirect reuses the verdict of its parent */
    if (r->main || r->prev) {
        aoidc_req_ctx_t *pctx = aoidc_req_ctx(r);
        request_rec *top = r;
        while (top->main || top->prev) {
            top = top->main ? top->main : top->prev;
        }
        if (pctx && top->user) {
            r->user = top->user;
            aoidc_pass_claims(r, dc, &pctx->session);
            return OK;
        }
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
    if (count > 1) {
        /* we only ever set one (host-only, Path=/): a second one was planted
         * (cookie tossing from a sibling domain or a longer path), and which
         * of them the browser sends first is not ours to guess */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(309)
                      "%d session cookies in one request; treating as logged out", count);
        return unauthenticated(r, sc, dc);
    }
    if (!aoidc_session_id_ok(id)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(302) "malformed session cookie ignored");
        return unauthenticated(r, sc, dc);
    }

    aoidc_req_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->store_key = aoidc_session_store_key(r->pool, sc->keys, id);
    char *val;
    apr_size_t len;
    uint64_t cas = 0;
    aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, ctx->store_key, &val, &len, &cas);
    if (rc == AOIDC_STORE_DOWN || rc == AOIDC_STORE_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(303) "session store %s: %s", sc->store->name,
                      aoidc_store_rc_str(rc));
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    if (rc == AOIDC_STORE_MISSING) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(304) "session unknown (expired or revoked)");
        return unauthenticated(r, sc, dc);
    }
    apr_status_t rv = aoidc_session_decode(r->pool, sc->keys, ctx->store_key, (unsigned char *)val, len,
                                           &ctx->session);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, AOIDC_LOGNO(305)
                      "session record does not decrypt (crypto key changed?); treating as logged out");
        return unauthenticated(r, sc, dc);
    }
    apr_int64_t now = apr_time_sec(apr_time_now());
    if (aoidc_session_remaining(&ctx->session, sc->inactivity, now) <= 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(306) "session expired");
        sc->store->del(sc->store, ctx->store_key);
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
