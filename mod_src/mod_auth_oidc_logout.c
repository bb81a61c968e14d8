/* AuthOIDCLogoutURI: end the session here (store record, directory entry,
 * cookie) and at the provider (RP-initiated logout).
 *
 * A logout another site triggers (an image tag, a link) is not acted on: a
 * cross-site GET gets a small page whose form POSTs the logout, and a POST is
 * accepted only from our own origin (aoidc_logout_xsite). */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_request.h"
#include "aoidc_util.h"

APLOG_USE_MODULE(auth_oidc);

/* The page a cross-site GET gets: nothing happens until the user submits
 * it from our origin. No client text in it but the checked return target. */
static int confirm_page(request_rec *r, aoidc_srv_cfg_t *sc, const char *target, int explicit_target)
{
    const char *action = explicit_target
                             ? apr_pstrcat(r->pool, sc->logout_uri, "?return=", aoidc_url_encode(r->pool, target), NULL)
                             : sc->logout_uri;
    const char *body = apr_pstrcat(r->pool,
                                   "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Log out</title></head>\n"
                                   "<body><form id=\"logout\" method=\"post\" action=\"",
                                   ap_escape_html(r->pool, action),
                                   "\">\n<p>Log out of this site?</p>\n"
                                   "<button type=\"submit\">Log out</button>\n</form></body></html>\n",
                                   NULL);
    aoidc_own_page_headers(r->headers_out);
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_set_content_length(r, (apr_off_t)strlen(body));
    r->status = HTTP_OK;
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return OK;
}

int aoidc_handle_logout(request_rec *r, aoidc_srv_cfg_t *sc)
{
    const char *target = NULL;
    int is_post = r->method_number == M_POST;
    if (is_post) {
        ap_discard_request_body(r); /* the form carries nothing */
    }
    if (!aoidc_logout_target(r->pool, r->args, sc->post_logout, &target)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(440)
                      "logout return target is not in AuthOIDCPostLogoutRedirect");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    const char *ignored;
    int explicit_target = aoidc_query_param(r->pool, r->args, "return", &ignored) == 1;
    switch (aoidc_logout_xsite(is_post, apr_table_get(r->headers_in, "Sec-Fetch-Site"),
                               apr_table_get(r->headers_in, "Origin"), apr_table_get(r->headers_in, "Referer"),
                               aoidc_absolute_url(r, ""))) {
    case AOIDC_XS_ALLOW:
        break;
    case AOIDC_XS_CONFIRM:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(666)
                      "cross-site logout request: answered with a page that asks first");
        return confirm_page(r, sc, target, explicit_target);
    case AOIDC_XS_REFUSE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(667)
                      "logout POST from another origin refused");
        return aoidc_respond(r, AOIDC_R_FORBIDDEN);
    }
    const char *abs_target = target[0] == '/' ? aoidc_absolute_url(r, target) : target;
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
        if (rc == AOIDC_STORE_OK) {
            /* here at once; on the other nodes within AuthOIDCSessionCacheTTL
             * (only a session that existed: a made-up cookie writes nothing) */
            aoidc_session_changed(r, sc, key);
        }
    }
    aoidc_cookie_clear(r, sc, sc->cookie_name);
    if (have) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(443) "logout of '%.128s'",
                      ap_escape_logitem(r->pool, s.sub));
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
