/* The session directory: lists of live sessions kept in the same store, so
 * that sessions can be listed, searched and revoked without scanning
 * memcached. Shared by the module (writes at login/logout, back-channel
 * logout) and oidc-console (reads, revokes).
 *
 * Keys (all list values AES-256-GCM under the session key, AAD = the key):
 *   aoidc:s:<handle>            the session record itself (aoidc_session.h)
 *   aoidc:d:b:<bucket>[.<n>]    sessions created in one time bucket of
 *                               AOIDC_DIR_BUCKET seconds: entries (handle,
 *                               expires); when a page is full the next
 *                               login goes to page .1, .2, ... (at most
 *                               AOIDC_DIR_BUCKET_PAGES pages)
 *   aoidc:d:u:<h(provider,sub)> one user's sessions: entries (handle, expires)
 *   aoidc:d:sid:<h(provider,sid)> sessions of one provider session id
 *   aoidc:d:m:<h(lower(email))>, aoidc:d:n:<h(lower(name))>
 *                               users with that email / name: entries
 *                               (provider \t sub, expires of that user's
 *                               newest session); not touched at logout:
 *                               they index users, whose own list says
 *                               which sessions are live
 *   aoidc:d:p:<provider>:<bucket>[.<n>] sessions of one provider per bucket
 *   aoidc:n:<node>, aoidc:n:index  node configuration snapshots: plain JSON,
 *                               no secrets (aoidc_node.h)
 *   aoidc:j:<h(iss,jti)>        back-channel logout token ids already used
 *   aoidc:r:u:<h(provider,sub)>, aoidc:r:p:<h(provider,"")>
 *                               revocation epochs (see aoidc_dir_revoke_epoch_set)
 * h() is base64url(SHA-256("aoidc dir v1" 0 a 0 b)): it bounds the key
 * length and keeps client-chosen text (sub, email) out of the key syntax.
 * It is not keyed, so whoever can read memcached can test a guessed user for
 * the existence of a list (not read it: the values are encrypted).
 * The handle of a session is the hash part of its store key: it names the
 * record without revealing the cookie (the cookie is its preimage).
 *
 * Every list is updated with get + CAS (add when missing) and retried on a
 * lost race, never with append (not replicated) nor a blind set; each update
 * drops entries whose expiry has passed and keeps at most AOIDC_DIR_LIST_MAX
 * entries and AOIDC_DIR_LIST_BYTES bytes, and each list key expires shortly
 * after its newest entry. What happens at the bound keeps the index
 * complete: a full bucket page sends the login to the next page, and when
 * all pages are full the login is refused; a user's (or sid's) list revokes
 * its oldest sessions to make room (a per-user session cap); only the
 * email/name lists, a search index of users, drop their oldest entries. An entry outlives its
 * session when the session ends by inactivity (its record expires earlier):
 * readers skip entries whose record is gone, updates drop them at expiry.
 *
 * Memcached cost (n = sessions concerned, B = buckets in the window, i.e.
 * max lifetime / AOIDC_DIR_BUCKET, p = pages per bucket, usually 1; each
 * "update" is 1 get + 1 cas or add, plus 1 get + 1 cas per lost race):
 *   login    1 add (record, as before) + 4 to 6 updates (bucket, provider
 *            bucket, user, and sid / email / name when present) + 2 gets
 *            (revocation epochs) = 11 to 15
 *   logout   1 get + 1 delete (as before) + 3 or 4 updates (bucket,
 *            provider bucket, user, sid) = 8 to 10
 *   request  0: the hot path is unchanged (1 get, none from the session
 *            cache); once per touch interval 2 gets (revocation epochs)
 *            before the cas of the last-seen time
 *   listing  all / provider: B * p gets of lists + 1 get per session shown;
 *            user / sid: 1 get + n gets; email / name: 1 get + per user
 *            (1 + its sessions) gets. (Loops of single gets for now: a
 *            multi-get in the store vtable would make each a round trip.)
 *   revoke   per session: 1 get + 1 delete + 3 or 4 updates; by user / sid
 *            add the listing cost; by provider B * p gets first; then one
 *            update of the revocation feed per call (aoidc_revfeed.h), so
 *            that the session caches of every node drop what was revoked
 *   back-channel logout  1 add (jti) + listing + revocation of the matches
 *   node snapshot  1 set + 1 update of aoidc:n:index, at start-up, at each
 *            graceful restart and after each discovery or JWKS fetch. */
#ifndef AOIDC_DIRECTORY_H
#define AOIDC_DIRECTORY_H

#include "aoidc_crypto.h"
#include "aoidc_session.h"
#include "aoidc_store.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define AOIDC_DIR_BUCKET 300        /* seconds per time bucket */
#define AOIDC_DIR_LIST_MAX 1000     /* entries per list key (page) */
#define AOIDC_DIR_LIST_BYTES 60000  /* encoded bytes per list key, under AOIDC_STORE_VALUE_MAX */
#define AOIDC_DIR_BUCKET_PAGES 16   /* pages of one bucket: 16000 logins per 5 minutes */
#define AOIDC_DIR_ID_MAX 512        /* bytes of an entry id ("provider\tsub") */
#define AOIDC_DIR_CAS_RETRIES 8
#define AOIDC_DIR_WINDOW_MAX (30 * 86400) /* longest window a listing walks */
#define AOIDC_HANDLE_LEN 43
#define AOIDC_DIR_EPOCH_TTL (30 * 86400) /* >= the longest session lifetime; memcached's TTL limit */

typedef struct {
    const char *id;     /* handle, or "provider\tsub" in the email/name lists */
    apr_int64_t expires;
} aoidc_dir_entry_t;

/* The handle of a store key ("aoidc:s:<handle>" -> "<handle>"); NULL when
 * store_key is not a session key. Points into store_key. */
const char *aoidc_dir_handle(const char *store_key);
/* The store key of a handle (from p); NULL when the handle is malformed
 * (not 43 base64url characters). Safe on console input. */
const char *aoidc_dir_store_key(apr_pool_t *p, const char *handle);

/* Record a new session in every list (bucket, provider bucket, user, sid,
 * email, name; email and name come from the session's claims), then check
 * the revocation epochs of its user and provider (a revocation that raced
 * the login). Strict: the index must be complete for revocation to find
 * every session, so when any list cannot be written the entries already
 * written are removed again and an error is returned; the caller must then
 * delete the session record and refuse the login (503). Returns
 * APR_SUCCESS; APR_EGENERAL store down or error; APR_EAGAIN too many lost
 * races; APR_ENOSPC every page of the current bucket is full
 * (AOIDC_DIR_BUCKET_PAGES x AOIDC_DIR_LIST_MAX logins in AOIDC_DIR_BUCKET
 * seconds); APR_EACCES the user or provider was revoked at or after the
 * session's creation time (delete it and refuse the login); APR_EINVAL
 * malformed handle or session. A user (or provider session id) that
 * already has AOIDC_DIR_LIST_MAX live sessions keeps at most that many:
 * the oldest are revoked (their records deleted) to make room. */
apr_status_t aoidc_dir_add(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                           const aoidc_session_t *s);

/* Remove a session from the lists (logout, revocation): the bucket and
 * provider-bucket page that hold it, the user and the sid list. Same
 * returns as aoidc_dir_add; a list that does not hold the handle is fine. */
apr_status_t aoidc_dir_remove(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                              const aoidc_session_t *s);

/* Read one list key; missing -> empty array. Expired entries (expires <=
 * now) are left out. entries: aoidc_dir_entry_t, from p. A list that does
 * not decrypt (another key) reads as empty and returns APR_EINVAL. Store
 * failures return APR_EGENERAL. */
apr_status_t aoidc_dir_read_list(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                 apr_int64_t now, apr_array_header_t **entries);

/* Read the paged lists bases[0..n) (bucket lists: pages 0, 1, ... until the
 * first missing one) with one multi-get per page round, instead of one get
 * per page. pages[i * AOIDC_DIR_BUCKET_PAGES + k] is set to the live entries
 * of page k of bases[i] (in list order; an empty array when the page exists
 * but does not decrypt) or NULL when there is no such page. Returns
 * APR_EGENERAL when the store failed on a page (the pages read stay set, a
 * page that failed is NULL and ends its list), else APR_SUCCESS. */
apr_status_t aoidc_dir_read_paged(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *const *bases,
                                  int n, apr_int64_t now, apr_array_header_t **pages);

/* Update one list with get + CAS: drop expired entries and the entry whose
 * id is remove_id (if not NULL), then add or refresh *add (if not NULL; an
 * entry with the same id keeps the later expiry), then bound the list.
 * When full is not NULL the list is a page: adding to a page that already
 * holds AOIDC_DIR_LIST_MAX live entries (or would exceed the byte bound)
 * does not evict anything, *full is set to 1 and APR_ENOSPC returned. Else
 * the oldest entries are dropped to make room. *found (if not NULL) says
 * whether remove_id was in the list. */
apr_status_t aoidc_dir_list_update(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                   const aoidc_dir_entry_t *add, const char *remove_id, apr_int64_t now, int *full,
                                   int *found);

/* List keys. bucket = floor(created / AOIDC_DIR_BUCKET); page 0 is the
 * bare key, page n > 0 has ".<n>" appended (aoidc_dir_page_key). */
const char *aoidc_dir_bucket_key(apr_pool_t *p, apr_int64_t bucket);
const char *aoidc_dir_provider_bucket_key(apr_pool_t *p, const char *provider, apr_int64_t bucket);
const char *aoidc_dir_page_key(apr_pool_t *p, const char *key, int page);
const char *aoidc_dir_user_key(apr_pool_t *p, const char *provider, const char *sub);
const char *aoidc_dir_sid_key(apr_pool_t *p, const char *provider, const char *sid);
const char *aoidc_dir_email_key(apr_pool_t *p, const char *email);
const char *aoidc_dir_name_key(apr_pool_t *p, const char *name);
const char *aoidc_dir_jti_key(apr_pool_t *p, const char *issuer, const char *jti);

/* Load the session records of handles (entries from a list), skipping the
 * ones that are gone or do not decrypt. sessions: aoidc_session_t, handles:
 * const char * in the same order. Returns APR_EGENERAL when the store
 * failed (what was loaded before stays in the arrays). */
apr_status_t aoidc_dir_load(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                            const apr_array_header_t *entries, apr_array_header_t **handles,
                            apr_array_header_t **sessions);

/* What a listing shows of a session: never a token or the cookie. */
typedef struct {
    const char *handle;
    const char *provider, *sub, *user, *sid, *email, *name; /* "" when unknown */
    const char *node, *client_ip, *user_agent;               /* user_agent: as sent (raw) */
    apr_int64_t created, last_seen, expires;
} aoidc_dir_info_t;

/* Fill *out from a session (strings point into s or come from p). */
void aoidc_dir_info_from(apr_pool_t *p, const char *handle, const aoidc_session_t *s, aoidc_dir_info_t *out);

typedef enum {
    AOIDC_DIR_Q_ALL = 0,  /* every session, newest bucket first */
    AOIDC_DIR_Q_PROVIDER, /* provider */
    AOIDC_DIR_Q_USER,     /* provider + value = sub */
    AOIDC_DIR_Q_SID,      /* provider + value = sid */
    AOIDC_DIR_Q_EMAIL,    /* value = email (case-insensitive); provider optional filter */
    AOIDC_DIR_Q_NAME      /* value = name (case-insensitive); provider optional filter */
} aoidc_dir_query_kind_t;

typedef struct {
    aoidc_dir_query_kind_t kind;
    const char *provider;
    const char *value;
    apr_int64_t now;      /* seconds since the epoch */
    apr_int64_t window;   /* ALL / PROVIDER: how far back sessions may have been
                             created: the longest AuthOIDCSessionMaxLifetime of
                             the nodes (capped at AOIDC_DIR_WINDOW_MAX) */
    int offset;           /* cursor: directory entries already walked (0 at first) */
    int limit;            /* at most this many sessions (0: no limit) */
} aoidc_dir_query_t;

/* Run a query. *infos (aoidc_dir_info_t) holds the live sessions found,
 * *next_offset the cursor for the next page, or -1 when the walk is
 * complete. Returns APR_EINVAL for a malformed query, APR_EGENERAL when the
 * store failed. */
apr_status_t aoidc_dir_query(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                             const aoidc_dir_query_t *q, apr_array_header_t **infos, int *next_offset);

/* Revoke: delete the records (and their directory entries), then publish
 * the handles on the revocation feed (the session caches of every node
 * drop them within their bound). *count receives how many records existed
 * and were deleted. Malformed handles are skipped. Returns APR_EGENERAL when
 * the store failed (the handles before stay revoked, and are published). */
apr_status_t aoidc_dir_revoke_handles(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                      const apr_array_header_t *handles, int *count);

/* Revoke every session a query finds (limit and offset ignored). For
 * AOIDC_DIR_Q_SID, a non-NULL sub also requires the session's sub to match
 * (a back-channel logout token with both). */
apr_status_t aoidc_dir_revoke_query(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                    const aoidc_dir_query_t *q, const char *sub, int *count);

/* Revocation epochs: "every session of this user (provider, sub) / of this
 * provider (sub NULL) created at or before this time is revoked". Keys
 * aoidc:r:u:<h(provider,sub)> and aoidc:r:p:<h(provider,"")>, value decimal
 * seconds, never decreasing (get + CAS), expiring after
 * AOIDC_DIR_EPOCH_TTL, when every session it covers has ended. They make
 * revocation by user or provider independent of the index: a session the
 * lists lost is refused the next time it is touched. Returns APR_SUCCESS
 * (also when a later epoch is already there), APR_EGENERAL store failure,
 * APR_EAGAIN too many lost races, APR_EINVAL bad arguments. */
apr_status_t aoidc_dir_revoke_epoch_set(aoidc_store_t *st, apr_pool_t *p, const char *provider, const char *sub,
                                        apr_int64_t now);
const char *aoidc_dir_epoch_user_key(apr_pool_t *p, const char *provider, const char *sub);
const char *aoidc_dir_epoch_provider_key(apr_pool_t *p, const char *provider);

typedef enum {
    AOIDC_DIR_LIVE = 0, /* no epoch covers the session */
    AOIDC_DIR_REVOKED,  /* created <= the epoch of its user or provider (or an epoch is unreadable) */
    AOIDC_DIR_UNKNOWN   /* the store did not answer */
} aoidc_dir_verdict_t;

/* Is the session revoked by an epoch? Two gets (provider, user). Called
 * when a session is touched (the last-seen write-back, which writes
 * anyway) and at the end of aoidc_dir_add. */
aoidc_dir_verdict_t aoidc_dir_session_revoked(aoidc_store_t *st, apr_pool_t *p, const aoidc_session_t *s);

/* Shorthands the console and the back-channel logout call. revoke_user and
 * revoke_provider first raise the epoch (aoidc_dir_revoke_epoch_set), then
 * delete the sessions the index finds; they return the first failure. */
apr_status_t aoidc_dir_revoke_user(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *provider,
                                   const char *sub, apr_int64_t now, int *count);
apr_status_t aoidc_dir_revoke_sid(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *provider,
                                  const char *sid, const char *sub, apr_int64_t now, int *count);
apr_status_t aoidc_dir_revoke_provider(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                       const char *provider, apr_int64_t now, apr_int64_t window, int *count);

#endif
