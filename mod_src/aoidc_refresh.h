/* Server-side refresh of a session's access token (AuthOIDCRefreshBefore).
 *
 * Exactly one refresh per session in the whole cluster: the node that adds
 * the session's lock item to the store (memcached add, with a TTL) refreshes;
 * the others continue with the still-valid token or wait briefly for the
 * record the refresher writes. The refresher reads the record again after it
 * holds the lock, so a refresh token that another node has just rotated is
 * never sent again (providers that detect reuse revoke the whole family). */
#ifndef AOIDC_REFRESH_H
#define AOIDC_REFRESH_H

#include "aoidc_claims.h"
#include "aoidc_http.h"
#include "aoidc_provider.h"
#include "aoidc_session.h"

#include <apr_pools.h>

#define AOIDC_REFRESH_LOCK_PREFIX "aoidc:rl:"

/* 1 when the session's access token should be refreshed now: before > 0,
 * the session has a refresh token, the token's expiry is known and it ends
 * within before seconds (or has ended). */
int aoidc_refresh_due(const aoidc_session_t *s, int before, apr_int64_t now);

/* The store key of the refresh lock of the session stored under store_key
 * (from p): the prefix and the hash part of the store key, so the lock
 * names no secret either. NULL for a store key that is not a session's. */
const char *aoidc_refresh_lock_key(apr_pool_t *p, const char *store_key);

/* POST grant_type=refresh_token to the token endpoint with the provider's
 * client authentication. APR_EACCES when the provider refused (HTTP 4xx,
 * e.g. invalid_grant: the refresh token is dead); another error when it
 * could not be reached or answered garbage (worth trying again later). */
apr_status_t aoidc_refresh_tokens(const aoidc_provider_t *pr, apr_pool_t *p, const aoidc_http_opts_t *o,
                                  const aoidc_provider_meta_t *meta, const char *refresh_token,
                                  aoidc_tokens_t *out, const char **err);

/* The session's claims after a fresh userinfo answer (a JSON object): every
 * claim the answer names (even as an empty array) takes the answer's
 * values; the others stay. At most AOIDC_CLAIMS_MAX pairs (the first ones;
 * the rest counted in *dropped when not NULL), the values of one name
 * adjacent, as aoidc_claims_flatten makes them. An array of aoidc_claim_t
 * from p. */
apr_array_header_t *aoidc_refresh_merge_userinfo(apr_pool_t *p, const aoidc_claim_t *claims, int n,
                                                 json_t *userinfo, int *dropped);

/* Put new tokens into a session: the access token and its expiry (now +
 * expires_in, or unknown), the refresh token when a new one came (rotation;
 * otherwise the old one stays). The ID token checked at login stays. */
void aoidc_refresh_apply(aoidc_session_t *s, const aoidc_tokens_t *t, apr_int64_t now);

#endif
