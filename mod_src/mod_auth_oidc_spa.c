/* Single-page apps behind the session ("backend for frontend"): the browser
 * holds only the HttpOnly session cookie, Apache holds the tokens.
 *   AuthOIDCSessionInfoURI  who is logged in, until when, the CSRF token
 *   AuthOIDCCSRF            state changes need the session's X-CSRF-Token
 *   AuthOIDCPassAccessToken the session's access token to the backend
 *   AuthOIDCPassCORSPreflight  preflights reach the application
 *   AuthOIDCSessionBinding  a session serves only the client that logged in */
#include "aoidc_backend.h"
#include "aoidc_binding.h"
#include "mod_auth_oidc_spa.h"
#include "aoidc_claims.h"
#include "aoidc_csrf.h"
#include "aoidc_directory.h"
#include "aoidc_sessinfo.h"

#include <apr_time.h>

APLOG_USE_MODULE(auth_oidc);

/* ---- directives ---- */

const char *aoidc_cmd_session_info_claims(cmd_parms *cmd, void *m, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    if (argc < 1) {
        return "AuthOIDCSessionInfoClaims: at least one claim name";
    }
    apr_array_header_t *names = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++) {
        if (!aoidc_claim_name_ok(argv[i])) {
            return apr_psprintf(cmd->pool, "AuthOIDCSessionInfoClaims: '%s' is not a claim name", argv[i]);
        }
        APR_ARRAY_PUSH(names, const char *) = argv[i];
    }
    aoidc_srv_cfg(cmd->server)->session_info_claims = names;
    return NULL;
}

static const char *onoff(cmd_parms *cmd, const char *arg, int *out)
{
    if (strcasecmp(arg, "on") == 0 || strcasecmp(arg, "off") == 0) {
        *out = strcasecmp(arg, "on") == 0;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s: expected On or Off, not '%s'", cmd->cmd->name, arg);
}

const char *aoidc_cmd_session_info_activity(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    return err ? err : onoff(cmd, arg, &aoidc_srv_cfg(cmd->server)->session_info_activity);
}

const char *aoidc_cmd_csrf(cmd_parms *cmd, void *m, const char *arg)
{
    return onoff(cmd, arg, &((aoidc_dir_cfg_t *)m)->csrf);
}

const char *aoidc_cmd_pass_token(cmd_parms *cmd, void *m, const char *arg)
{
    static const struct {
        const char *word;
        int value;
    } kw[] = {{"none", AOIDC_TOKEN_NONE},
              {"header", AOIDC_TOKEN_HEADER},
              {"authorization", AOIDC_TOKEN_AUTHORIZATION}};
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
        if (strcasecmp(arg, kw[i].word) == 0) {
            ((aoidc_dir_cfg_t *)m)->pass_token = kw[i].value;
            return NULL;
        }
    }
    return apr_psprintf(cmd->pool, "AuthOIDCPassAccessToken: '%s' is not none, header or authorization", arg);
}

const char *aoidc_cmd_cors_preflight(cmd_parms *cmd, void *m, const char *arg)
{
    return onoff(cmd, arg, &((aoidc_dir_cfg_t *)m)->cors_preflight);
}

const char *aoidc_cmd_binding(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cmd->server);
    if (strcasecmp(arg, "none") == 0) {
        sc->binding = AOIDC_BIND_NONE;
    }
    else if (strcasecmp(arg, "user-agent") == 0) {
        sc->binding = AOIDC_BIND_UA;
    }
    else if (strcasecmp(arg, "ua+ip") == 0) {
        sc->binding = AOIDC_BIND_UA_IP;
    }
    else {
        return apr_psprintf(cmd->pool, "AuthOIDCSessionBinding: '%s' is not none, user-agent or ua+ip", arg);
    }
    return NULL;
}

const char *aoidc_cmd_binding_action(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    aoidc_srv_cfg_t *sc = aoidc_srv_cfg(cmd->server);
    if (strcasecmp(arg, "refuse") == 0 || strcasecmp(arg, "log") == 0) {
        sc->binding_action = strcasecmp(arg, "log") == 0;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "AuthOIDCSessionBindingAction: '%s' is not refuse or log", arg);
}

const char *aoidc_cmd_csrf_cookie(cmd_parms *cmd, void *m, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    if (err) {
        return err;
    }
    if (!*arg || strlen(arg) > 64 ||
        arg[strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")]) {
        return apr_psprintf(
            cmd->pool, "AuthOIDCCSRFCookie: '%s' is not a cookie name (A-Z a-z 0-9 _ -, 64 at most)", arg);
    }
    aoidc_srv_cfg(cmd->server)->csrf_cookie = arg;
    return NULL;
}

/* ---- answers ---- */

/* A JSON answer of ours, written here (quick handler): returns OK. */
static int json_answer(request_rec *r, int status, const char *body)
{
    aoidc_own_page_headers(r->headers_out);
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)strlen(body));
    r->status = status;
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return OK;
}

static const apr_array_header_t *info_claims(apr_pool_t *p, const aoidc_srv_cfg_t *sc)
{
    if (sc->session_info_claims) {
        return sc->session_info_claims;
    }
    apr_array_header_t *names = apr_array_make(p, 8, sizeof(const char *));
    char *last, *list = apr_pstrdup(p, AOIDC_SESSINFO_CLAIMS_DEFAULT);
    for (char *w = apr_strtok(list, " ", &last); w; w = apr_strtok(NULL, " ", &last)) {
        APR_ARRAY_PUSH(names, const char *) = w;
    }
    return names;
}

int aoidc_handle_session_info(request_rec *r, aoidc_srv_cfg_t *sc)
{
    if (r->method_number != M_GET) { /* HEAD is M_GET too */
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD");
        return json_answer(r, HTTP_METHOD_NOT_ALLOWED, "{\"error\":\"method_not_allowed\"}\n");
    }
    apr_int64_t now = apr_time_sec(apr_time_now());
    aoidc_req_ctx_t ctx = {0};
    uint64_t cas = 0;
    switch (aoidc_load_request_session(r, sc, now, &ctx, &cas)) {
    case AOIDC_LOAD_OK:
        break;
    case AOIDC_LOAD_DOWN:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      AOIDC_LOGNO(800) "session info: session store unavailable");
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return json_answer(r, HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"temporarily_unavailable\"}\n");
    case AOIDC_LOAD_NONE:
        return json_answer(r, HTTP_UNAUTHORIZED, "{\"error\":\"unauthenticated\"}\n");
    }
    if (!aoidc_spa_binding_ok(r, sc, &ctx.session)) {
        return json_answer(r, HTTP_UNAUTHORIZED, "{\"error\":\"unauthenticated\"}\n");
    }
    /* as on the hot path: the revocation epochs are read only when a
     * write-back would be due, and written only if this counts as activity */
    if (now - ctx.session.last_seen >= sc->touch_interval) {
        aoidc_dir_verdict_t v = aoidc_dir_session_revoked(sc->store, r->pool, &ctx.session);
        if (v == AOIDC_DIR_REVOKED) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          AOIDC_LOGNO(801) "session info: session revoked (its user or provider was revoked "
                                           "after it was created)");
            sc->store->del(sc->store, ctx.store_key);
            aoidc_session_cache_drop(sc, ctx.store_key);
            return json_answer(r, HTTP_UNAUTHORIZED, "{\"error\":\"unauthenticated\"}\n");
        }
        if (v == AOIDC_DIR_LIVE && sc->session_info_activity == 1) {
            aoidc_session_touch(r, sc, &ctx, cas, now);
        }
    }
    const char *csrf = aoidc_csrf_token(r->pool, sc->keys, ctx.store_key);
    char *body = aoidc_sessinfo_json(r->pool, &ctx.session, sc->inactivity, info_claims(r->pool, sc), csrf);
    if (!body) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(802) "session info: cannot build the answer");
        return json_answer(r, HTTP_INTERNAL_SERVER_ERROR, "{\"error\":\"internal\"}\n");
    }
    return json_answer(r, HTTP_OK, apr_pstrcat(r->pool, body, "\n", NULL));
}

/* ---- checks on the request path ---- */

/* A JSON error page from check_authn: the status, {"error":code}; the
 * AOIDC_JSON_ERROR filter gives it its type (aoidc_fix_authz_status). */
static int json_error(request_rec *r, aoidc_req_ctx_t *ctx, int status, const char *code)
{
    aoidc_own_page_headers(r->err_headers_out);
    apr_table_setn(r->subprocess_env, "AUTH_OIDC_ERROR", code);
    ctx->json_error = code;
    ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    ap_custom_response(r, status, apr_psprintf(r->pool, "{\"error\":\"%s\"}\n", code));
    return status;
}

/* AuthOIDCCSRFCookie: the token in a cookie scripts can read, set when the
 * browser does not hold it yet (the check itself reads only the header). */
static void csrf_cookie(request_rec *r, const aoidc_srv_cfg_t *sc, const char *token)
{
    const char *have = aoidc_cookie_get(r, sc->csrf_cookie, NULL);
    if (!token || (have && strcmp(have, token) == 0)) {
        return;
    }
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_pstrcat(r->pool, sc->csrf_cookie, "=", token, "; Path=/; SameSite=Strict",
                               sc->cookie_secure ? "; Secure" : "", NULL));
}

static int check_csrf(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx)
{
    if (aoidc_csrf_method_unsafe(r->method)) {
        aoidc_csrf_verdict_t v = aoidc_csrf_check(
            r->pool, sc->keys, ctx->store_key, apr_table_get(r->headers_in, "Sec-Fetch-Site"),
            apr_table_get(r->headers_in, "Origin"), ap_construct_url(r->pool, "", r),
            apr_table_get(r->headers_in, "X-CSRF-Token"));
        if (v != AOIDC_CSRF_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          AOIDC_LOGNO(803) "%s with the session of '%.128s' refused: %s",
                          ap_escape_logitem(r->pool, r->method), ap_escape_logitem(r->pool, ctx->session.sub),
                          aoidc_csrf_verdict_str(v));
            return json_error(r, ctx, HTTP_FORBIDDEN, "csrf");
        }
    }
    if (sc->csrf_cookie) {
        csrf_cookie(r, sc, aoidc_csrf_token(r->pool, sc->keys, ctx->store_key));
    }
    return OK;
}

/* AuthOIDCPassAccessToken: the client's own header of that name is gone
 * already (aoidc_scrub_headers); its Authorization is replaced, or removed
 * when there is no token to give. */
static void pass_token(request_rec *r, int how, const aoidc_session_t *s, apr_int64_t now)
{
    int usable =
        aoidc_backend_token_ok(s->access_token) && (!s->access_token_exp || s->access_token_exp > now);
    if (!usable) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AOIDC_LOGNO(804)
                      "session of '%.128s' has no usable access token (none, expired, or not a header "
                      "value) to pass to the backend", ap_escape_logitem(r->pool, s->sub));
    }
    if (how == AOIDC_TOKEN_AUTHORIZATION) {
        if (usable) {
            apr_table_setn(r->headers_in, "Authorization",
                           apr_pstrcat(r->pool, "Bearer ", s->access_token, NULL));
        }
        else {
            apr_table_unset(r->headers_in, "Authorization");
        }
    }
    else if (usable) {
        apr_table_setn(r->headers_in, AOIDC_ACCESS_TOKEN_HEADER, s->access_token);
    }
    if (usable && s->access_token_exp) {
        apr_table_setn(r->headers_in, AOIDC_ACCESS_TOKEN_HEADER "-Expires",
                       apr_psprintf(r->pool, "%" APR_INT64_T_FMT, s->access_token_exp));
    }
}

int aoidc_spa_binding_ok(request_rec *r, const aoidc_srv_cfg_t *sc, const aoidc_session_t *s)
{
    if (sc->binding <= AOIDC_BIND_NONE) {
        return 1;
    }
    aoidc_bind_verdict_t v = aoidc_binding_check((aoidc_bind_mode_t)sc->binding, s->user_agent, s->client_ip,
                                                 apr_table_get(r->headers_in, "User-Agent"), r->useragent_ip);
    if (v == AOIDC_BIND_OK) {
        return 1;
    }
    int refuse = sc->binding_action != 1;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  AOIDC_LOGNO(818) "session of '%.128s' used from another %s (logged in from %s)%s",
                  ap_escape_logitem(r->pool, s->sub), v == AOIDC_BIND_UA_CHANGED ? "User-Agent" : "network",
                  ap_escape_logitem(r->pool, s->client_ip ? s->client_ip : ""),
                  refuse ? ": refused, the request counts as unauthenticated"
                         : " (AuthOIDCSessionBindingAction log)");
    return !refuse;
}

int aoidc_spa_session_checks(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc, aoidc_req_ctx_t *ctx,
                             apr_int64_t now, uint64_t *cas, int *touch_due)
{
    (void)cas;
    if (!aoidc_spa_binding_ok(r, sc, &ctx->session)) {
        return AOIDC_SPA_ENDED;
    }
    if (dc->csrf == 1) {
        int rc = check_csrf(r, sc, ctx);
        if (rc != OK) {
            return rc;
        }
    }
    if (sc->refresh_before > 0) {
        int rc = aoidc_refresh_session(r, sc, ctx, now, touch_due);
        if (rc != OK) {
            return rc;
        }
    }
    if (dc->pass_token > AOIDC_TOKEN_NONE) {
        pass_token(r, dc->pass_token, &ctx->session, now);
    }
    return OK;
}

int aoidc_spa_preflight(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc)
{
    if (r->method_number != M_OPTIONS || dc->cors_preflight == 0 || !apr_table_get(r->headers_in, "Origin") ||
        !apr_table_get(r->headers_in, "Access-Control-Request-Method")) {
        return DECLINED;
    }
    aoidc_req_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    ctx->preflight = 1;
    ap_set_module_config(r->request_config, &auth_oidc_module, ctx);
    aoidc_cookie_strip(r, sc->cookie_name);
    r->user = "";
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  AOIDC_LOGNO(805) "CORS preflight passed to the application unauthenticated");
    return OK;
}
