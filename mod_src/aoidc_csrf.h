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

typedef enum {
    AOIDC_CSRF_OK = 0,
    AOIDC_CSRF_CROSS_SITE, /* Sec-Fetch-Site cross-site, or an Origin not ours */
    AOIDC_CSRF_MISSING,    /* no X-CSRF-Token header */
    AOIDC_CSRF_MISMATCH    /* a header that is not this session's token */
} aoidc_csrf_verdict_t;

/* The check of a state-changing request authenticated by a session cookie
 * (any argument but keys and store_key may be NULL):
 *   Sec-Fetch-Site "cross-site", or an Origin (including "null") that is not
 *   our_origin ("scheme://host[:port]")       -> CROSS_SITE, token or not;
 *   no token                                  -> MISSING;
 *   a token that aoidc_csrf_token_ok refuses  -> MISMATCH; else OK. */
aoidc_csrf_verdict_t aoidc_csrf_check(apr_pool_t *p, const aoidc_keys_t *keys, const char *store_key,
                                      const char *sec_fetch_site, const char *origin, const char *our_origin,
                                      const char *token);

/* A short name of the verdict for the log. */
const char *aoidc_csrf_verdict_str(aoidc_csrf_verdict_t v);

/* Is the method one that changes state (anything but GET, HEAD, OPTIONS,
 * TRACE; an unknown method does)? Case-sensitive, as HTTP methods are. */
int aoidc_csrf_method_unsafe(const char *method);

#endif
