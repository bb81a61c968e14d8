/* The session directory: lists of live sessions kept in the same store, so
 * that sessions can be listed, searched and revoked without scanning
 * memcached. Shared by the module (writes at login/logout) and oidc-console
 * (reads, revokes).
 *
 * Keys (all values AES-256-GCM under the session key, AAD = the key):
 *   aoidc:s:<handle>            the session record itself (aoidc_session.h)
 *   aoidc:d:b:<bucket>          sessions created in one time bucket of
 *                               AOIDC_DIR_BUCKET seconds: entries (handle, expires)
 *   aoidc:d:u:<h(provider,sub)> one user's sessions: entries (handle, expires)
 *   aoidc:d:sid:<h(provider,sid)> sessions of one provider session id
 *   aoidc:d:m:<h(lower(email))>, aoidc:d:n:<h(lower(name))>
 *                               users with that email / name: entries
 *                               (provider \t sub, expires)
 *   aoidc:d:p:<provider>:<bucket> sessions of one provider per time bucket
 *   aoidc:n:<node>, aoidc:n:index  node configuration snapshots (JSON)
 * The handle of a session is the hash part of its store key: it names the
 * record without revealing the cookie (the cookie is its preimage).
 *
 * Every list is updated with get + CAS (add when missing) and retried on a
 * lost race, never with append (not replicated) nor a blind set; each update
 * drops entries whose expiry has passed and keeps at most AOIDC_DIR_LIST_MAX
 * (the oldest go first), and each list key expires after its newest entry. */
#ifndef AOIDC_DIRECTORY_H
#define AOIDC_DIRECTORY_H

#include "aoidc_crypto.h"
#include "aoidc_session.h"
#include "aoidc_store.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define AOIDC_DIR_BUCKET 300       /* seconds per time bucket */
#define AOIDC_DIR_LIST_MAX 2000    /* entries per list key */
#define AOIDC_DIR_CAS_RETRIES 8
#define AOIDC_HANDLE_LEN 43

typedef struct {
    const char *id;     /* handle, or "provider\tsub" in the email/name lists */
    apr_int64_t expires;
} aoidc_dir_entry_t;

/* The handle of a store key ("aoidc:s:<handle>" -> "<handle>"). */
const char *aoidc_dir_handle(const char *store_key);
/* The store key of a handle (from p); NULL when the handle is malformed. */
const char *aoidc_dir_store_key(apr_pool_t *p, const char *handle);

/* Record a new session in every list (bucket, provider bucket, user, sid,
 * email, name). Returns APR_SUCCESS, or the first failure (the session
 * itself stays valid: a directory miss must never log a user out). */
apr_status_t aoidc_dir_add(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                           const aoidc_session_t *s);

/* Remove a session from the lists (logout, revocation). */
apr_status_t aoidc_dir_remove(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                              const aoidc_session_t *s);

/* Read one list key; missing -> empty array. Expired entries are left out. */
apr_status_t aoidc_dir_read_list(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                 apr_int64_t now, apr_array_header_t **entries);

/* List keys. */
const char *aoidc_dir_bucket_key(apr_pool_t *p, apr_int64_t bucket);
const char *aoidc_dir_provider_bucket_key(apr_pool_t *p, const char *provider, apr_int64_t bucket);
const char *aoidc_dir_user_key(apr_pool_t *p, const char *provider, const char *sub);
const char *aoidc_dir_sid_key(apr_pool_t *p, const char *provider, const char *sid);
const char *aoidc_dir_email_key(apr_pool_t *p, const char *email);
const char *aoidc_dir_name_key(apr_pool_t *p, const char *name);

/* Load the session records of handles (entries from a list), skipping the
 * ones that are gone or do not decrypt. sessions: aoidc_session_t, handles:
 * const char * in the same order. */
apr_status_t aoidc_dir_load(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                            const apr_array_header_t *entries, apr_array_header_t **handles,
                            apr_array_header_t **sessions);

/* Revoke: delete the records (and their directory entries). *count
 * receives how many records existed and were deleted. */
apr_status_t aoidc_dir_revoke_handles(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                      const apr_array_header_t *handles, int *count);

#endif
