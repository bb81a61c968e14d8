/* AuthOIDCRefreshBefore: the session's access token is refreshed on the
 * request path when it is about to expire, exactly once in the cluster
 * (aoidc_refresh.h). Costs nothing until a refresh is due: the record was
 * read anyway, and the due test is arithmetic on it. */
#include "mod_auth_oidc_spa.h"
#include "aoidc_directory.h"
#include "aoidc_refresh.h"

#include <apr_time.h>
#include <errno.h>
#include <stdlib.h>

APLOG_USE_MODULE(auth_oidc);

#define WAIT_STEP_MS 100

const char *aoidc_cmd_refresh_before(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 1 || v > 86400) {
        return apr_psprintf(cmd->pool, "AuthOIDCRefreshBefore: '%s' is not a whole number from 1 to 86400",
                            arg);
    }
    aoidc_srv_cfg(cmd->server)->refresh_before = (int)v;
    return NULL;
}

const char *aoidc_cmd_refresh_failure(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cmd->server);
    if (strcasecmp(arg, "logout") == 0) {
        sc->refresh_failure = AOIDC_REFRESH_FAIL_LOGOUT;
    }
    else if (strcasecmp(arg, "keep") == 0) {
        sc->refresh_failure = AOIDC_REFRESH_FAIL_KEEP;
    }
    else {
        return apr_psprintf(cmd->pool, "AuthOIDCRefreshFailure: '%s' is not logout or keep", arg);
    }
    return NULL;
}

/* The lock lives as long as a refresh may take (token endpoint, then
 * userinfo when configured); a failed refresh leaves it
 * in place, so a session whose refresh fails is tried at most once per TTL
 * in the whole cluster. */
static long lock_ttl(const aoidc_srv_cfg_t *sc)
{
    return 2L * sc->http_timeout + 5;
}

typedef enum { READ_OK, READ_GONE, READ_DOWN } read_rc_t;

/* The session record as it is now in the store. */
static read_rc_t read_record(request_rec *r, aoidc_srv_cfg_t *sc, const char *key, aoidc_session_t *s)
{
    char *val;
    apr_size_t len;
    aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return READ_GONE;
    }
    if (rc != AOIDC_STORE_OK) {
        return READ_DOWN;
    }
    return aoidc_session_decode(r->pool, sc->keys, key, (unsigned char *)val, len, s) == APR_SUCCESS
               ? READ_OK
               : READ_GONE;
}

/* The session ends: record and directory entry. */
static void end_session(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx)
{
    sc->store->del(sc->store, ctx->store_key);
    aoidc_session_changed(r, sc, ctx->store_key);
    if (aoidc_dir_remove(sc->store, sc->keys, r->pool, aoidc_dir_handle(ctx->store_key), &ctx->session) !=
        APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(810)
                      "refresh: session ended, its directory entry not removed (dropped at its expiry)");
    }
}

/* Another node or thread holds the lock. With a token still valid, go on
 * with it; with an expired one, wait a little for the refresher's record. */
static int wait_for_refresher(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, apr_int64_t now)
{
    if (ctx->session.access_token_exp > now) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "refresh under way elsewhere; the token is still valid");
        return OK;
    }
    apr_int64_t old_exp = ctx->session.access_token_exp;
    int steps = (sc->http_timeout * 1000 + 1000) / WAIT_STEP_MS;
    for (int i = 0; i < steps; i++) {
        apr_sleep(apr_time_from_msec(WAIT_STEP_MS));
        aoidc_session_t s;
        read_rc_t rc = read_record(r, sc, ctx->store_key, &s);
        if (rc == READ_GONE) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          AOIDC_LOGNO(811) "refresh: the session ended while its refresh ran elsewhere");
            return AOIDC_SPA_ENDED;
        }
        if (rc == READ_OK && s.access_token_exp != old_exp) {
            ctx->session = s;
            return OK;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AOIDC_LOGNO(812) "refresh: no new token from the refresh under way elsewhere in time; "
                                   "going on with the old one");
    return OK;
}

/* AuthOIDCUserInfo On: the claims follow the provider's userinfo answer to
 * the new access token; on any trouble the session keeps its claims. */
static void refresh_userinfo(request_rec *r, const aoidc_provider_t *pr, const aoidc_http_opts_t *ho,
                             const aoidc_provider_meta_t *meta, aoidc_session_t *s)
{
    json_t *ui = NULL;
    const char *err = NULL;
    if (aoidc_provider_userinfo(r->pool, ho, meta, s->access_token, &ui, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(820)
                      "refresh: userinfo of %s: %s; the session keeps its claims", pr->name,
                      err ? ap_escape_logitem(r->pool, err) : "");
        return;
    }
    const char *usub = json_string_value(json_object_get(ui, "sub"));
    if (!usub || !s->sub || strcmp(usub, s->sub) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOIDC_LOGNO(821)
                      "refresh: userinfo of %s names another sub than the session's; claims kept", pr->name);
    }
    else {
        int dropped = 0;
        apr_array_header_t *c = aoidc_refresh_merge_userinfo(r->pool, s->claims, s->nclaims, ui, &dropped);
        s->claims = (const aoidc_claim_t *)c->elts;
        s->nclaims = c->nelts;
        if (dropped) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(822)
                          "refresh: %d claim values not kept (limits)", dropped);
        }
    }
    json_decref(ui);
}

int aoidc_refresh_session(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, apr_int64_t now,
                          int *touch_due)
{
    if (!aoidc_refresh_due(&ctx->session, sc->refresh_before, now)) {
        return OK;
    }
    const char *lock = aoidc_refresh_lock_key(r->pool, ctx->store_key);
    if (!lock) {
        return OK;
    }
    aoidc_store_rc_t lrc = sc->store->add(sc->store, lock, "1", 1, lock_ttl(sc));
    if (lrc == AOIDC_STORE_EXISTS) {
        return wait_for_refresher(r, sc, ctx, now);
    }
    if (lrc != AOIDC_STORE_OK) {
        ap_log_rerror(
            APLOG_MARK, APLOG_WARNING, 0, r,
            AOIDC_LOGNO(813) "refresh: cannot take the refresh lock (session store %s); not refreshing now",
            aoidc_store_rc_str(lrc));
        return OK;
    }
    /* We hold the lock. The record may have been refreshed (and its refresh
     * token rotated) between our first read and the lock: read it again, so
     * the refresh token we send is the live one. */
    aoidc_session_t cur;
    read_rc_t rrc = read_record(r, sc, ctx->store_key, &cur);
    if (rrc == READ_GONE) {
        sc->store->del(sc->store, lock);
        return AOIDC_SPA_ENDED;
    }
    if (rrc == READ_DOWN) {
        sc->store->del(sc->store, lock);
        return OK;
    }
    ctx->session = cur;
    if (!aoidc_refresh_due(&cur, sc->refresh_before, now)) {
        sc->store->del(sc->store, lock);
        return OK; /* refreshed by another node just now */
    }
    aoidc_provider_t *pr = aoidc_find_provider(sc, cur.provider);
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_provider_meta_t meta;
    aoidc_tokens_t tok;
    const char *err = NULL;
    apr_status_t rv = !pr ? APR_ENOENT : aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err);
    if (rv == APR_SUCCESS) {
        rv = aoidc_refresh_tokens(pr, r->pool, &ho, &meta, cur.refresh_token, &tok, &err);
    }
    if (rv != APR_SUCCESS) {
        aoidc_metric_inc(rv == APR_EACCES ? AOIDC_M_REFRESH_REFUSED : AOIDC_M_REFRESH_FAILED);
    }
    if (rv == APR_EACCES && sc->refresh_failure != AOIDC_REFRESH_FAIL_KEEP) {
        ap_log_rerror(
            APLOG_MARK, APLOG_NOTICE, 0, r,
            AOIDC_LOGNO(814) "refresh of the session of '%.128s' at provider %s refused (%s): session ended",
            ap_escape_logitem(r->pool, cur.sub), cur.provider, err ? ap_escape_logitem(r->pool, err) : "");
        end_session(r, sc, ctx);
        return AOIDC_SPA_ENDED; /* the lock expires on its own */
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, rv == APR_EACCES ? APLOG_NOTICE : APLOG_WARNING, 0, r, AOIDC_LOGNO(815)
                      "refresh of the session of '%.128s' at provider %s failed (%s); the session goes on, "
                      "next try in %ld s", ap_escape_logitem(r->pool, cur.sub), pr ? pr->name : "(unknown)",
                      err ? ap_escape_logitem(r->pool, err) : "no such provider", lock_ttl(sc));
        return OK;
    }
    aoidc_refresh_apply(&ctx->session, &tok, now);
    ctx->session.last_seen = now;
    if (pr->userinfo) {
        refresh_userinfo(r, pr, &ho, &meta, &ctx->session);
    }
    unsigned char *val;
    apr_size_t len;
    apr_int64_t ttl = aoidc_session_remaining(&ctx->session, sc->inactivity, now);
    aoidc_store_rc_t wrc = AOIDC_STORE_ERROR;
    if (ttl > 0 &&
        aoidc_session_encode(r->pool, sc->keys, ctx->store_key, &ctx->session, &val, &len) == APR_SUCCESS) {
        wrc = sc->store->set(sc->store, ctx->store_key, val, len, (long)ttl);
    }
    if (wrc != AOIDC_STORE_OK) {
        /* the lock stays: nobody sends the old refresh token again before it expires */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AOIDC_LOGNO(816) "refresh: new tokens of '%.128s' not stored (session store %s)",
                      ap_escape_logitem(r->pool, cur.sub), aoidc_store_rc_str(wrc));
        aoidc_metric_inc(AOIDC_M_REFRESH_FAILED);
        return OK;
    }
    *touch_due = 0;
    /* the other nodes' cached copies hold the old tokens */
    aoidc_session_changed(r, sc, ctx->store_key);
    aoidc_metric_inc(AOIDC_M_REFRESH_OK);
    sc->store->del(sc->store, lock);
    if (tok.expires_in && tok.expires_in <= sc->refresh_before) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AOIDC_LOGNO(819)
                      "access tokens of provider %s live %" APR_INT64_T_FMT " s, not more than "
                      "AuthOIDCRefreshBefore %d: every request of a session refreshes; lower it",
                      cur.provider, tok.expires_in, sc->refresh_before);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  AOIDC_LOGNO(817) "access token of '%.128s' refreshed at provider %s%s",
                  ap_escape_logitem(r->pool, cur.sub), cur.provider,
                  tok.refresh_token ? " (refresh token rotated)" : "");
    return OK;
}
