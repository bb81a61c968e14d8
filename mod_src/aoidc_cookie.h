/* The Cookie request header (untrusted input): find pairs, and strip ours
 * before the request reaches the backend.
 * Core file: APR only, no httpd headers. */
#ifndef AOIDC_COOKIE_H
#define AOIDC_COOKIE_H

#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* Walk the "a=b; c=d" pairs of a Cookie header: calls fn with pointers into h
 * for each ';'-separated segment that has an '='; name and value are trimmed
 * of blanks (SP, HTAB), the value also of surrounding double quotes. Segments
 * without '=' are skipped. Stops when fn returns 0. h may be NULL. The caller
 * bounds the length of h. */
typedef int (*aoidc_cookie_fn)(void *ctx, const char *name, apr_size_t nlen, const char *val,
                               apr_size_t vlen);
void aoidc_cookie_walk(const char *h, aoidc_cookie_fn fn, void *ctx);

/* A longer Cookie header is not searched (and not passed on by the glue). */
#define AOIDC_COOKIE_HEADER_MAX 16384

/* The value of the first cookie called name in h (copied into p), or NULL;
 * *count (may be NULL) gets how many cookies have that name. NULL, too, when
 * h is NULL or longer than AOIDC_COOKIE_HEADER_MAX. */
const char *aoidc_cookie_header_get(apr_pool_t *p, const char *h, const char *name, int *count);

/* The values (const char *, copied into p) of every cookie called name, in
 * the order sent, at most max; empty when h is NULL or too long. */
apr_array_header_t *aoidc_cookie_header_values(apr_pool_t *p, const char *h, const char *name, int max);

/* The names (const char *, copied into p) of the cookies whose names start
 * with prefix and are longer than it, in the order sent, at most max; empty
 * when h is NULL or too long. */
apr_array_header_t *aoidc_cookie_header_names(apr_pool_t *p, const char *h, const char *prefix, int max);

/* Is this cookie name one of ours: exactly session_name, or state_prefix
 * followed by at least one character? (The same test for the strip below and
 * for anyone checking its result.) */
int aoidc_cookie_is_ours(const char *name, apr_size_t nlen, const char *session_name,
                         const char *state_prefix);

/* Copy the Cookie header h (hlen bytes, no NUL needed) to out without our
 * cookies (aoidc_cookie_is_ours, names as aoidc_cookie_walk sees them). Kept
 * segments are copied byte for byte (trimmed of surrounding blanks, segments
 * without '=' included) in their order, joined by "; " where the input had at
 * least two bytes between them and by ";" otherwise, so the result is never
 * longer than h. out must have room for hlen + 1 bytes (outsize); it is
 * NUL-terminated and *outlen (may be NULL) excludes the NUL.
 * Returns the number of cookies removed (0: out is a trimmed copy of h, which
 * the caller may ignore), or -1 when outsize < hlen + 1 (nothing written). */
int aoidc_cookie_strip_ours(const char *h, apr_size_t hlen, const char *session_name,
                            const char *state_prefix, char *out, apr_size_t outsize, apr_size_t *outlen);

#endif
