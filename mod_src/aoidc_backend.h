/* What the backend gets: the names and values of the claim headers and
 * environment variables, and the test that finds client headers posing as
 * them. Client header names and provider claims are untrusted input.
 * Core file: APR only, no httpd headers. */
#ifndef AOIDC_BACKEND_H
#define AOIDC_BACKEND_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "aoidc_claims.h"

/* Does the header name start with prefix, ignoring case and with '-' and '_'
 * equal (CGI turns both into '_', so a client must not sneak one in as the
 * other)? name may be NULL (0). */
int aoidc_backend_name_has_prefix(const char *name, const char *prefix);

/* The header name for a claim: prefix then claim, with '_', '.' and ':' as
 * '-' (Apache 2.4 drops header names with '_' from a CGI environment).
 * Writes strlen(prefix) + strlen(claim) + 1 bytes into out; returns -1 (and
 * writes nothing) when outsize is smaller, else the length written. */
long aoidc_backend_header_name(const char *prefix, const char *claim, char *out, apr_size_t outsize);

/* The bytes needed to join n values with ',' (including the NUL). */
apr_size_t aoidc_backend_join_size(const char *const *vals, int n);

/* Join n values with ',' into out. With header_safe, control characters
 * (< 0x20 and 0x7f, which could split or end a header) become spaces.
 * Returns -1 (and writes nothing) when outsize < aoidc_backend_join_size(),
 * else the length written (without the NUL). */
long aoidc_backend_join(const char *const *vals, int n, int header_safe, char *out, apr_size_t outsize);

/* One claim as the backend gets it: env = prefix + name (as sent by the
 * provider, already checked by aoidc_claim_name_ok), header = the header name
 * above, value = the values of the claim joined with ',', header_value = the
 * same with controls as spaces (the same pointer when there are none). */
typedef struct {
    const char *env, *header, *value, *header_value;
} aoidc_backend_var_t;

/* The variables for a session's claims, one per claim name; the values of one
 * name must be adjacent (as aoidc_claims_flatten makes them). Allocated from
 * p: an array of aoidc_backend_var_t. */
apr_array_header_t *aoidc_backend_vars(apr_pool_t *p, const char *prefix, const aoidc_claim_t *claims, int n);

/* The header carrying the access token to the backend (AuthOIDCPassAccessToken
 * header), and its expiry in -Expires; client headers starting with it (as
 * aoidc_backend_name_has_prefix compares) are always removed. */
#define AOIDC_ACCESS_TOKEN_HEADER "OIDC-Access-Token"
#define AOIDC_ACCESS_TOKEN_MAX 8192

/* 1 when a token from the provider can be a header value as it is: 1 to
 * AOIDC_ACCESS_TOKEN_MAX visible ASCII characters (0x21-0x7e), no blank,
 * nothing that could end or split a header. */
int aoidc_backend_token_ok(const char *token);

#endif
