/* Single-page apps behind the session (mod_auth_oidc_spa.c): the session
 * info URI, CSRF protection, the access token for the backend. */
#ifndef MOD_AUTH_OIDC_SPA_H
#define MOD_AUTH_OIDC_SPA_H

#include "mod_auth_oidc.h"

/* AuthOIDCSessionInfoURI: JSON about the browser's session (200), or a 401
 * JSON without one; never a redirect. From the quick handler. */
int aoidc_handle_session_info(request_rec *r, aoidc_srv_cfg_t *sc);

/* check_authn, once a live session of the location's provider is found
 * (ctx filled, not yet the request's): CSRF protection (AuthOIDCCSRF), the
 * access token for the backend (AuthOIDCPassAccessToken).
 * Returns OK to go on, else the status to answer (a JSON error page).
 * *touch_due says whether a write-back of the session is due; a check that
 * wrote the session itself clears it. */
int aoidc_spa_session_checks(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc, aoidc_req_ctx_t *ctx,
                             apr_int64_t now, uint64_t *cas, int *touch_due);

/* check_authn and the bearer check, first thing: a CORS preflight (OPTIONS
 * with Origin and Access-Control-Request-Method, which browsers send
 * without credentials) goes on to the application with an empty user and
 * no cookies of ours, unless AuthOIDCPassCORSPreflight Off. Returns OK when
 * it let the request through (our Require providers grant it), else
 * DECLINED. */
int aoidc_spa_preflight(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_dir_cfg_t *dc);

/* Returned by aoidc_spa_session_checks when the session cannot serve the
 * request (a refused refresh ended it, or it is bound to another client):
 * the request is unauthenticated. Not an HTTP status. */
#define AOIDC_SPA_ENDED (-2)

/* AuthOIDCRefreshBefore (mod_auth_oidc_refresh.c): refresh the access token
 * of ctx's session when due, once in the cluster. OK to go on (ctx->session
 * may hold new tokens; *touch_due cleared when the record was written), or
 * AOIDC_SPA_ENDED when a refused refresh ended the session. */
int aoidc_refresh_session(request_rec *r, aoidc_srv_cfg_t *sc, aoidc_req_ctx_t *ctx, apr_int64_t now,
                          int *touch_due);

/* AuthOIDCSessionBinding: 1 when the session may serve this request (bound
 * client unchanged, or only logged); 0 when it must count as none here. */
int aoidc_spa_binding_ok(request_rec *r, const aoidc_srv_cfg_t *sc, const aoidc_session_t *s);

/* directives */
const char *aoidc_cmd_binding(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_binding_action(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_refresh_before(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_refresh_failure(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_cors_preflight(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_csrf(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_pass_token(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_csrf_cookie(cmd_parms *cmd, void *m, const char *arg);
const char *aoidc_cmd_session_info_claims(cmd_parms *cmd, void *m, int argc, char *const argv[]);
const char *aoidc_cmd_session_info_activity(cmd_parms *cmd, void *m, const char *arg);

#endif
