/* The session info answer (AuthOIDCSessionInfoURI): what a single-page app
 * learns about its session, as JSON. Never a token. */
#ifndef AOIDC_SESSINFO_H
#define AOIDC_SESSINFO_H

#include "aoidc_session.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define AOIDC_SESSINFO_CLAIMS_DEFAULT "name given_name family_name preferred_username email"

/* The JSON object (compact, from p; NULL when it cannot be built):
 *   {"sub", "provider", "claims": {name: value or [values]}, "created",
 *    "expires", "idle_expires", "access_token_expires" (or null), "csrf_token"}
 * Times are seconds since the epoch. claim_names (const char *) picks the
 * claims; absent ones are left out; a claim with several values is an array.
 * idle_expires is last_seen + inactivity, capped at expires. */
char *aoidc_sessinfo_json(apr_pool_t *p, const aoidc_session_t *s, apr_int64_t inactivity,
                          const apr_array_header_t *claim_names, const char *csrf_token);

#endif
