/* Login state: what a login attempt must remember until the callback.
 *
 * Each attempt gets its own cookie, named after the first characters of its
 * `state`, so several tabs can log in at once. The value is the attempt
 * encrypted with the state key and the cookie name as AAD. */
#ifndef AOIDC_STATE_H
#define AOIDC_STATE_H

#include "aoidc_crypto.h"

#include <apr_pools.h>
#include <apr_errno.h>

#define AOIDC_STATE_COOKIE_PREFIX "aoidc_state_"
#define AOIDC_STATE_NAME_CHARS 16     /* characters of state in the cookie name */
#define AOIDC_STATE_MAX_PENDING 5     /* older pending attempts are dropped */
#define AOIDC_STATE_TTL 600           /* seconds a login attempt may take */
#define AOIDC_STATE_COOKIE_MAX 4096   /* longest cookie value accepted */
#define AOIDC_STATE_LEN 43            /* base64url of 32 random bytes */

typedef struct {
    const char *state;
    const char *nonce;
    const char *verifier;  /* PKCE code_verifier */
    const char *return_to; /* a local path, checked before it is stored */
    const char *provider;
    apr_int64_t created;   /* seconds since the epoch */
    int max_age;           /* max_age sent to the provider (the callback checks auth_time); -1: none */
} aoidc_login_state_t;

#define AOIDC_STATE_MAX_AGE_MAX (30 * 86400)

/* A fresh attempt with random state, nonce and verifier. APR_EGENERAL if the
 * random generator fails. */
apr_status_t aoidc_state_new(apr_pool_t *p, const char *provider, const char *return_to, apr_int64_t now,
                             aoidc_login_state_t **out);

/* Does a `state` query parameter have the shape we issue? */
int aoidc_state_param_ok(const char *state);

/* Cookie name for a state value (prefix + its first characters). */
const char *aoidc_state_cookie_name(apr_pool_t *p, const char *state);

/* Encrypt the attempt into a cookie value (base64url). */
apr_status_t aoidc_state_encode(apr_pool_t *p, const aoidc_keys_t *keys, const aoidc_login_state_t *st,
                                const char **value);

/* Decrypt a cookie value. APR_ENOSPC when longer than
 * AOIDC_STATE_COOKIE_MAX, APR_EINVAL when not base64url or malformed,
 * APR_EGENERAL when authentication fails (tampered or another cookie). The
 * age is not checked here. */
apr_status_t aoidc_state_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *cookie_name,
                                const char *value, aoidc_login_state_t **out);

/* PKCE S256: base64url(SHA-256(verifier)). */
const char *aoidc_pkce_challenge(apr_pool_t *p, const char *verifier);

/* --- single use: one marker per attempt in the store ---------------------
 * Before the code of an attempt is redeemed, the callback adds the marker
 * "P" (pending) under aoidc_state_used_key(state); a second callback for the
 * same state finds it and is refused, so a copied callback URL and state
 * cookie cannot log in elsewhere and the code reaches the token endpoint
 * once. When the login has created its session the marker becomes
 * "S <handle> <return_to>": a late second callback of the browser that holds
 * that session (two tabs answered with one state) is sent to return_to. The
 * marker expires with the attempt. */
#define AOIDC_STATE_MARKER_PENDING "P"
#define AOIDC_STATE_RETURN_MAX 2048   /* longest return target kept */

/* "aoidc:l:" + base64url(SHA-256("aoidc state v1" 0 state)), from p. */
const char *aoidc_state_used_key(apr_pool_t *p, const char *state);

/* Seconds until the attempt expires (created + AOIDC_STATE_TTL), at least 1:
 * the marker's lifetime. */
long aoidc_state_ttl_left(const aoidc_login_state_t *st, apr_int64_t now);

/* The marker of a completed login (from p); NULL when handle is not a
 * session handle (43 base64url characters) or return_to not a local path of
 * at most AOIDC_STATE_RETURN_MAX bytes. */
const char *aoidc_state_marker_done(apr_pool_t *p, const char *handle, const char *return_to);

/* Parse a marker read from the store (len bytes, not trusted): 1 for a
 * completed login (*handle and *return_to from p; return_to is a checked
 * local path), 0 for a pending one, -1 when malformed. */
int aoidc_state_marker_parse(apr_pool_t *p, const char *val, apr_size_t len, const char **handle,
                             const char **return_to);

#endif
