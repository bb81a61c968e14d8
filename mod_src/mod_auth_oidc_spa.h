/* Single-page apps behind the session (mod_auth_oidc_spa.c): the session
 * info URI, CSRF protection, the access token for the backend. */
#ifndef MOD_AUTH_OIDC_SPA_H
#define MOD_AUTH_OIDC_SPA_H

#include "mod_auth_oidc.h"

/* AuthOIDCSessionInfoURI: JSON about the browser's session (200), or a 401
 * JSON without one; never a redirect. From the quick handler. */
int aoidc_handle_session_info(request_rec *r, aoidc_srv_cfg_t *sc);

/* directives */
const char *aoidc_cmd_session_info_claims(cmd_parms *cmd, void *m, int argc, char *const argv[]);
const char *aoidc_cmd_session_info_activity(cmd_parms *cmd, void *m, const char *arg);

#endif
