/* CSRF protection of cookie-authenticated state changes (single-page apps).
 *
 * The token is derived from the session, never stored: HMAC-SHA256 under
 * the index key of the crypto key file over a label and the session's store
 * key, base64url (43 characters). It changes with every login (a new id, so
 * a new store key) and is the same on every node. Tokens under the previous
 * key of a rotation are still accepted. */
#ifndef AOIDC_CSRF_H
#define AOIDC_CSRF_H

#include "aoidc_crypto.h"

#include <apr_pools.h>

#define AOIDC_CSRF_TOKEN_LEN 43

/* The token of the session whose store key is store_key, under the current
 * keys, from p. */
const char *aoidc_csrf_token(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key);

/* 1 when presented (len bytes of a header or cookie value, any bytes; NULL
 * is absent) is the token of that session under the current or previous
 * keys; compared in constant time. Scratch memory from p. */
int aoidc_csrf_token_ok(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key, const char *presented,
                        apr_size_t len);

#endif
