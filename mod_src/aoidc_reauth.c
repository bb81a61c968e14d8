/* Re-authentication after revocation and for step-up (see aoidc_reauth.h). */
#include "aoidc_reauth.h"
#include "aoidc_directory.h"
#include "aoidc_util.h"

#include <apr_strings.h>
#include <string.h>

static apr_status_t one_epoch(aoidc_store_t *st, apr_pool_t *p, const char *key, apr_int64_t now,
                              apr_int64_t *out)
{
    char *val;
    apr_size_t len;
    aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return APR_SUCCESS;
    }
    if (rc != AOIDC_STORE_OK) {
        return APR_EGENERAL;
    }
    apr_int64_t e = aoidc_decimal(val, len);
    e = e < 0 ? now : e;
    if (e > *out) {
        *out = e;
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_reauth_epoch(aoidc_store_t *st, apr_pool_t *p, const char *provider, const char *sub,
                                apr_int64_t now, apr_int64_t *epoch)
{
    *epoch = 0;
    if (!provider || !*provider || !sub || !*sub) {
        return APR_SUCCESS;
    }
    apr_int64_t e = 0;
    if (one_epoch(st, p, aoidc_dir_epoch_user_key(p, provider, sub), now, &e) != APR_SUCCESS ||
        one_epoch(st, p, aoidc_dir_epoch_provider_key(p, provider), now, &e) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    *epoch = e;
    return APR_SUCCESS;
}

apr_int64_t aoidc_reauth_auth_time(const char *s)
{
    apr_int64_t v = s ? aoidc_decimal(s, strlen(s)) : -1;
    return v > 0 ? v : 0;
}

aoidc_reauth_t aoidc_reauth_check(apr_int64_t auth_time, int max_age, apr_int64_t epoch, apr_int64_t started,
                                  apr_int64_t now, int skew)
{
    if (max_age >= 0) {
        /* we asked for a recent authentication: it must be one, and (after a
         * revocation) one after the epoch, both with the clock skew */
        if (!auth_time || now - auth_time > (apr_int64_t)max_age + skew ||
            (epoch && auth_time + skew <= epoch)) {
            return AOIDC_REAUTH_STALE;
        }
        return AOIDC_REAUTH_OK;
    }
    if (epoch && epoch < started && (!auth_time || auth_time <= epoch)) {
        return AOIDC_REAUTH_ASK;
    }
    return AOIDC_REAUTH_OK;
}

int aoidc_reauth_too_old(apr_int64_t auth_time, int max_auth_age, apr_int64_t now, int skew)
{
    return max_auth_age >= 0 && (!auth_time || now - auth_time > (apr_int64_t)max_auth_age + skew);
}
