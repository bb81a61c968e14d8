/* AuthOIDCLogoutURI: end the session here (store record, directory entry,
 * cookie) and at the provider (RP-initiated logout). */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_util.h"

APLOG_USE_MODULE(auth_oidc);

static int logout_target_allowed(aoidc_srv_cfg_t *sc, const char *target)
{
    for (int i = 0; sc->post_logout && i < sc->post_logout->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(sc->post_logout, i, const char *), target) == 0) {
            return 1;
        }
    }
    return 0;
}

int aoidc_handle_logout(request_rec *r, aoidc_srv_cfg_t *sc)
{
    const char *target = NULL;
    int nt = aoidc_query_param(r->pool, r->args, "return", &target);
    if (nt < 0 || (nt == 1 && !logout_target_allowed(sc, target))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(440)
                      "logout return target is not in AuthOIDCPostLogoutRedirect");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (nt == 0) {
        target = sc->post_logout && sc->post_logout->nelts ? APR_ARRAY_IDX(sc->post_logout, 0, const char *) : "/";
    }
    const char *abs_target = target[0] == '/' ? ap_construct_url(r->pool, target, r) : target;
    const char *id = aoidc_cookie_get(r, sc->cookie_name, NULL);
    aoidc_session_t s;
    int have = 0;
    if (id && aoidc_session_id_ok(id) && sc->store) {
        const char *key = aoidc_session_store_key(r->pool, sc->keys, id);
        char *val;
        apr_size_t len;
        aoidc_store_rc_t rc = sc->store->get(sc->store, r->pool, key, &val, &len, NULL);
        if (rc == AOIDC_STORE_DOWN || rc == AOIDC_STORE_ERROR) {
            /* do not pretend the session ended */
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(441) "logout: session store %s",
                          aoidc_store_rc_str(rc));
            return aoidc_respond(r, AOIDC_R_STORE_DOWN);
        }
        have = rc == AOIDC_STORE_OK &&
               aoidc_session_decode(r->pool, sc->keys, key, (unsigned char *)val, len, &s) == APR_SUCCESS;
        rc = sc->store->del(sc->store, key);
        if (rc == AOIDC_STORE_DOWN || rc == AOIDC_STORE_ERROR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(442) "logout: session store %s",
                          aoidc_store_rc_str(rc));
            return aoidc_respond(r, AOIDC_R_STORE_DOWN);
        }
    }
    aoidc_cookie_clear(r, sc, sc->cookie_name);
    if (have) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(443) "logout of '%.128s'", s.sub);
        apr_status_t drv = aoidc_dir_remove(sc->store, sc->keys, r->pool,
                                            aoidc_dir_handle(aoidc_session_store_key(r->pool, sc->keys, id)), &s);
        if (drv != APR_SUCCESS) {
            /* the record is gone, which is what ends the session; the stale
             * entry is skipped by readers and dropped at its expiry */
            ap_log_rerror(APLOG_MARK, APLOG_INFO, drv, r, AOIDC_LOGNO(444)
                          "logout: session directory not updated");
        }
        aoidc_provider_t *pr = aoidc_find_provider(sc, s.provider);
        aoidc_provider_meta_t meta;
        aoidc_http_opts_t ho = aoidc_http_opts(sc);
        const char *err;
        if (pr && aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) == APR_SUCCESS &&
            meta.end_session_endpoint) {
            const char *sep = strchr(meta.end_session_endpoint, '?') ? "&" : "?";
            return aoidc_redirect(r, apr_pstrcat(r->pool, meta.end_session_endpoint, sep,
                                                 "id_token_hint=", aoidc_url_encode(r->pool, s.id_token),
                                                 "&client_id=", aoidc_url_encode(r->pool, pr->client_id),
                                                 "&post_logout_redirect_uri=", aoidc_url_encode(r->pool, abs_target),
                                                 NULL));
        }
    }
    return aoidc_redirect(r, abs_target);
}
