/* Token introspection (RFC 7662) for opaque access tokens. */
#ifndef AOIDC_INTROSPECT_H
#define AOIDC_INTROSPECT_H

#include "aoidc_provider.h"
#include "aoidc_token.h"

typedef enum {
    AOIDC_INTROSPECT_ACTIVE = 0,
    AOIDC_INTROSPECT_INACTIVE,   /* active=false, expired, wrong issuer or audience */
    AOIDC_INTROSPECT_ERROR       /* the endpoint could not be asked or answered garbage */
} aoidc_introspect_rc_t;

/* Parse an introspection response: active must be true; exp (if present)
 * must be in the future; iss (if present) must equal issuer; aud (if
 * present, string or array) must contain audience. On ACTIVE, *out holds
 * sub (or client_id when there is no sub), scope, exp (0 if absent) and the
 * flattened claims, from p. *why explains an INACTIVE or ERROR answer. */
aoidc_introspect_rc_t aoidc_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len, const char *issuer,
                                             const char *audience, apr_int64_t now, aoidc_principal_t *out,
                                             const char **why);

/* Ask the provider's introspection endpoint about token with the
 * provider's client credentials. */
aoidc_introspect_rc_t aoidc_introspect(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       const char *token, const char *audience, apr_int64_t now,
                                       aoidc_principal_t *out, const char **why);

#endif
