/* Requests to our own URIs, dispatched from the quick handler:
 *   AuthOIDCRedirectURI           the authorization response (callback)
 *   AuthOIDCLogoutURI             logout here and at the provider
 *   AuthOIDCBackChannelLogoutURI  the provider ends sessions (OIDC Back-Channel Logout 1.0)
 * and the start of a login from check_authn. Logins and logouts keep the
 * session directory (aoidc_directory.h) up to date. */
#include "mod_auth_oidc.h"
#include "aoidc_directory.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_time.h>
#include <unistd.h>

APLOG_USE_MODULE(auth_oidc);

#define QUERY_MAX 8192

static const char *redirect_uri(request_rec *r, aoidc_srv_cfg_t *sc)
{
    return sc->redirect_uri[0] == '/' ? ap_construct_url(r->pool, sc->redirect_uri, r) : sc->redirect_uri;
}

static aoidc_provider_t *location_provider(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    aoidc_provider_t *pr = aoidc_find_provider(sc, dc->provider_name);
    if (!pr) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(400) "no provider %s for this server",
                      dc->provider_name ? dc->provider_name : "(any)");
    }
    return pr;
}

/* Drop the oldest pending attempts so that at most MAX_PENDING-1 remain
 * before the new one is added; undecodable state cookies go too. */
static void bound_pending_states(request_rec *r, aoidc_srv_cfg_t *sc)
{
    apr_array_header_t *names = aoidc_cookie_names_with_prefix(r, AOIDC_STATE_COOKIE_PREFIX);
    apr_int64_t now = apr_time_sec(apr_time_now());
    int live = 0;
    const char **lnames = apr_pcalloc(r->pool, sizeof(char *) * (apr_size_t)(names->nelts + 1));
    apr_int64_t *created = apr_pcalloc(r->pool, sizeof(apr_int64_t) * (apr_size_t)(names->nelts + 1));
    for (int i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const char *v = aoidc_cookie_get(r, name, NULL);
        aoidc_login_state_t *st;
        if (!v || aoidc_state_decode(r->pool, sc->keys, name, v, &st) != APR_SUCCESS ||
            now - st->created > AOIDC_STATE_TTL) {
            aoidc_cookie_clear(r, sc, name);
            continue;
        }
        lnames[live] = name;
        created[live++] = st->created;
    }
    while (live >= AOIDC_STATE_MAX_PENDING) {
        int oldest = 0;
        for (int i = 1; i < live; i++) {
            if (created[i] < created[oldest]) {
                oldest = i;
            }
        }
        aoidc_cookie_clear(r, sc, lnames[oldest]);
        lnames[oldest] = lnames[live - 1];
        created[oldest] = created[live - 1];
        live--;
    }
}

int aoidc_start_login(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    aoidc_provider_t *pr = location_provider(r, sc, dc);
    if (!pr || !sc->redirect_uri) {
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_provider_meta_t meta;
    const char *err = NULL;
    if (aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(401) "provider %s: %s", pr->name, err);
        return aoidc_respond(r, AOIDC_R_PROVIDER_DOWN);
    }
    /* only a local path is ever a return target */
    const char *return_to = r->unparsed_uri;
    if (!aoidc_is_local_path(return_to) || strlen(return_to) > 2048) {
        return_to = "/";
    }
    aoidc_login_state_t *st;
    const char *cookie;
    if (aoidc_state_new(r->pool, pr->name, return_to, apr_time_sec(apr_time_now()), &st) != APR_SUCCESS ||
        aoidc_state_encode(r->pool, sc->keys, st, &cookie) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(402) "cannot create login state");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    bound_pending_states(r, sc);
    aoidc_cookie_set(r, sc, aoidc_state_cookie_name(r->pool, st->state), cookie, AOIDC_STATE_TTL);
    const char *sep = strchr(meta.authorization_endpoint, '?') ? "&" : "?";
    const char *url = apr_pstrcat(r->pool, meta.authorization_endpoint, sep,
                                  "response_type=code&client_id=", aoidc_url_encode(r->pool, pr->client_id),
                                  "&redirect_uri=", aoidc_url_encode(r->pool, redirect_uri(r, sc)),
                                  "&scope=", aoidc_url_encode(r->pool, pr->scope),
                                  "&state=", st->state, "&nonce=", st->nonce,
                                  "&code_challenge=", aoidc_pkce_challenge(r->pool, st->verifier),
                                  "&code_challenge_method=S256", NULL);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(403) "redirecting to provider %s for login", pr->name);
    return aoidc_redirect(r, url);
}

/* The new session: id token checked, claims flattened, record stored. */
static aoidc_result_t create_session(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr,
                                     const aoidc_provider_meta_t *meta, const aoidc_tokens_t *tok,
                                     const aoidc_login_state_t *st)
{
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    aoidc_jose_result_t jr = aoidc_jwt_parse(r->pool, tok->id_token, &jwt, &err);
    if (jr == AOIDC_JOSE_OK) {
        jr = aoidc_provider_verify(pr, r->pool, &ho, jwt, &err);
    }
    if (jr == AOIDC_JOSE_OK) {
        aoidc_jwt_expect_t ex = {0};
        ex.issuer = pr->issuer;
        ex.audience = pr->client_id;
        ex.extra_audiences = pr->extra_audiences;
        ex.require_azp_if_multi = 1;
        ex.nonce = st->nonce;
        ex.now = apr_time_now();
        ex.skew = sc->clock_skew;
        ex.require_iat = 1;
        jr = aoidc_jwt_validate(jwt, &ex);
    }
    if (jr != AOIDC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(410) "ID token from %s rejected: %s%s%s", pr->name,
                      aoidc_jose_result_str(jr), err ? ": " : "", err ? err : "");
        return AOIDC_R_UNAUTHORIZED;
    }
    json_t *claims = json_deep_copy(jwt->claims);
    const char *sub = json_string_value(json_object_get(jwt->claims, "sub"));
    if (pr->userinfo) {
        json_t *ui = NULL;
        if (aoidc_provider_userinfo(r->pool, &ho, meta, tok->access_token, &ui, &err) != APR_SUCCESS) {
            json_decref(claims);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(411) "userinfo of %s: %s", pr->name, err);
            return AOIDC_R_UNAUTHORIZED;
        }
        const char *usub = json_string_value(json_object_get(ui, "sub"));
        if (!usub || strcmp(usub, sub) != 0) {
            json_decref(ui);
            json_decref(claims);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(412) "userinfo sub differs from the ID token's");
            return AOIDC_R_UNAUTHORIZED;
        }
        json_object_update_missing(claims, ui);
        json_decref(ui);
    }
    int dropped = 0;
    apr_array_header_t *flat = aoidc_claims_flatten(r->pool, claims, &dropped);
    /* copied before claims is released: json_string_value borrows */
    const char *sid = json_string_value(json_object_get(claims, "sid"));
    sid = sid ? apr_pstrdup(r->pool, sid) : NULL;
    json_decref(claims);
    if (dropped) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(413) "%d claim values not kept (limits)", dropped);
    }

    apr_int64_t now = apr_time_sec(apr_time_now());
    aoidc_session_t s = {0};
    s.created = now;
    s.last_seen = now;
    s.expires = now + sc->max_lifetime;
    s.access_token_exp = tok->expires_in ? now + tok->expires_in : 0;
    s.provider = pr->name;
    s.sub = apr_pstrdup(r->pool, sub);
    s.user = s.sub;
    s.sid = sid ? sid : "";
    s.id_token = tok->id_token;
    s.access_token = tok->access_token;
    s.refresh_token = tok->refresh_token;
    s.node = sc->node_name; /* defaults to the host name */
    s.client_ip = r->useragent_ip;
    const char *ua = apr_table_get(r->headers_in, "User-Agent");
    s.user_agent = ua ? apr_pstrndup(r->pool, ua, 200) : "";
    s.nclaims = flat->nelts;
    s.claims = (const aoidc_claim_t *)flat->elts;

    /* a new id at every login: no fixation */
    const char *id = aoidc_random_token(r->pool, AOIDC_SESSION_ID_BYTES);
    if (!id) {
        return AOIDC_R_INTERNAL;
    }
    const char *key = aoidc_session_store_key(r->pool, sc->keys, id);
    unsigned char *val;
    apr_size_t len;
    apr_status_t rv = aoidc_session_encode(r->pool, sc->keys, key, &s, &val, &len);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, AOIDC_LOGNO(414) "session record too large to store");
        return AOIDC_R_UNAUTHORIZED;
    }
    aoidc_store_rc_t rc = sc->store->add(sc->store, key, val, len, (long)aoidc_session_remaining(&s, sc->inactivity, now));
    if (rc != AOIDC_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(415) "cannot store the new session: %s",
                      aoidc_store_rc_str(rc));
        return AOIDC_R_STORE_DOWN;
    }
    /* listed for the console and back-channel logout; a directory that
     * cannot be written must not cost the user the login */
    apr_status_t drv = aoidc_dir_add(sc->store, sc->keys, r->pool, aoidc_dir_handle(key), &s);
    if (drv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, drv, r, AOIDC_LOGNO(417)
                      "session of '%.128s' not fully recorded in the session directory", s.sub);
    }
    /* a session cookie of the browser: the store decides when it ends */
    aoidc_cookie_set(r, sc, sc->cookie_name, id, 0);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(416) "login of '%.128s' at provider %s", s.sub, pr->name);
    return AOIDC_R_OK;
}

/* Read each protocol parameter at most once. */
static int query_once(request_rec *r, const char *name, const char **v)
{
    return aoidc_query_param(r->pool, r->args, name, v);
}

static int handle_callback(request_rec *r, aoidc_srv_cfg_t *sc)
{
    const char *state, *code, *error, *iss;
    if (r->method_number != M_GET) {
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (r->args && strlen(r->args) > QUERY_MAX) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(420) "callback query too long");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    int ns = query_once(r, "state", &state), nc = query_once(r, "code", &code),
        ne = query_once(r, "error", &error), ni = query_once(r, "iss", &iss);
    if (ns < 0 || nc < 0 || ne < 0 || ni < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(421) "callback with a repeated or malformed parameter");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (ns == 0 || !aoidc_state_param_ok(state)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(422) "callback without a valid state");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    const char *cname = aoidc_state_cookie_name(r->pool, state);
    int ccount = 0;
    const char *cval = aoidc_cookie_get(r, cname, &ccount);
    aoidc_login_state_t *st = NULL;
    if (!cval) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(423)
                      "callback for a login this browser did not start, or already finished");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    /* the attempt is used up whatever happens next */
    aoidc_cookie_clear(r, sc, cname);
    if (aoidc_state_decode(r->pool, sc->keys, cname, cval, &st) != APR_SUCCESS ||
        !aoidc_ct_equal(st->state, strlen(st->state), state, strlen(state))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(424) "state cookie invalid or not for this state");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (apr_time_sec(apr_time_now()) - st->created > AOIDC_STATE_TTL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(425) "login attempt took too long");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    aoidc_provider_t *pr = aoidc_find_provider(sc, st->provider);
    if (!pr) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(426) "state names an unknown provider");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    /* RFC 9207: iss is checked on error responses too, before we believe them */
    if (ni == 1 && strcmp(iss, pr->issuer) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(429)
                      "callback iss parameter does not match provider %s (mix-up?)", pr->name);
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (ne == 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(427) "provider %s refused the login: %.64s",
                      pr->name, ap_escape_logitem(r->pool, error));
        return aoidc_respond(r, AOIDC_R_UNAUTHORIZED);
    }
    if (nc == 0 || !*code || strlen(code) > 2048) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(428) "callback without a usable code");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_provider_meta_t meta;
    aoidc_tokens_t tok;
    const char *err = NULL;
    if (aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(430) "provider %s: %s", pr->name, err);
        return aoidc_respond(r, AOIDC_R_PROVIDER_DOWN);
    }
    /* RFC 9207: a provider that promises iss must send it */
    if (ni == 0 && meta.iss_parameter_supported) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(432)
                      "callback lacks the iss parameter that provider %s promises (mix-up?)", pr->name);
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    apr_status_t rv = aoidc_provider_exchange_code(pr, r->pool, &ho, &meta, code, st->verifier,
                                                   redirect_uri(r, sc), &tok, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(431) "code exchange with %s failed: %s", pr->name,
                      err);
        /* a refused code is the login failing; a provider that cannot be
         * reached or answers garbage is the provider failing */
        return aoidc_respond(r, rv == APR_EACCES ? AOIDC_R_UNAUTHORIZED : AOIDC_R_PROVIDER_DOWN);
    }
    if (!sc->store) {
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    aoidc_result_t res = create_session(r, sc, pr, &meta, &tok, st);
    if (res != AOIDC_R_OK) {
        return aoidc_respond(r, res);
    }
    return aoidc_redirect(r, st->return_to);
}

static int logout_target_allowed(aoidc_srv_cfg_t *sc, const char *target)
{
    for (int i = 0; sc->post_logout && i < sc->post_logout->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(sc->post_logout, i, const char *), target) == 0) {
            return 1;
        }
    }
    return 0;
}

static int handle_logout(request_rec *r, aoidc_srv_cfg_t *sc)
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

/* --- back-channel logout (OpenID Connect Back-Channel Logout 1.0) -------- */

#define BCL_BODY_MAX 16384
#define BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define BCL_MAX_AGE 600   /* seconds a logout token's iat may lie in the past */
#define BCL_CLAIM_MAX 1024

/* 200 with an empty body, or 400 with {"error":"invalid_request"}: the
 * answer the OP reads. Never cached. Never a 500 for what a client sent. */
static int bcl_answer(request_rec *r, int ok)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    if (ok) {
        r->status = HTTP_OK;
        ap_set_content_length(r, 0);
        return OK;
    }
    static const char body[] = "{\"error\":\"invalid_request\"}";
    r->status = HTTP_BAD_REQUEST;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, sizeof(body) - 1);
    ap_rwrite(body, (int)(sizeof(body) - 1), r);
    return OK;
}

/* The request body, at most BCL_BODY_MAX bytes: 1 read, 0 too large or broken. */
static int bcl_read_body(request_rec *r, const char **out)
{
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return 0;
    }
    char *buf = apr_palloc(r->pool, BCL_BODY_MAX + 2);
    apr_size_t total = 0;
    if (ap_should_client_block(r)) {
        if (r->remaining > BCL_BODY_MAX) {
            return 0;
        }
        long n;
        while ((n = ap_get_client_block(r, buf + total, BCL_BODY_MAX + 1 - total)) > 0) {
            total += (apr_size_t)n;
            if (total > BCL_BODY_MAX) {
                return 0;
            }
        }
        if (n < 0) {
            return 0;
        }
    }
    buf[total] = '\0';
    if (strlen(buf) != total) {
        return 0; /* an embedded NUL */
    }
    *out = buf;
    return 1;
}

/* A claim that must be a non-empty string of sane length when present:
 * 1 present (value in *v), 0 absent, -1 present but not acceptable. */
static int bcl_string_claim(json_t *claims, const char *name, const char **v)
{
    json_t *j = json_object_get(claims, name);
    *v = NULL;
    if (!j || json_is_null(j)) {
        return 0; /* some OPs write "sid": null for an absent sid */
    }
    if (!json_is_string(j) || json_string_length(j) == 0 || json_string_length(j) > BCL_CLAIM_MAX ||
        strlen(json_string_value(j)) != json_string_length(j)) {
        return -1;
    }
    *v = json_string_value(j);
    return 1;
}

static int bcl_aud_ok(json_t *aud, const char *client_id)
{
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), client_id) == 0;
    }
    size_t i;
    json_t *e;
    json_array_foreach(aud, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), client_id) == 0) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    aoidc_provider_t *pr;
    const char *sub, *sid, *jti;
    apr_int64_t exp; /* 0 when absent */
} bcl_token_t;

/* Validate a logout token; NULL when valid, else the reason (for the log). */
static const char *bcl_validate(request_rec *r, aoidc_srv_cfg_t *sc, const char *token, bcl_token_t *out)
{
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    aoidc_jose_result_t jr = aoidc_jwt_parse(r->pool, token, &jwt, &err);
    if (jr != AOIDC_JOSE_OK) {
        return apr_pstrcat(r->pool, "malformed: ", aoidc_jose_result_str(jr), NULL);
    }
    json_t *c = jwt->claims;
    const char *iss;
    if (bcl_string_claim(c, "iss", &iss) != 1) {
        return "no iss";
    }
    /* the issuer only chooses whose keys to try: nothing is believed yet */
    out->pr = NULL;
    for (int i = 0; sc->providers && i < sc->providers->nelts && !out->pr; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
        if (strcmp(pr->issuer, iss) == 0) {
            out->pr = pr;
        }
    }
    if (!out->pr) {
        return "iss is not a configured provider";
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    jr = aoidc_provider_verify(out->pr, r->pool, &ho, jwt, &err);
    if (jr != AOIDC_JOSE_OK) {
        return apr_pstrcat(r->pool, "signature: ", aoidc_jose_result_str(jr), NULL);
    }
    if (jwt->typ && strcasecmp(jwt->typ, "logout+jwt") != 0 && strcasecmp(jwt->typ, "application/logout+jwt") != 0 &&
        strcasecmp(jwt->typ, "JWT") != 0) {
        return "typ is not logout+jwt";
    }
    if (!bcl_aud_ok(json_object_get(c, "aud"), out->pr->client_id)) {
        return "aud does not name this client";
    }
    apr_int64_t now = apr_time_sec(apr_time_now()), skew = sc->clock_skew;
    json_t *iat = json_object_get(c, "iat");
    if (!json_is_number(iat) || json_number_value(iat) - (double)skew > (double)now ||
        json_number_value(iat) < (double)(now - BCL_MAX_AGE - skew)) {
        return "iat missing, in the future or too old";
    }
    json_t *exp = json_object_get(c, "exp");
    out->exp = 0;
    if (exp) {
        if (!json_is_number(exp) || json_number_value(exp) + (double)skew <= (double)now) {
            return "expired";
        }
        out->exp = (apr_int64_t)json_number_value(exp);
    }
    json_t *events = json_object_get(c, "events");
    if (!json_is_object(events) || !json_is_object(json_object_get(events, BCL_EVENT))) {
        return "events lacks the back-channel logout event";
    }
    if (json_object_get(c, "nonce")) {
        return "a nonce is present (an ID token?)";
    }
    int nsub = bcl_string_claim(c, "sub", &out->sub), nsid = bcl_string_claim(c, "sid", &out->sid);
    if (nsub < 0 || nsid < 0 || (nsub == 0 && nsid == 0)) {
        return "neither a usable sid nor sub";
    }
    if (bcl_string_claim(c, "jti", &out->jti) != 1) {
        return "no jti";
    }
    return NULL;
}

static int handle_backchannel(request_rec *r, aoidc_srv_cfg_t *sc)
{
    const char *body = NULL, *token = NULL, *why;
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    if (r->method_number != M_POST) {
        ap_discard_request_body(r);
        why = "not a POST";
    }
    else if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
             (ctype[33] && ctype[33] != ';' && ctype[33] != ' ')) {
        ap_discard_request_body(r);
        why = "not a form";
    }
    else if (!bcl_read_body(r, &body)) {
        why = "body too large or unreadable";
    }
    else if (aoidc_query_param(r->pool, body, "logout_token", &token) != 1 || !*token) {
        why = "no single logout_token";
    }
    else {
        why = NULL;
    }
    bcl_token_t t = {0};
    if (!why) {
        why = bcl_validate(r, sc, token, &t);
    }
    if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(450) "back-channel logout refused: %s", why);
        return bcl_answer(r, 0);
    }
    if (!sc->store) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(451) "back-channel logout: no session store");
        return bcl_answer(r, 0);
    }
    /* a jti is accepted once: remembered for as long as the token could pass */
    apr_int64_t now = apr_time_sec(apr_time_now());
    apr_int64_t ttl = BCL_MAX_AGE + 2 * (apr_int64_t)sc->clock_skew;
    if (t.exp && t.exp - now + sc->clock_skew > ttl) {
        ttl = t.exp - now + sc->clock_skew;
    }
    ttl = ttl > 86400 ? 86400 : ttl;
    const char *jkey = aoidc_dir_jti_key(r->pool, t.pr->issuer, t.jti);
    aoidc_store_rc_t rc = sc->store->add(sc->store, jkey, "1", 1, (long)ttl);
    if (rc == AOIDC_STORE_EXISTS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(452)
                      "back-channel logout refused: jti already used (replay)");
        return bcl_answer(r, 0);
    }
    if (rc != AOIDC_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(453) "back-channel logout: session store %s",
                      aoidc_store_rc_str(rc));
        return bcl_answer(r, 0);
    }
    int count = 0;
    apr_status_t rv = t.sid ? aoidc_dir_revoke_sid(sc->store, sc->keys, r->pool, t.pr->name, t.sid, t.sub, now, &count)
                            : aoidc_dir_revoke_user(sc->store, sc->keys, r->pool, t.pr->name, t.sub, now, &count);
    if (rv != APR_SUCCESS) {
        /* let the OP's retry through: forget the jti */
        sc->store->del(sc->store, jkey);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, AOIDC_LOGNO(454)
                      "back-channel logout from %s: sessions could not be ended (store)", t.pr->name);
        return bcl_answer(r, 0);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(455)
                  "back-channel logout from %s (%s '%.128s'): %d session(s) ended", t.pr->name,
                  t.sid ? "sid of" : "all sessions of", t.sub ? t.sub : "-", count);
    return bcl_answer(r, 1);
}

int aoidc_quick_handler(request_rec *r, int lookup)
{
    if (lookup || r->main) {
        return DECLINED;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    if (!sc->providers || !sc->keys || !r->parsed_uri.path) {
        return DECLINED;
    }
    if (sc->redirect_path && strcmp(r->parsed_uri.path, sc->redirect_path) == 0) {
        return handle_callback(r, sc);
    }
    if (sc->logout_uri && strcmp(r->parsed_uri.path, sc->logout_uri) == 0) {
        return handle_logout(r, sc);
    }
    if (sc->backchannel_uri && strcmp(r->parsed_uri.path, sc->backchannel_uri) == 0) {
        return handle_backchannel(r, sc);
    }
    return DECLINED;
}
