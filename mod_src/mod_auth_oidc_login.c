/* The login flow: the start of a login from check_authn and the
 * authorization response at AuthOIDCRedirectURI (callback). The quick
 * handler that dispatches our own URIs (callback, logout, back-channel
 * logout) lives here too. Logins keep the session directory
 * (aoidc_directory.h) up to date. */
#include "mod_auth_oidc.h"
#include "mod_auth_oidc_spa.h"
#include "aoidc_binding.h"
#include "aoidc_callback_hint.h"
#include "aoidc_directory.h"
#include "aoidc_reauth.h"
#include "aoidc_request.h"
#include "aoidc_state.h"
#include "aoidc_util.h"

#include <apr_time.h>
#include <unistd.h>

APLOG_USE_MODULE(auth_oidc);


/* The redirect URI of a provider: its own, else the server's. */
static const char *redirect_uri(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr)
{
    const char *uri = pr->redirect_uri ? pr->redirect_uri : sc->redirect_uri;
    return uri[0] == '/' ? aoidc_absolute_url(r, uri) : uri;
}

static const char *redirect_path(aoidc_srv_cfg_t *sc, aoidc_provider_t *pr)
{
    return pr->redirect_path ? pr->redirect_path : sc->redirect_path;
}

/* Is path the redirect URI of the server or of one of its providers? */
static int is_callback_path(aoidc_srv_cfg_t *sc, const char *path)
{
    if (sc->redirect_path && strcmp(path, sc->redirect_path) == 0) {
        return 1;
    }
    for (int i = 0; sc->providers && i < sc->providers->nelts; i++) {
        aoidc_provider_t *pr = APR_ARRAY_IDX(sc->providers, i, aoidc_provider_t *);
        if (pr->redirect_path && strcmp(path, pr->redirect_path) == 0) {
            return 1;
        }
    }
    return 0;
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
    if (aoidc_location_chooses(dc)) {
        return aoidc_chooser(r, sc, dc);
    }
    aoidc_provider_t *pr = location_provider(r, sc, dc);
    if (!pr) {
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    /* only a local path is ever a return target; AuthOIDCMaxAuthAge: the
     * provider must have authenticated the user that recently */
    aoidc_login_opts_t o = {.return_to = aoidc_return_target(r->unparsed_uri), .max_age = dc->max_auth_age};
    return aoidc_login_redirect(r, sc, pr, &o);
}

int aoidc_login_redirect(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr, const aoidc_login_opts_t *o)
{
    if (!sc->redirect_uri) {
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_provider_meta_t meta;
    const char *err = NULL;
    if (aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(401) "provider %s: %s", pr->name,
                      ap_escape_logitem(r->pool, err));
        return aoidc_respond(r, AOIDC_R_PROVIDER_DOWN);
    }
    const char *return_to = o->return_to;
    aoidc_login_state_t *st;
    const char *cookie;
    apr_status_t srv = aoidc_state_new(r->pool, pr->name, return_to, apr_time_sec(apr_time_now()), &st);
    if (srv == APR_SUCCESS) {
        st->max_age = o->max_age >= 0 ? o->max_age : -1; /* the callback checks auth_time against it */
    }
    if (srv != APR_SUCCESS || aoidc_state_encode(r->pool, sc->keys, st, &cookie) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(402) "cannot create login state");
        return aoidc_respond(r, AOIDC_R_INTERNAL);
    }
    bound_pending_states(r, sc);
    aoidc_cookie_set(r, sc, aoidc_state_cookie_name(r->pool, st->state), cookie, AOIDC_STATE_TTL);
    const char *sep = strchr(meta.authorization_endpoint, '?') ? "&" : "?";
    const char *url = apr_pstrcat(r->pool, meta.authorization_endpoint, sep,
                                  "response_type=code&client_id=", aoidc_url_encode(r->pool, pr->client_id),
                                  "&redirect_uri=", aoidc_url_encode(r->pool, redirect_uri(r, sc, pr)),
                                  "&scope=", aoidc_url_encode(r->pool, pr->scope),
                                  "&state=", st->state, "&nonce=", st->nonce,
                                  "&code_challenge=", aoidc_pkce_challenge(r->pool, st->verifier),
                                  "&code_challenge_method=S256", NULL);
    if (o->login_hint) {
        url = apr_pstrcat(r->pool, url, "&login_hint=", aoidc_url_encode(r->pool, o->login_hint), NULL);
    }
    if (o->prompt) {
        url = apr_pstrcat(r->pool, url, "&prompt=", aoidc_url_encode(r->pool, o->prompt), NULL);
    }
    if (o->max_age >= 0) {
        url = apr_pstrcat(r->pool, url, "&max_age=", apr_itoa(r->pool, o->max_age), NULL);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(403) "redirecting to provider %s for login", pr->name);
    aoidc_metric_inc(AOIDC_M_LOGIN_STARTED);
    return aoidc_redirect(r, url);
}

/* After a revocation of the user (or provider) and for a login that sent
 * max_age: did the provider authenticate the user again? *ask set: no, and
 * it was not asked to; log in again with prompt=login (AOIDC_R_OK). */
static aoidc_result_t check_auth_time(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr,
                                      const aoidc_login_state_t *st, const char *sub, apr_int64_t auth_time,
                                      int *ask)
{
    apr_int64_t now = apr_time_sec(apr_time_now()), epoch = 0;
    if (aoidc_reauth_epoch(sc->store, r->pool, pr->name, sub, now, &epoch) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(839)
                      "login refused: the revocation epochs cannot be read (session store down)");
        return AOIDC_R_STORE_DOWN;
    }
    switch (aoidc_reauth_check(auth_time, st->max_age, epoch, st->created, now, sc->clock_skew)) {
    case AOIDC_REAUTH_OK:
        return AOIDC_R_OK;
    case AOIDC_REAUTH_ASK:
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AOIDC_LOGNO(840)
                      "login of '%.128s' at %s reused an authentication from before its revocation; asking the "
                      "provider to authenticate the user again (prompt=login)", ap_escape_logitem(r->pool, sub),
                      pr->name);
        *ask = 1;
        return AOIDC_R_OK;
    case AOIDC_REAUTH_STALE:
        break;
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AOIDC_LOGNO(841)
                  "login of '%.128s' at %s refused: auth_time %" APR_INT64_T_FMT " is not after the revocation or "
                  "within max_age %d (the provider did not authenticate the user again)",
                  ap_escape_logitem(r->pool, sub), pr->name, auth_time, st->max_age);
    return AOIDC_R_FORBIDDEN;
}

/* The new session: id token checked, its auth_time against revocation and
 * max_age (*ask: log in again first), claims flattened, record stored. */
static aoidc_result_t create_session(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_provider_t *pr,
                                     const aoidc_provider_meta_t *meta, const aoidc_tokens_t *tok,
                                     const aoidc_login_state_t *st, const char **store_key, int *ask)
{
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    aoidc_jose_result_t jr = aoidc_jwt_parse(r->pool, tok->id_token, &jwt, &err);
    if (jr == AOIDC_JOSE_OK) {
        int unavailable = 0;
        jr = aoidc_provider_verify_ex(pr, r->pool, &ho, jwt, &err, &unavailable);
        if (unavailable) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(668) "keys of %s cannot be had now: %s", pr->name,
                          err ? ap_escape_logitem(r->pool, err) : "");
            return AOIDC_R_PROVIDER_DOWN;
        }
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
                      aoidc_jose_result_str(jr), err ? ": " : "", err ? ap_escape_logitem(r->pool, err) : "");
        return AOIDC_R_UNAUTHORIZED;
    }
    const char *sub = json_string_value(json_object_get(jwt->claims, "sub"));
    json_t *at = json_object_get(jwt->claims, "auth_time");
    apr_int64_t auth_time = json_is_integer(at) && json_integer_value(at) > 0 ? json_integer_value(at) : 0;
    aoidc_result_t ares = check_auth_time(r, sc, pr, st, sub, auth_time, ask);
    if (ares != AOIDC_R_OK || *ask) {
        return ares;
    }
    json_t *claims = json_deep_copy(jwt->claims);
    /* Auto: providers that put email and name only in userinfo (OpenID
     * Connect Core 5.4 allows it for the code flow) */
    if (pr->userinfo == AOIDC_USERINFO_ON ||
        (pr->userinfo == AOIDC_USERINFO_AUTO && meta->userinfo_endpoint && tok->access_token)) {
        json_t *ui = NULL;
        if (aoidc_provider_userinfo(r->pool, &ho, meta, tok->access_token, &ui, &err) != APR_SUCCESS) {
            json_decref(claims);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(411) "userinfo of %s: %s", pr->name,
                          ap_escape_logitem(r->pool, err));
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
    if (auth_time) {
        /* kept for AuthOIDCMaxAuthAge (flatten leaves protocol claims out) */
        aoidc_claim_t *c = apr_array_push(flat);
        c->name = AOIDC_CLAIM_AUTH_TIME;
        c->value = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, auth_time);
    }
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
    s.user_agent = ua ? apr_pstrndup(r->pool, ua, AOIDC_BINDING_UA_MAX) : "";
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
    /* listed for the console, revocation and back-channel logout: a session
     * that the directory does not index could outlive a revocation, so the
     * login is refused rather than left unindexed */
    apr_status_t drv = aoidc_dir_add(sc->store, sc->keys, r->pool, aoidc_dir_handle(key), &s);
    if (drv != APR_SUCCESS) {
        aoidc_store_rc_t drc = sc->store->del(sc->store, key);
        const char *fate = drc == AOIDC_STORE_OK || drc == AOIDC_STORE_MISSING ? "deleted" : "left to expire";
        if (drv == APR_EACCES) {
            /* the user or provider was revoked while this login ran */
            ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AOIDC_LOGNO(670)
                          "login of '%.128s' refused: revoked while it was made (record %s)",
                          ap_escape_logitem(r->pool, s.sub), fate);
            return AOIDC_R_FORBIDDEN;
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, drv, r, AOIDC_LOGNO(660)
                      "login of '%.128s' refused: the session directory cannot be written (record %s)",
                      ap_escape_logitem(r->pool, s.sub), fate);
        return AOIDC_R_STORE_DOWN;
    }
    /* a session cookie of the browser: the store decides when it ends */
    aoidc_cookie_set(r, sc, sc->cookie_name, id, 0);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(416) "login of '%.128s' at provider %s",
                  ap_escape_logitem(r->pool, s.sub), pr->name);
    *store_key = key;
    return AOIDC_R_OK;
}

/* The return target of a login that this browser has completed: the marker
 * of state names the session that login created, the request carries that
 * session's cookie and the record still exists. NULL otherwise (and when the
 * store cannot tell). Nothing is redeemed or written. */
static const char *completed_here(request_rec *r, aoidc_srv_cfg_t *sc, const char *mkey)
{
    const char *id = aoidc_cookie_get(r, sc->cookie_name, NULL);
    if (!id || !aoidc_session_id_ok(id) || !sc->store) {
        return NULL;
    }
    char *val;
    apr_size_t len;
    const char *handle, *to;
    if (sc->store->get(sc->store, r->pool, mkey, &val, &len, NULL) != AOIDC_STORE_OK ||
        aoidc_state_marker_parse(r->pool, val, len, &handle, &to) != 1) {
        return NULL;
    }
    const char *key = aoidc_session_store_key(r->pool, sc->keys, id);
    const char *mine = aoidc_dir_handle(key);
    if (!mine || !aoidc_ct_equal(mine, strlen(mine), handle, strlen(handle)) ||
        sc->store->get(sc->store, r->pool, key, &val, &len, NULL) != AOIDC_STORE_OK) {
        return NULL;
    }
    return to;
}

/* A callback without its state cookie: the admin gets the likely causes in
 * the log, the browser a fixed page that names the common ones. */
static int missing_state(request_rec *r, aoidc_srv_cfg_t *sc)
{
    aoidc_missing_state_t in = {0};
    in.cookie_header = apr_table_get(r->headers_in, "Cookie") != NULL;
    in.other_states = aoidc_cookie_names_with_prefix(r, AOIDC_STATE_COOKIE_PREFIX)->nelts;
    in.scheme = aoidc_request_scheme(r);
    in.cookie_secure = sc->cookie_secure;
    /* host names are compared (cookies ignore ports) */
    in.host = aoidc_request_host(r);
    const char *colon = in.host && in.host[0] != '[' ? strchr(in.host, ':') : NULL;
    if (colon) {
        in.host = apr_pstrndup(r->pool, in.host, (apr_size_t)(colon - in.host));
    }
    apr_uri_t u;
    if (sc->redirect_uri[0] != '/' && apr_uri_parse(r->pool, sc->redirect_uri, &u) == APR_SUCCESS) {
        in.redirect_host = u.hostname;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(423)
                  "callback without the state cookie of its login (not started in this browser, or already "
                  "finished); likely: %s",
                  ap_escape_logitem(r->pool, aoidc_missing_state_causes(r->pool, &in)));
    ap_custom_response(r, HTTP_BAD_REQUEST, aoidc_missing_state_page);
    return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
}

static int handle_callback(request_rec *r, aoidc_srv_cfg_t *sc)
{
    if (r->method_number != M_GET) {
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    aoidc_callback_t cb;
    aoidc_cb_parse_t prc = aoidc_callback_parse(r->pool, r->args, &cb);
    switch (prc) {
    case AOIDC_CB_OK:
        break;
    case AOIDC_CB_TOO_LONG:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(420) "callback query too long");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    case AOIDC_CB_MALFORMED:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(421) "callback with a repeated or malformed parameter");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    case AOIDC_CB_NO_STATE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(422) "callback without a valid state");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    const char *state = cb.state;
    const char *cname = aoidc_state_cookie_name(r->pool, state);
    int ccount = 0;
    const char *cval = aoidc_cookie_get(r, cname, &ccount);
    aoidc_login_state_t *st = NULL;
    if (!cval) {
        /* some providers answer two tabs' logins with one state: the first
         * callback used the attempt up, the second finds its session */
        const char *to = completed_here(r, sc, aoidc_state_used_key(r->pool, state));
        if (to) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(661)
                          "callback for a login this browser completed: back to its target");
            return aoidc_redirect(r, to);
        }
        return missing_state(r, sc);
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
    /* the state binds the provider; so does a provider's own redirect URI:
     * an answer that arrives at another one's was sent by another provider
     * (mix-up, for providers that do not send iss) */
    if (strcmp(r->parsed_uri.path, redirect_path(sc, pr)) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(838)
                      "callback for a login at provider %s arrived at another redirect URI (mix-up?)", pr->name);
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    /* RFC 9207: iss is checked on error responses too, before we believe them */
    if (cb.iss && strcmp(cb.iss, pr->issuer) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(429)
                      "callback iss parameter does not match provider %s (mix-up?)", pr->name);
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (cb.error) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(427) "provider %s refused the login: %.64s%s%.200s",
                      pr->name, ap_escape_logitem(r->pool, cb.error), cb.error_description ? ": " : "",
                      cb.error_description ? ap_escape_logitem(r->pool, cb.error_description) : "");
        return aoidc_respond(r, AOIDC_R_UNAUTHORIZED);
    }
    if (!aoidc_callback_code_usable(cb.code)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(428) "callback without a usable code");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (!sc->store) {
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    /* single use on the server: the state cookie alone can be copied */
    apr_int64_t now = apr_time_sec(apr_time_now());
    const char *mkey = aoidc_state_used_key(r->pool, st->state);
    long mttl = aoidc_state_ttl_left(st, now);
    aoidc_store_rc_t mrc = sc->store->add(sc->store, mkey, AOIDC_STATE_MARKER_PENDING, 1, mttl);
    if (mrc == AOIDC_STORE_EXISTS) {
        const char *to = completed_here(r, sc, mkey);
        if (to) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(662)
                          "second callback for a login this browser completed: back to its target");
            return aoidc_redirect(r, to);
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(663)
                      "callback for a login attempt already used (replay?): refused");
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    if (mrc != AOIDC_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(664)
                      "callback: cannot mark the login attempt used, session store %s", aoidc_store_rc_str(mrc));
        return aoidc_respond(r, AOIDC_R_STORE_DOWN);
    }
    aoidc_http_opts_t ho = aoidc_http_opts(sc);
    aoidc_provider_meta_t meta;
    aoidc_tokens_t tok;
    const char *err = NULL;
    if (aoidc_provider_get_meta(pr, r->pool, &ho, &meta, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(430) "provider %s: %s", pr->name,
                      ap_escape_logitem(r->pool, err));
        return aoidc_respond(r, AOIDC_R_PROVIDER_DOWN);
    }
    /* RFC 9207: a provider that promises iss must send it */
    if (!cb.iss && meta.iss_parameter_supported) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(432)
                      "callback lacks the iss parameter that provider %s promises (mix-up?)", pr->name);
        return aoidc_respond(r, AOIDC_R_BAD_REQUEST);
    }
    apr_status_t rv = aoidc_provider_exchange_code(pr, r->pool, &ho, &meta, cb.code, st->verifier,
                                                   redirect_uri(r, sc, pr), &tok, &err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(431) "code exchange with %s failed: %s", pr->name,
                      ap_escape_logitem(r->pool, err));
        /* a refused code is the login failing; a provider that cannot be
         * reached or answers garbage is the provider failing */
        return aoidc_respond(r, rv == APR_EACCES ? AOIDC_R_UNAUTHORIZED : AOIDC_R_PROVIDER_DOWN);
    }
    const char *skey = NULL;
    int ask = 0;
    aoidc_result_t res = create_session(r, sc, pr, &meta, &tok, st, &skey, &ask);
    if (res != AOIDC_R_OK) {
        return aoidc_respond(r, res);
    }
    if (ask) {
        /* revoked since the provider last saw the password: once more, and
         * this time the provider must ask for it (the new state checks it) */
        aoidc_login_opts_t o = {.return_to = st->return_to, .prompt = "login", .max_age = 0};
        return aoidc_login_redirect(r, sc, pr, &o);
    }
    /* the attempt stays used; a later callback of this browser may now
     * find its session through the marker */
    const char *done = aoidc_state_marker_done(r->pool, aoidc_dir_handle(skey), st->return_to);
    if (done) {
        mrc = sc->store->set(sc->store, mkey, done, strlen(done), aoidc_state_ttl_left(st, now));
        if (mrc != AOIDC_STORE_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(665)
                          "login completed, its attempt marker not updated: session store %s",
                          aoidc_store_rc_str(mrc));
        }
    }
    return aoidc_redirect(r, st->return_to);
}

/* Our own URIs, before any other module sees them. */
int aoidc_quick_handler(request_rec *r, int lookup)
{
    if (lookup || r->main) {
        return DECLINED;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(r->server);
    if (!sc->providers || !sc->keys || !r->parsed_uri.path) {
        return DECLINED;
    }
    if (is_callback_path(sc, r->parsed_uri.path)) {
        return aoidc_metric_login_outcome(handle_callback(r, sc));
    }
    if (sc->logout_uri && strcmp(r->parsed_uri.path, sc->logout_uri) == 0) {
        return aoidc_handle_logout(r, sc);
    }
    if (sc->backchannel_uri && strcmp(r->parsed_uri.path, sc->backchannel_uri) == 0) {
        return aoidc_handle_backchannel(r, sc);
    }
    if (sc->session_info_uri && strcmp(r->parsed_uri.path, sc->session_info_uri) == 0) {
        return aoidc_handle_session_info(r, sc);
    }
    if (sc->login_uri && strcmp(r->parsed_uri.path, sc->login_uri) == 0) {
        return aoidc_handle_login_uri(r, sc); /* mod_auth_oidc_chooser.c */
    }
    return DECLINED;
}
