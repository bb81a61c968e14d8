/* Token introspection (RFC 7662) for opaque access tokens.
 *
 * An answer is kept as what it says about the token (aoidc_introspection_t),
 * not as a verdict for the location that asked: the same token is checked
 * against each location's audience on every use, whether the answer is fresh
 * or came from the store (aoidc_introspect_check). A token introspected for
 * one API is thus never accepted by another API from the cache. */
#ifndef AOIDC_INTROSPECT_H
#define AOIDC_INTROSPECT_H

#include "aoidc_crypto.h"
#include "aoidc_provider.h"
#include "aoidc_token.h"

typedef enum {
    AOIDC_INTROSPECT_ACTIVE = 0,
    AOIDC_INTROSPECT_INACTIVE,   /* active=false, expired, wrong issuer or audience */
    AOIDC_INTROSPECT_ERROR       /* the endpoint could not be asked or answered garbage */
} aoidc_introspect_rc_t;

/* At most this many aud values, each at most AOIDC_CLAIM_VALUE_MAX bytes;
 * an answer with more is refused (it could not be cached faithfully). */
#define AOIDC_INTROSPECT_AUD_MAX 32

/* What an introspection answer says about a token. */
typedef struct {
    int active;                  /* active, unexpired, our issuer, has a subject */
    const char *sub;             /* sub, or client_id when there is no sub; "" when inactive */
    apr_int64_t exp;             /* the token's exp, 0 when the answer names none */
    json_t *aud;                 /* "aud": a string or an array of strings; NULL when
                                  * absent. Released by a cleanup of the pool. */
    const char *scope;           /* space-separated, "" when none (aoidc_scope_of_claims) */
    int nclaims;                 /* flattened claims, protocol claims left out */
    const aoidc_claim_t *claims;
} aoidc_introspection_t;

/* Parse an introspection response of the provider with this issuer. ACTIVE:
 * active is true, exp (if present) is an integer after now, iss (if present)
 * equals issuer, sub or client_id is a non-empty string, aud (if present) is
 * a string or a non-empty array of strings within the limits; *out is filled
 * from p. INACTIVE: *out says active = 0 (sub ""); ERROR: not a JSON object
 * or no boolean active. *why explains INACTIVE and ERROR (our text, never
 * provider text). The audience is not looked at: see aoidc_introspect_check. */
aoidc_introspect_rc_t aoidc_introspect_parse(apr_pool_t *p, const char *body, apr_size_t len, const char *issuer,
                                             apr_int64_t now, aoidc_introspection_t *out, const char **why);

/* The verdict for one location, the same for a fresh and a cached answer:
 * ACTIVE when t is active, not expired at now, and its aud contains audience
 * (required); else INACTIVE with *why. */
aoidc_introspect_rc_t aoidc_introspect_check(const aoidc_introspection_t *t, const char *audience, apr_int64_t now,
                                             const char **why);

/* Ask the provider's introspection endpoint about token with the
 * provider's client credentials and parse the answer (aoidc_introspect_parse). */
aoidc_introspect_rc_t aoidc_introspect(aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                       const char *token, apr_int64_t now, aoidc_introspection_t *out,
                                       const char **why);

/* The record the store keeps for an answer: an encrypted session record
 * (aoidc_session_encode, store_key as AAD) with provider, sub, the token's
 * exp, the claims and each aud value as an "aud" claim; expires is the end
 * of caching. Fails like aoidc_session_encode. */
apr_status_t aoidc_introspect_encode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                     const char *provider, const aoidc_introspection_t *t, apr_int64_t now,
                                     apr_int64_t expires, unsigned char **out, apr_size_t *outlen);

/* The inverse: APR_SUCCESS with *t and *expires from p when the record
 * decrypts, belongs to provider and parses; otherwise an error (the caller
 * treats it as a miss). */
apr_status_t aoidc_introspect_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                     const char *provider, const unsigned char *in, apr_size_t inlen,
                                     aoidc_introspection_t *t, apr_int64_t *expires);

#endif
