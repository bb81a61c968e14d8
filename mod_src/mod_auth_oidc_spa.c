/* Single-page apps behind the session ("backend for frontend"): the browser
 * holds only the HttpOnly session cookie, Apache holds the tokens.
 *   AuthOIDCSessionInfoURI  who is logged in, until when, the CSRF token */
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
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOIDC_LOGNO(800) "session info: session store unavailable");
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return json_answer(r, HTTP_SERVICE_UNAVAILABLE, "{\"error\":\"temporarily_unavailable\"}\n");
    case AOIDC_LOAD_NONE:
        return json_answer(r, HTTP_UNAUTHORIZED, "{\"error\":\"unauthenticated\"}\n");
    }
    /* as on the hot path: the revocation epochs are read only when a
     * write-back would be due, and written only if this counts as activity */
    if (now - ctx.session.last_seen >= sc->touch_interval) {
        aoidc_dir_verdict_t v = aoidc_dir_session_revoked(sc->store, r->pool, &ctx.session);
        if (v == AOIDC_DIR_REVOKED) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOIDC_LOGNO(801)
                          "session info: session revoked (its user or provider was revoked after it was created)");
            sc->store->del(sc->store, ctx.store_key);
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
