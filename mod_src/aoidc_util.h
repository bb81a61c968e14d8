/* Small helpers shared by the core: encoding, randomness, limits.
 * Core file: APR and OpenSSL only, no httpd headers. */
#ifndef AOIDC_UTIL_H
#define AOIDC_UTIL_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <stddef.h>

/* Base64url (RFC 4648 section 5) without padding.
 * Encode: returns a NUL-terminated string allocated from p; never fails. */
char *aoidc_b64url_encode(apr_pool_t *p, const unsigned char *in, apr_size_t len);

/* Is c in the base64url alphabet (RFC 4648 section 5: A-Z a-z 0-9 - _)?
 * The one alphabet check of the code base; padding '=' is not in it. */
int aoidc_b64url_char(int c);

/* Is s (NUL-terminated, may be NULL) exactly len base64url characters? */
int aoidc_b64url_is(const char *s, apr_size_t len);

/* Decode base64url (padding tolerated only at the end, other characters
 * refused, and so are non-zero bits in the last character that the decoded
 * bytes do not use: each byte string has exactly one encoding). On success *out is allocated from p (NUL-terminated for
 * convenience, *outlen excludes that NUL) and APR_SUCCESS is returned.
 * Returns APR_EINVAL for malformed input, APR_ENOSPC when in is longer than
 * max_in (checked before decoding). */
apr_status_t aoidc_b64url_decode(apr_pool_t *p, const char *in, apr_size_t inlen, apr_size_t max_in,
                                 unsigned char **out, apr_size_t *outlen);

/* Fill buf with len cryptographically strong random bytes (OpenSSL
 * RAND_bytes). Returns APR_EGENERAL if the generator fails. */
apr_status_t aoidc_random(unsigned char *buf, apr_size_t len);

/* A random base64url token of nbytes random bytes, allocated from p, or NULL
 * if the generator fails. */
char *aoidc_random_token(apr_pool_t *p, apr_size_t nbytes);

/* Constant-time comparison of two buffers of possibly different length:
 * 1 when equal, 0 otherwise. */
int aoidc_ct_equal(const void *a, apr_size_t alen, const void *b, apr_size_t blen);

/* SHA-256 of in into out[32]. */
void aoidc_sha256(const void *in, apr_size_t len, unsigned char out[32]);

/* The len bytes at s (need not be NUL-terminated) as a decimal number of 1
 * to 19 digits; -1 for anything else (a sign, blanks, an empty string, and
 * a 19-digit value whose last digit could overflow an apr_int64_t: from
 * 9223372036854775800 up, beyond any time in seconds). */
apr_int64_t aoidc_decimal(const char *s, apr_size_t len);

/* Percent-encode for a URL query component (RFC 3986 unreserved kept). */
char *aoidc_url_encode(apr_pool_t *p, const char *s);

/* Percent-decode a query component ('+' becomes a space). Returns NULL on a
 * malformed escape or an encoded NUL. */
char *aoidc_url_decode(apr_pool_t *p, const char *s, apr_size_t len);

/* Is target a safe local return path? It must start with a single '/',
 * must not start with "//" or "/\\", and must contain no backslash, no
 * control character (tab, CR, LF, ...), no space and no encoded slash or
 * backslash tricks in the authority position. Returns 1 if acceptable. */
int aoidc_is_local_path(const char *target);

/* Look up a query parameter by name in a raw query string. Returns
 * 1 when found exactly once (*value decoded, from p), 0 when absent,
 * -1 when present more than once or malformed. */
int aoidc_query_param(apr_pool_t *p, const char *query, const char *name, const char **value);

#endif
