/* RFC 6750 on the wire: where a request carries its bearer token, and the
 * WWW-Authenticate challenge we answer with. Client input only, no httpd:
 * the glue (mod_auth_oidc_bearer.c, mod_auth_oidc_response.c) hands over
 * header and query strings; unit tests and tests/fuzz/fuzz_bearer.c call
 * the same functions. */
#ifndef AOIDC_BEARER_H
#define AOIDC_BEARER_H

#include <apr_pools.h>

/* Longest token taken from a request (a JWT's limit, AOIDC_JWT_MAX_LEN). */
#define AOIDC_BEARER_TOKEN_MAX 16384

typedef enum {
    AOIDC_BEARER_NONE = 0, /* no bearer token: no Authorization of scheme Bearer, no access_token */
    AOIDC_BEARER_OK,       /* *token is the one token of the request */
    AOIDC_BEARER_BAD       /* malformed header, a query token where none is allowed, a duplicated
                              or malformed access_token, or a token in header and query at once */
} aoidc_bearer_rc_t;

/* Is the scheme of this Authorization header value Bearer (case-insensitive,
 * followed by a space)? NULL: 0. */
int aoidc_bearer_scheme(const char *authorization);

/* RFC 6750 2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=",
 * at most AOIDC_BEARER_TOKEN_MAX characters. */
int aoidc_bearer_b64token_ok(const char *t);

/* The token of a request from its Authorization header value (NULL when
 * absent) and raw query string (NULL when none); query_allowed: the
 * access_token query parameter (RFC 6750 2.3) may carry it. A header of
 * another scheme is NONE (not ours to judge) unless the query has a token.
 * On OK, *token points into authorization or is from p (the decoded query
 * value); otherwise *token is NULL. */
aoidc_bearer_rc_t aoidc_bearer_find(apr_pool_t *p, const char *authorization, const char *query,
                                    int query_allowed, const char **token);

/* Does the token look like a compact JWS (exactly two dots)? Otherwise it is
 * opaque and goes to introspection. */
int aoidc_bearer_is_jwt(const char *t);

/* The WWW-Authenticate value, from p: Bearer realm="realm"[, error="error"][,
 * scope="scope"]. Inside the quotes every '"', '\\', control character and
 * DEL becomes '_', so no input can end a quoted string or the header line;
 * NULL error or scope leaves that parameter out; a NULL realm is "api". */
const char *aoidc_bearer_challenge(apr_pool_t *p, const char *realm, const char *error, const char *scope);

#endif
