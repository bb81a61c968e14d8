/* Re-authentication: when a login must make the user type their password
 * again, and whether the provider did.
 *  - After a revocation (the revocation epochs of aoidc_directory.h), a
 *    login whose ID token says the user authenticated at or before the
 *    epoch (auth_time, or no auth_time at all) reused the provider's own
 *    session: the module asks again with prompt=login&max_age=0.
 *  - A login that sent max_age (that request, or AuthOIDCMaxAuthAge for
 *    step-up) must get an auth_time at most max_age (+ clock skew) old.
 * Core file: APR and the store vtable only. */
#ifndef AOIDC_REAUTH_H
#define AOIDC_REAUTH_H

#include "aoidc_store.h"

#include <apr_pools.h>

/* The latest revocation epoch that covers the user (provider, sub): the
 * user's or the provider's, 0 when neither exists. APR_SUCCESS, or
 * APR_EGENERAL when the store cannot answer (*epoch then 0). An unreadable
 * epoch value counts as "now" (the safe side). */
apr_status_t aoidc_reauth_epoch(aoidc_store_t *st, apr_pool_t *p, const char *provider, const char *sub,
                                apr_int64_t now, apr_int64_t *epoch);

/* An ID token's auth_time claim from its JSON payload member value: the
 * seconds, or 0 when absent or not a positive integer. */
apr_int64_t aoidc_reauth_auth_time(const char *decimal);

typedef enum {
    AOIDC_REAUTH_OK = 0, /* accept the login */
    AOIDC_REAUTH_ASK,    /* log in again with prompt=login&max_age=0 */
    AOIDC_REAUTH_STALE   /* the provider did not re-authenticate as asked: refuse */
} aoidc_reauth_t;

/* The verdict at the callback. auth_time 0: the token had none. max_age:
 * what the login sent (-1 none). epoch: aoidc_reauth_epoch's answer.
 * started: when the login attempt began; a revocation at or after it raced
 * the login, which the directory then refuses (aoidc_dir_add), so it is not
 * asked again here. */
aoidc_reauth_t aoidc_reauth_check(apr_int64_t auth_time, int max_age, apr_int64_t epoch, apr_int64_t started,
                                  apr_int64_t now, int skew);

/* Is a session authenticated at auth_time (0: unknown) older than
 * max_auth_age (+ skew) now? AuthOIDCMaxAuthAge. */
int aoidc_reauth_too_old(apr_int64_t auth_time, int max_auth_age, apr_int64_t now, int skew);

#endif
