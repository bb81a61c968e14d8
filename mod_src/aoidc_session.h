/* Session records: what the store holds for one browser session.
 *
 * The cookie carries only an opaque random id (32 bytes, base64url). The
 * store key is SHA-256("aoidc session store key v1:" id), so a store dump
 * does not reveal the cookie; it does not depend on the crypto key, so a node
 * with another key finds the record and reports that it does not decrypt. The record is a compact binary layout encrypted with
 * AES-256-GCM under the session key with the store key as AAD, so a record
 * cannot be moved to another key. It is written under the current crypto
 * key and read under the current or the previous one (aoidc_keys_open: the
 * key id is its first byte), so the key can be rolled (README). Decoding is one AEAD open and a linear scan
 * with zero copies: no JSON on the request path. */
#ifndef AOIDC_SESSION_H
#define AOIDC_SESSION_H

#include "aoidc_claims.h"
#include "aoidc_crypto.h"

#include <apr_pools.h>
#include <apr_errno.h>
#include <stdint.h>

#define AOIDC_SESSION_ID_BYTES 32
#define AOIDC_SESSION_ID_LEN 43     /* base64url of 32 bytes */
#define AOIDC_SESSION_KEY_PREFIX "aoidc:s:"

typedef struct {
    apr_int64_t created;        /* seconds since the epoch */
    apr_int64_t last_seen;      /* last write-back, not every request */
    apr_int64_t expires;        /* absolute end of life */
    apr_int64_t access_token_exp;
    const char *provider;       /* configured provider name */
    const char *sub;
    const char *user;           /* REMOTE_USER chosen at login */
    const char *sid;            /* the provider's session id, or "" */
    const char *id_token;
    const char *access_token;
    const char *refresh_token;
    const char *node;           /* server that created it */
    const char *client_ip;
    const char *user_agent;
    int nclaims;
    const aoidc_claim_t *claims;
} aoidc_session_t;

/* Does the cookie value look like a session id (43 base64url chars)? */
int aoidc_session_id_ok(const char *id);

/* The store key for a session id, from p. keys is not used (see above); it
 * stays in the signature so that callers need not change if that does. */
const char *aoidc_session_store_key(apr_pool_t *p, const aoidc_keys_t *keys, const char *id);

/* Serialize and encrypt. Strings may be NULL (stored as ""). Fails with
 * APR_ENOSPC when a field exceeds 65535 bytes. */
apr_status_t aoidc_session_encode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                  const aoidc_session_t *s, unsigned char **out, apr_size_t *outlen);

/* Decrypt and parse. Every string points into one buffer from p. Returns
 * APR_EGENERAL when authentication fails (wrong key, tampered, moved),
 * APR_EINVAL when the layout is malformed. */
apr_status_t aoidc_session_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                  const unsigned char *in, apr_size_t inlen, aoidc_session_t *s);

/* Seconds the session stays valid from now: min(last_seen + inactivity,
 * expires) - now; <= 0 means expired. */
apr_int64_t aoidc_session_remaining(const aoidc_session_t *s, apr_int64_t inactivity, apr_int64_t now);

#endif
