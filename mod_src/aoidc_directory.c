/* The session directory (see aoidc_directory.h).
 *
 * A list value is sealed with the session key, AAD = its store key:
 *   u8 version(1) | u32 count | count x (i64 expires | u16 idlen | id bytes)
 * Entries are kept in insertion order, so "the oldest go first" is a drop
 * from the front. */
#include "aoidc_directory.h"
#include "aoidc_revfeed.h"
#include "aoidc_util.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <string.h>

#define LIST_VERSION 1
#define LIST_HEADER 5
#define ENTRY_OVERHEAD 10
#define LIST_TTL_SLACK 60
#define TTL_MAX (30 * 86400)

/* --- keys ---------------------------------------------------------------- */

static const char *hash2(apr_pool_t *p, const char *prefix, const char *a, const char *b)
{
    unsigned char digest[32];
    static const char tag[] = "aoidc dir v1";
    apr_size_t la = strlen(a), lb = strlen(b);
    apr_size_t n = sizeof(tag) + la + 1 + lb;
    char *buf = apr_palloc(p, n);
    memcpy(buf, tag, sizeof(tag)); /* with its NUL */
    memcpy(buf + sizeof(tag), a, la + 1);
    memcpy(buf + sizeof(tag) + la + 1, b, lb);
    aoidc_sha256(buf, n, digest);
    return apr_pstrcat(p, prefix, aoidc_b64url_encode(p, digest, sizeof(digest)), NULL);
}

static const char *lower(apr_pool_t *p, const char *s)
{
    char *l = apr_pstrdup(p, s);
    for (char *c = l; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return l;
}

const char *aoidc_dir_handle(const char *store_key)
{
    apr_size_t n = sizeof(AOIDC_SESSION_KEY_PREFIX) - 1;
    if (!store_key || strncmp(store_key, AOIDC_SESSION_KEY_PREFIX, n) != 0) {
        return NULL;
    }
    return store_key + n;
}

const char *aoidc_dir_store_key(apr_pool_t *p, const char *handle)
{
    /* a handle has the shape of a session id: 43 base64url characters */
    if (!aoidc_session_id_ok(handle)) {
        return NULL;
    }
    return apr_pstrcat(p, AOIDC_SESSION_KEY_PREFIX, handle, NULL);
}

const char *aoidc_dir_bucket_key(apr_pool_t *p, apr_int64_t bucket)
{
    return apr_psprintf(p, "aoidc:d:b:%" APR_INT64_T_FMT, bucket);
}

const char *aoidc_dir_provider_bucket_key(apr_pool_t *p, const char *provider, apr_int64_t bucket)
{
    return apr_psprintf(p, "aoidc:d:p:%s:%" APR_INT64_T_FMT, provider, bucket);
}

const char *aoidc_dir_page_key(apr_pool_t *p, const char *key, int page)
{
    return page == 0 ? key : apr_psprintf(p, "%s.%d", key, page);
}

const char *aoidc_dir_user_key(apr_pool_t *p, const char *provider, const char *sub)
{
    return hash2(p, "aoidc:d:u:", provider, sub);
}

const char *aoidc_dir_sid_key(apr_pool_t *p, const char *provider, const char *sid)
{
    return hash2(p, "aoidc:d:sid:", provider, sid);
}

const char *aoidc_dir_email_key(apr_pool_t *p, const char *email)
{
    return hash2(p, "aoidc:d:m:", "", lower(p, email));
}

const char *aoidc_dir_name_key(apr_pool_t *p, const char *name)
{
    return hash2(p, "aoidc:d:n:", "", lower(p, name));
}

const char *aoidc_dir_jti_key(apr_pool_t *p, const char *issuer, const char *jti)
{
    return hash2(p, "aoidc:j:", issuer, jti);
}

/* --- list codec ---------------------------------------------------------- */

static apr_size_t entry_size(const aoidc_dir_entry_t *e)
{
    return ENTRY_OVERHEAD + strlen(e->id);
}

static apr_status_t list_encode(apr_pool_t *p, const aoidc_keys_t *keys, const char *key,
                                const apr_array_header_t *entries, unsigned char **out, apr_size_t *outlen)
{
    apr_size_t cap = LIST_HEADER;
    for (int i = 0; i < entries->nelts; i++) {
        const aoidc_dir_entry_t *e = &APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t);
        /* the codec writes an id length in 16 bits; the decoder refuses
         * more than AOIDC_DIR_ID_MAX, so never write what cannot be read */
        if (strlen(e->id) > AOIDC_DIR_ID_MAX) {
            return APR_EINVAL;
        }
        cap += entry_size(e);
    }
    unsigned char *buf = apr_palloc(p, cap), *w = buf;
    uint32_t n = (uint32_t)entries->nelts;
    *w++ = LIST_VERSION;
    for (int s = 24; s >= 0; s -= 8) {
        *w++ = (unsigned char)(n >> s);
    }
    for (int i = 0; i < entries->nelts; i++) {
        const aoidc_dir_entry_t *e = &APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t);
        uint64_t x = (uint64_t)e->expires;
        apr_size_t idlen = strlen(e->id);
        for (int s = 56; s >= 0; s -= 8) {
            *w++ = (unsigned char)(x >> s);
        }
        *w++ = (unsigned char)(idlen >> 8);
        *w++ = (unsigned char)(idlen & 0xff);
        memcpy(w, e->id, idlen);
        w += idlen;
    }
    return aoidc_keys_seal(p, keys, AOIDC_KEY_SESSION, key, strlen(key), buf, cap, out, outlen);
}

static apr_status_t list_decode(apr_pool_t *p, const aoidc_keys_t *keys, const char *key, const char *val,
                                apr_size_t len, apr_array_header_t *entries)
{
    unsigned char *pt;
    apr_size_t left;
    apr_status_t rv = aoidc_keys_open(p, keys, AOIDC_KEY_SESSION, key, strlen(key), (const unsigned char *)val, len,
                                      &pt, &left, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (left < LIST_HEADER || pt[0] != LIST_VERSION) {
        return APR_EINVAL;
    }
    uint32_t n = ((uint32_t)pt[1] << 24) | ((uint32_t)pt[2] << 16) | ((uint32_t)pt[3] << 8) | pt[4];
    const unsigned char *r = pt + LIST_HEADER;
    left -= LIST_HEADER;
    if (n > left / ENTRY_OVERHEAD) {
        return APR_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (left < ENTRY_OVERHEAD) {
            return APR_EINVAL;
        }
        uint64_t x = 0;
        for (int k = 0; k < 8; k++) {
            x = (x << 8) | r[k];
        }
        apr_size_t idlen = ((apr_size_t)r[8] << 8) | r[9];
        r += ENTRY_OVERHEAD;
        left -= ENTRY_OVERHEAD;
        if (idlen == 0 || idlen > left || idlen > AOIDC_DIR_ID_MAX || memchr(r, '\0', idlen)) {
            return APR_EINVAL;
        }
        aoidc_dir_entry_t *e = apr_array_push(entries);
        e->expires = (apr_int64_t)x;
        e->id = apr_pstrmemdup(p, (const char *)r, idlen);
        r += idlen;
        left -= idlen;
    }
    return left == 0 ? APR_SUCCESS : APR_EINVAL;
}

/* --- list update: get + CAS ---------------------------------------------- */

static long list_ttl(const apr_array_header_t *entries, apr_int64_t now)
{
    apr_int64_t newest = now;
    for (int i = 0; i < entries->nelts; i++) {
        apr_int64_t e = APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t).expires;
        newest = e > newest ? e : newest;
    }
    apr_int64_t ttl = newest - now + LIST_TTL_SLACK;
    return (long)(ttl > TTL_MAX ? TTL_MAX : ttl);
}

/* A short random pause between lost races, so that writers that collided
 * do not collide again in lock step. */
/* revoke_evicted: the list holds session handles that must stay complete
 * (a user's or a provider session's sessions): the entries the bound drops
 * are revoked (their records deleted) before the list is written, so a
 * session never outlives its index entry. A delete that fails fails the
 * update and keeps the entries. */
static apr_status_t list_update_ex(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                   const aoidc_dir_entry_t *add, const char *remove_id, apr_int64_t now,
                                   int *full, int *found, int *existed, int revoke_evicted)
{
    if (add && (!add->id || !*add->id || strlen(add->id) > AOIDC_DIR_ID_MAX)) {
        return APR_EINVAL;
    }
    for (int attempt = 0; attempt < AOIDC_DIR_CAS_RETRIES; attempt++) {
        char *val = NULL;
        apr_size_t len = 0;
        uint64_t cas = 0;
        apr_array_header_t *old = apr_array_make(p, 16, sizeof(aoidc_dir_entry_t));
        aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, &cas);
        int exists = rc == AOIDC_STORE_OK;
        if (rc != AOIDC_STORE_OK && rc != AOIDC_STORE_MISSING) {
            return APR_EGENERAL;
        }
        if (existed) {
            *existed = exists;
        }
        int changed = 0;
        if (exists && list_decode(p, keys, key, val, len, old) != APR_SUCCESS) {
            /* not ours to read (another key) or damaged: start afresh */
            apr_array_clear(old);
            changed = 1;
        }
        apr_array_header_t *cur = apr_array_make(p, old->nelts + 1, sizeof(aoidc_dir_entry_t));
        apr_size_t bytes = LIST_HEADER;
        int have_add = 0;
        if (found) {
            *found = 0;
        }
        for (int i = 0; i < old->nelts; i++) {
            aoidc_dir_entry_t *e = &APR_ARRAY_IDX(old, i, aoidc_dir_entry_t);
            if (e->expires <= now) {
                changed = 1;
                continue;
            }
            if (remove_id && strcmp(e->id, remove_id) == 0) {
                changed = 1;
                if (found) {
                    *found = 1;
                }
                continue;
            }
            if (add && strcmp(e->id, add->id) == 0) {
                have_add = 1;
                if (add->expires > e->expires) {
                    e->expires = add->expires;
                    changed = 1;
                }
            }
            APR_ARRAY_PUSH(cur, aoidc_dir_entry_t) = *e;
            bytes += entry_size(e);
        }
        if (add && !have_add) {
            if (full && (cur->nelts >= AOIDC_DIR_LIST_MAX || bytes + entry_size(add) > AOIDC_DIR_LIST_BYTES)) {
                *full = 1;
                return APR_ENOSPC;
            }
            APR_ARRAY_PUSH(cur, aoidc_dir_entry_t) = *add;
            bytes += entry_size(add);
            changed = 1;
        }
        /* the bound: the oldest go first */
        int drop = 0;
        while (cur->nelts - drop > AOIDC_DIR_LIST_MAX || bytes > AOIDC_DIR_LIST_BYTES) {
            bytes -= entry_size(&APR_ARRAY_IDX(cur, drop, aoidc_dir_entry_t));
            drop++;
        }
        for (int i = 0; revoke_evicted && i < drop; i++) {
            const char *skey = aoidc_dir_store_key(p, APR_ARRAY_IDX(cur, i, aoidc_dir_entry_t).id);
            aoidc_store_rc_t drc = skey ? st->del(st, skey) : AOIDC_STORE_MISSING;
            if (drc != AOIDC_STORE_OK && drc != AOIDC_STORE_MISSING) {
                return APR_EGENERAL;
            }
        }
        if (revoke_evicted && drop > 0) {
            /* and the session caches of every node drop them too */
            const char **ids = apr_palloc(p, sizeof(*ids) * (apr_size_t)drop);
            int nids = 0;
            for (int i = 0; i < drop; i++) {
                const char *h = APR_ARRAY_IDX(cur, i, aoidc_dir_entry_t).id;
                if (aoidc_dir_store_key(p, h)) {
                    ids[nids++] = h;
                }
            }
            if (aoidc_revfeed_publish(st, p, ids, nids, now) != APR_SUCCESS) {
                return APR_EGENERAL;
            }
        }
        if (drop) {
            memmove(cur->elts, cur->elts + (apr_size_t)drop * sizeof(aoidc_dir_entry_t),
                    (apr_size_t)(cur->nelts - drop) * sizeof(aoidc_dir_entry_t));
            cur->nelts -= drop;
        }
        if (!changed || (!exists && cur->nelts == 0)) {
            return APR_SUCCESS;
        }
        unsigned char *out;
        apr_size_t outlen;
        apr_status_t rv = list_encode(p, keys, key, cur, &out, &outlen);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        rv = aoidc_store_write_back(st, key, out, outlen, list_ttl(cur, now), exists, cas);
        if (rv != APR_EAGAIN) {
            return rv;
        }
        /* another writer won (or the key expired under us): read again */
        aoidc_store_backoff(attempt);
    }
    return APR_EAGAIN;
}

apr_status_t aoidc_dir_list_update(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                   const aoidc_dir_entry_t *add, const char *remove_id, apr_int64_t now, int *full,
                                   int *found)
{
    if (full) {
        *full = 0;
    }
    return list_update_ex(st, keys, p, key, add, remove_id, now, full, found, NULL, 0);
}

apr_status_t aoidc_dir_read_list(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *key,
                                 apr_int64_t now, apr_array_header_t **entries)
{
    char *val;
    apr_size_t len;
    apr_array_header_t *all = apr_array_make(p, 16, sizeof(aoidc_dir_entry_t));
    *entries = apr_array_make(p, 16, sizeof(aoidc_dir_entry_t));
    aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return APR_SUCCESS;
    }
    if (rc != AOIDC_STORE_OK) {
        return APR_EGENERAL;
    }
    if (list_decode(p, keys, key, val, len, all) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    for (int i = 0; i < all->nelts; i++) {
        aoidc_dir_entry_t *e = &APR_ARRAY_IDX(all, i, aoidc_dir_entry_t);
        if (e->expires > now) {
            APR_ARRAY_PUSH(*entries, aoidc_dir_entry_t) = *e;
        }
    }
    return APR_SUCCESS;
}

apr_status_t aoidc_dir_read_paged(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *const *bases,
                                  int n, apr_int64_t now, apr_array_header_t **pages)
{
    apr_status_t rv = APR_SUCCESS;
    aoidc_store_item_t *items = apr_pcalloc(p, sizeof(*items) * (apr_size_t)(n + 1));
    int *which = apr_pcalloc(p, sizeof(*which) * (apr_size_t)(n + 1));
    memset(pages, 0, sizeof(*pages) * (apr_size_t)n * AOIDC_DIR_BUCKET_PAGES);
    /* round k reads page k of every list whose page k-1 exists */
    for (int page = 0; page < AOIDC_DIR_BUCKET_PAGES; page++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (page == 0 || pages[i * AOIDC_DIR_BUCKET_PAGES + page - 1]) {
                memset(&items[m], 0, sizeof(items[m]));
                items[m].key = aoidc_dir_page_key(p, bases[i], page);
                which[m++] = i;
            }
        }
        if (m == 0) {
            break;
        }
        aoidc_store_mget(st, p, items, m);
        for (int k = 0; k < m; k++) {
            if (items[k].rc == AOIDC_STORE_MISSING) {
                continue;
            }
            if (items[k].rc != AOIDC_STORE_OK) {
                rv = APR_EGENERAL;
                continue;
            }
            apr_array_header_t *all = apr_array_make(p, 16, sizeof(aoidc_dir_entry_t));
            apr_array_header_t *live = apr_array_make(p, 16, sizeof(aoidc_dir_entry_t));
            if (list_decode(p, keys, items[k].key, items[k].val, items[k].len, all) == APR_SUCCESS) {
                for (int j = 0; j < all->nelts; j++) {
                    aoidc_dir_entry_t *e = &APR_ARRAY_IDX(all, j, aoidc_dir_entry_t);
                    if (e->expires > now) {
                        APR_ARRAY_PUSH(live, aoidc_dir_entry_t) = *e;
                    }
                }
            }
            pages[which[k] * AOIDC_DIR_BUCKET_PAGES + page] = live;
        }
    }
    return rv;
}

static apr_status_t page_add(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *base,
                             const aoidc_dir_entry_t *e, apr_int64_t now)
{
    for (int page = 0; page < AOIDC_DIR_BUCKET_PAGES; page++) {
        int full = 0;
        apr_status_t rv = list_update_ex(st, keys, p, aoidc_dir_page_key(p, base, page), e, NULL, now, &full, NULL,
                                         NULL, 0);
        if (rv != APR_ENOSPC) {
            return rv;
        }
    }
    return APR_ENOSPC;
}

static apr_status_t page_remove(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *base,
                                const char *id, apr_int64_t now)
{
    for (int page = 0; page < AOIDC_DIR_BUCKET_PAGES; page++) {
        int found = 0, existed = 0;
        apr_status_t rv = list_update_ex(st, keys, p, aoidc_dir_page_key(p, base, page), NULL, id, now, NULL,
                                         &found, &existed, 0);
        if (rv != APR_SUCCESS || found || !existed) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* --- add / remove -------------------------------------------------------- */

static const char *claim(const aoidc_session_t *s, const char *name)
{
    for (int i = 0; i < s->nclaims; i++) {
        if (strcmp(s->claims[i].name, name) == 0 && s->claims[i].value && *s->claims[i].value) {
            return s->claims[i].value;
        }
    }
    return NULL;
}

static apr_int64_t now_sec(void)
{
    return apr_time_sec(apr_time_now());
}

/* --- revocation epochs ------------------------------------------------- */

const char *aoidc_dir_epoch_user_key(apr_pool_t *p, const char *provider, const char *sub)
{
    return hash2(p, "aoidc:r:u:", provider, sub);
}

const char *aoidc_dir_epoch_provider_key(apr_pool_t *p, const char *provider)
{
    return hash2(p, "aoidc:r:p:", provider, "");
}

typedef struct {
    apr_int64_t now;
    const char *val;
} epoch_set_t;

/* never decreasing: a later epoch already there stays */
static apr_status_t epoch_raise(void *baton, apr_pool_t *p, const char *old, apr_size_t oldlen, const void **val,
                                apr_size_t *len)
{
    epoch_set_t *e = baton;
    (void)p;
    if (old && aoidc_decimal(old, oldlen) >= e->now) {
        return APR_EEXIST;
    }
    *val = e->val;
    *len = strlen(e->val);
    return APR_SUCCESS;
}

apr_status_t aoidc_dir_revoke_epoch_set(aoidc_store_t *st, apr_pool_t *p, const char *provider, const char *sub,
                                        apr_int64_t now)
{
    if (!provider || !*provider || (sub && !*sub) || now <= 0) {
        return APR_EINVAL;
    }
    const char *key = sub ? aoidc_dir_epoch_user_key(p, provider, sub) : aoidc_dir_epoch_provider_key(p, provider);
    epoch_set_t e = {now, apr_psprintf(p, "%" APR_INT64_T_FMT, now)};
    apr_status_t rv = aoidc_store_update(st, p, key, AOIDC_DIR_EPOCH_TTL, AOIDC_DIR_CAS_RETRIES, epoch_raise, &e);
    if (rv == APR_SUCCESS) {
        /* the caches cannot tell a user's sessions: they drop everything */
        static const char *const all[] = {AOIDC_REVFEED_ALL};
        return aoidc_revfeed_publish(st, p, all, 1, now);
    }
    return rv == APR_EEXIST ? APR_SUCCESS : rv;
}

/* Is the session older than (or as old as) the epoch at key? */
static aoidc_dir_verdict_t epoch_check(aoidc_store_t *st, apr_pool_t *p, const char *key, apr_int64_t created)
{
    char *val;
    apr_size_t len;
    aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return AOIDC_DIR_LIVE;
    }
    if (rc != AOIDC_STORE_OK) {
        return AOIDC_DIR_UNKNOWN;
    }
    apr_int64_t epoch = aoidc_decimal(val, len);
    /* a value we cannot read was not written by us: fail closed */
    return epoch < 0 || created <= epoch ? AOIDC_DIR_REVOKED : AOIDC_DIR_LIVE;
}

aoidc_dir_verdict_t aoidc_dir_session_revoked(aoidc_store_t *st, apr_pool_t *p, const aoidc_session_t *s)
{
    if (!s->provider || !*s->provider || !s->sub || !*s->sub) {
        return AOIDC_DIR_REVOKED;
    }
    aoidc_dir_verdict_t v = epoch_check(st, p, aoidc_dir_epoch_provider_key(p, s->provider), s->created);
    if (v != AOIDC_DIR_LIVE) {
        return v;
    }
    return epoch_check(st, p, aoidc_dir_epoch_user_key(p, s->provider, s->sub), s->created);
}

static void keep_first(apr_status_t *first, apr_status_t rv)
{
    if (*first == APR_SUCCESS && rv != APR_SUCCESS) {
        *first = rv;
    }
}

/* One handle list a session was added to, for the undo of a failed add. */
typedef struct {
    const char *key;
    int paged;
} added_t;

static void undo_adds(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const added_t *done, int n,
                      const char *handle, apr_int64_t now)
{
    /* best effort: an entry left behind points to a record the caller
     * deletes, and readers skip entries whose record is gone */
    for (int i = n - 1; i >= 0; i--) {
        if (done[i].paged) {
            (void)page_remove(st, keys, p, done[i].key, handle, now);
        }
        else {
            (void)list_update_ex(st, keys, p, done[i].key, NULL, handle, now, NULL, NULL, NULL, 0);
        }
    }
}

apr_status_t aoidc_dir_add(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                           const aoidc_session_t *s)
{
    if (!aoidc_session_id_ok(handle) || !s->provider || !*s->provider || !s->sub || !*s->sub) {
        return APR_EINVAL;
    }
    apr_int64_t now = now_sec(), bucket = s->created / AOIDC_DIR_BUCKET;
    aoidc_dir_entry_t e = {handle, s->expires};
    added_t done[4];
    int n = 0;
    apr_status_t rv;
    /* the handle lists first: they are what revocation walks */
    done[n].key = aoidc_dir_bucket_key(p, bucket);
    done[n].paged = 1;
    if ((rv = page_add(st, keys, p, done[n].key, &e, now)) != APR_SUCCESS) {
        goto fail;
    }
    n++;
    done[n].key = aoidc_dir_provider_bucket_key(p, s->provider, bucket);
    done[n].paged = 1;
    if ((rv = page_add(st, keys, p, done[n].key, &e, now)) != APR_SUCCESS) {
        goto fail;
    }
    n++;
    done[n].key = aoidc_dir_user_key(p, s->provider, s->sub);
    done[n].paged = 0;
    if ((rv = list_update_ex(st, keys, p, done[n].key, &e, NULL, now, NULL, NULL, NULL, 1)) != APR_SUCCESS) {
        goto fail;
    }
    n++;
    if (s->sid && *s->sid) {
        done[n].key = aoidc_dir_sid_key(p, s->provider, s->sid);
        done[n].paged = 0;
        if ((rv = list_update_ex(st, keys, p, done[n].key, &e, NULL, now, NULL, NULL, NULL, 1)) != APR_SUCCESS) {
            goto fail;
        }
        n++;
    }
    /* the user indexes (search only: not undone, since the user may have
     * other sessions; an entry of a user without sessions is harmless) */
    const char *uid = apr_pstrcat(p, s->provider, "\t", s->sub, NULL);
    aoidc_dir_entry_t ue = {uid, s->expires};
    const char *email = claim(s, "email"), *name = claim(s, "name");
    if (strlen(uid) <= AOIDC_DIR_ID_MAX) {
        if (email && (rv = aoidc_dir_list_update(st, keys, p, aoidc_dir_email_key(p, email), &ue, NULL, now, NULL,
                                                 NULL)) != APR_SUCCESS) {
            goto fail;
        }
        if (name && (rv = aoidc_dir_list_update(st, keys, p, aoidc_dir_name_key(p, name), &ue, NULL, now, NULL,
                                                NULL)) != APR_SUCCESS) {
            goto fail;
        }
    }
    /* a revocation of this user or provider that raced the login: it wrote
     * its epoch before walking the lists, we read the epochs after writing
     * them, so either its walk saw our entries or we see its epoch */
    switch (aoidc_dir_session_revoked(st, p, s)) {
    case AOIDC_DIR_LIVE:
        return APR_SUCCESS;
    case AOIDC_DIR_REVOKED:
        rv = APR_EACCES;
        break;
    default:
        rv = APR_EGENERAL;
        break;
    }
fail:
    undo_adds(st, keys, p, done, n, handle, now);
    return rv;
}

apr_status_t aoidc_dir_remove(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                              const aoidc_session_t *s)
{
    if (!aoidc_session_id_ok(handle) || !s->provider || !s->sub) {
        return APR_EINVAL;
    }
    apr_int64_t now = now_sec(), bucket = s->created / AOIDC_DIR_BUCKET;
    apr_status_t first = APR_SUCCESS;
    keep_first(&first, page_remove(st, keys, p, aoidc_dir_bucket_key(p, bucket), handle, now));
    keep_first(&first, page_remove(st, keys, p, aoidc_dir_provider_bucket_key(p, s->provider, bucket), handle, now));
    keep_first(&first, aoidc_dir_list_update(st, keys, p, aoidc_dir_user_key(p, s->provider, s->sub), NULL, handle,
                                             now, NULL, NULL));
    if (s->sid && *s->sid) {
        keep_first(&first, aoidc_dir_list_update(st, keys, p, aoidc_dir_sid_key(p, s->provider, s->sid), NULL, handle,
                                                 now, NULL, NULL));
    }
    return first;
}

/* --- reading ------------------------------------------------------------- */

/* Get and decode one session record: 1 found, 0 gone or unreadable, -1 store failure. */
static int load_one(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *handle,
                    aoidc_session_t *s)
{
    const char *key = aoidc_dir_store_key(p, handle);
    char *val;
    apr_size_t len;
    if (!key) {
        return 0;
    }
    aoidc_store_rc_t rc = st->get(st, p, key, &val, &len, NULL);
    if (rc == AOIDC_STORE_MISSING) {
        return 0;
    }
    if (rc != AOIDC_STORE_OK) {
        return -1;
    }
    return aoidc_session_decode(p, keys, key, (const unsigned char *)val, len, s) == APR_SUCCESS;
}

apr_status_t aoidc_dir_load(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                            const apr_array_header_t *entries, apr_array_header_t **handles,
                            apr_array_header_t **sessions)
{
    *handles = apr_array_make(p, entries->nelts + 1, sizeof(const char *));
    *sessions = apr_array_make(p, entries->nelts + 1, sizeof(aoidc_session_t));
    /* one multi-get for the page: a round trip per server, not per session */
    aoidc_store_item_t *items = apr_pcalloc(p, sizeof(*items) * (apr_size_t)(entries->nelts + 1));
    const char **hs = apr_pcalloc(p, sizeof(*hs) * (apr_size_t)(entries->nelts + 1));
    int n = 0;
    for (int i = 0; i < entries->nelts; i++) {
        const char *h = APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t).id;
        const char *key = h ? aoidc_dir_store_key(p, h) : NULL;
        if (key) {
            hs[n] = h;
            items[n++].key = key;
        }
    }
    aoidc_store_mget(st, p, items, n);
    for (int i = 0; i < n; i++) {
        aoidc_session_t s;
        if (items[i].rc == AOIDC_STORE_MISSING) {
            continue;
        }
        if (items[i].rc != AOIDC_STORE_OK) {
            return APR_EGENERAL;
        }
        if (aoidc_session_decode(p, keys, items[i].key, (const unsigned char *)items[i].val, items[i].len, &s) ==
            APR_SUCCESS) {
            APR_ARRAY_PUSH(*handles, const char *) = hs[i];
            APR_ARRAY_PUSH(*sessions, aoidc_session_t) = s;
        }
    }
    return APR_SUCCESS;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

void aoidc_dir_info_from(apr_pool_t *p, const char *handle, const aoidc_session_t *s, aoidc_dir_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->handle = handle;
    out->provider = nz(s->provider);
    out->sub = nz(s->sub);
    out->user = nz(s->user);
    out->sid = nz(s->sid);
    out->email = nz(claim(s, "email"));
    out->name = nz(claim(s, "name"));
    out->node = nz(s->node);
    out->client_ip = nz(s->client_ip);
    out->user_agent = nz(s->user_agent);
    out->created = s->created;
    out->last_seen = s->last_seen;
    out->expires = s->expires;
}

static apr_int64_t clamp_window(apr_int64_t w)
{
    return w <= 0 ? AOIDC_DIR_BUCKET : w > AOIDC_DIR_WINDOW_MAX ? AOIDC_DIR_WINDOW_MAX : w;
}

/* The directory entries a query walks, in listing order. */
static apr_status_t query_entries(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                  const aoidc_dir_query_t *q, apr_array_header_t **out)
{
    apr_array_header_t *all = apr_array_make(p, 64, sizeof(aoidc_dir_entry_t));
    apr_status_t rv = APR_SUCCESS;
    *out = all;
    switch (q->kind) {
    case AOIDC_DIR_Q_ALL:
    case AOIDC_DIR_Q_PROVIDER: {
        if (q->kind == AOIDC_DIR_Q_PROVIDER && (!q->provider || !*q->provider)) {
            return APR_EINVAL;
        }
        apr_int64_t last = q->now / AOIDC_DIR_BUCKET, first = (q->now - clamp_window(q->window)) / AOIDC_DIR_BUCKET;
        int nb = (int)(last - first + 1);
        const char **bases = apr_pcalloc(p, sizeof(*bases) * (apr_size_t)(nb + 1));
        apr_array_header_t **pages = apr_pcalloc(p, sizeof(*pages) * (apr_size_t)(nb + 1) * AOIDC_DIR_BUCKET_PAGES);
        for (int i = 0; i < nb; i++) {
            apr_int64_t b = last - i;
            bases[i] = q->kind == AOIDC_DIR_Q_ALL ? aoidc_dir_bucket_key(p, b)
                                                  : aoidc_dir_provider_bucket_key(p, q->provider, b);
        }
        rv = aoidc_dir_read_paged(st, keys, p, bases, nb, q->now, pages);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        for (int i = 0; i < nb; i++) {
            /* newest first: the bucket's pages in reverse */
            for (int k = AOIDC_DIR_BUCKET_PAGES - 1; k >= 0; k--) {
                apr_array_header_t *pg = pages[i * AOIDC_DIR_BUCKET_PAGES + k];
                for (int j = pg ? pg->nelts - 1 : -1; j >= 0; j--) {
                    APR_ARRAY_PUSH(all, aoidc_dir_entry_t) = APR_ARRAY_IDX(pg, j, aoidc_dir_entry_t);
                }
            }
        }
        return rv;
    }
    case AOIDC_DIR_Q_USER:
    case AOIDC_DIR_Q_SID: {
        if (!q->provider || !*q->provider || !q->value || !*q->value) {
            return APR_EINVAL;
        }
        const char *key = q->kind == AOIDC_DIR_Q_USER ? aoidc_dir_user_key(p, q->provider, q->value)
                                                      : aoidc_dir_sid_key(p, q->provider, q->value);
        rv = aoidc_dir_read_list(st, keys, p, key, q->now, out);
        return rv == APR_EINVAL ? APR_SUCCESS : rv;
    }
    case AOIDC_DIR_Q_EMAIL:
    case AOIDC_DIR_Q_NAME: {
        if (!q->value || !*q->value) {
            return APR_EINVAL;
        }
        apr_array_header_t *users;
        const char *key = q->kind == AOIDC_DIR_Q_EMAIL ? aoidc_dir_email_key(p, q->value)
                                                       : aoidc_dir_name_key(p, q->value);
        rv = aoidc_dir_read_list(st, keys, p, key, q->now, &users);
        if (rv != APR_SUCCESS) {
            return rv == APR_EINVAL ? APR_SUCCESS : rv;
        }
        for (int i = 0; i < users->nelts; i++) {
            const char *id = APR_ARRAY_IDX(users, i, aoidc_dir_entry_t).id;
            const char *tab = strchr(id, '\t');
            if (!tab) {
                continue;
            }
            const char *prov = apr_pstrmemdup(p, id, (apr_size_t)(tab - id));
            if (q->provider && *q->provider && strcmp(prov, q->provider) != 0) {
                continue;
            }
            apr_array_header_t *sessions;
            rv = aoidc_dir_read_list(st, keys, p, aoidc_dir_user_key(p, prov, tab + 1), q->now, &sessions);
            if (rv == APR_EGENERAL) {
                return rv;
            }
            apr_array_cat(all, sessions);
        }
        return APR_SUCCESS;
    }
    }
    return APR_EINVAL;
}

/* Does the session match what the query asked for? The lists are an index,
 * the record is the truth (a hash collision or a stale entry must not list
 * someone else). */
static int session_matches(const aoidc_dir_query_t *q, const aoidc_session_t *s, apr_pool_t *p)
{
    const char *v;
    switch (q->kind) {
    case AOIDC_DIR_Q_ALL:
        return 1;
    case AOIDC_DIR_Q_PROVIDER:
        return strcmp(nz(s->provider), q->provider) == 0;
    case AOIDC_DIR_Q_USER:
        return strcmp(nz(s->provider), q->provider) == 0 && strcmp(nz(s->sub), q->value) == 0;
    case AOIDC_DIR_Q_SID:
        return strcmp(nz(s->provider), q->provider) == 0 && strcmp(nz(s->sid), q->value) == 0;
    case AOIDC_DIR_Q_EMAIL:
        v = claim(s, "email");
        return v && strcmp(lower(p, v), lower(p, q->value)) == 0;
    case AOIDC_DIR_Q_NAME:
        v = claim(s, "name");
        return v && strcmp(lower(p, v), lower(p, q->value)) == 0;
    }
    return 0;
}

apr_status_t aoidc_dir_query(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                             const aoidc_dir_query_t *q, apr_array_header_t **infos, int *next_offset)
{
    apr_array_header_t *entries;
    *infos = apr_array_make(p, 16, sizeof(aoidc_dir_info_t));
    *next_offset = -1;
    if (q->offset < 0 || q->limit < 0) {
        return APR_EINVAL;
    }
    apr_status_t rv = query_entries(st, keys, p, q, &entries);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* the records are read in batches with one multi-get each, as many as
     * the page still needs (QUERY_BATCH at most), in listing order */
    enum { QUERY_BATCH = 128 };
    apr_hash_t *seen = apr_hash_make(p);
    aoidc_store_item_t items[QUERY_BATCH];
    const char *hs[QUERY_BATCH];
    int at[QUERY_BATCH];
    int i = q->offset;
    while (i < entries->nelts) {
        int want = q->limit ? q->limit - (*infos)->nelts : QUERY_BATCH;
        int n = 0;
        want = want > QUERY_BATCH ? QUERY_BATCH : want;
        for (; i < entries->nelts && n < want; i++) {
            const char *h = APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t).id;
            const char *key = h ? aoidc_dir_store_key(p, h) : NULL;
            if (!key || apr_hash_get(seen, h, APR_HASH_KEY_STRING)) {
                continue;
            }
            apr_hash_set(seen, h, APR_HASH_KEY_STRING, h);
            memset(&items[n], 0, sizeof(items[n]));
            items[n].key = key;
            hs[n] = h;
            at[n++] = i;
        }
        aoidc_store_mget(st, p, items, n);
        for (int k = 0; k < n; k++) {
            aoidc_session_t s;
            if (items[k].rc != AOIDC_STORE_OK && items[k].rc != AOIDC_STORE_MISSING) {
                return APR_EGENERAL;
            }
            if (items[k].rc == AOIDC_STORE_MISSING ||
                aoidc_session_decode(p, keys, items[k].key, (const unsigned char *)items[k].val, items[k].len, &s) !=
                    APR_SUCCESS ||
                s.expires <= q->now || !session_matches(q, &s, p)) {
                continue;
            }
            aoidc_dir_info_from(p, hs[k], &s, apr_array_push(*infos));
            if (q->limit && (*infos)->nelts >= q->limit) {
                *next_offset = at[k] + 1 < entries->nelts ? at[k] + 1 : -1;
                return APR_SUCCESS;
            }
        }
    }
    return APR_SUCCESS;
}

/* --- revocation ---------------------------------------------------------- */

apr_status_t aoidc_dir_revoke_handles(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                      const apr_array_header_t *handles, int *count)
{
    *count = 0;
    const char **gone = apr_palloc(p, sizeof(*gone) * (apr_size_t)(handles->nelts + 1));
    int ngone = 0;
    apr_status_t rv = APR_SUCCESS;
    for (int i = 0; i < handles->nelts && rv == APR_SUCCESS; i++) {
        const char *h = APR_ARRAY_IDX(handles, i, const char *);
        const char *key = aoidc_dir_store_key(p, h);
        if (!key) {
            continue;
        }
        aoidc_session_t s;
        int r = load_one(st, keys, p, h, &s);
        if (r < 0) {
            rv = APR_EGENERAL;
            break;
        }
        /* the delete is what ends the session in the store; the revocation
         * feed below makes the session caches of every node drop it */
        aoidc_store_rc_t rc = st->del(st, key);
        gone[ngone++] = h;
        if (rc == AOIDC_STORE_OK) {
            (*count)++;
        }
        else if (rc != AOIDC_STORE_MISSING) {
            rv = APR_EGENERAL;
        }
        if (r > 0 && rv == APR_SUCCESS) {
            (void)aoidc_dir_remove(st, keys, p, h, &s); /* tidiness only: readers skip dead entries */
        }
    }
    if (ngone > 0 && aoidc_revfeed_publish(st, p, gone, ngone, apr_time_sec(apr_time_now())) != APR_SUCCESS) {
        rv = APR_EGENERAL;
    }
    return rv;
}

apr_status_t aoidc_dir_revoke_query(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                    const aoidc_dir_query_t *q, const char *sub, int *count)
{
    aoidc_dir_query_t all = *q;
    apr_array_header_t *infos;
    int next;
    *count = 0;
    all.offset = 0;
    all.limit = 0;
    apr_status_t rv = aoidc_dir_query(st, keys, p, &all, &infos, &next);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    apr_array_header_t *handles = apr_array_make(p, infos->nelts + 1, sizeof(const char *));
    for (int i = 0; i < infos->nelts; i++) {
        const aoidc_dir_info_t *in = &APR_ARRAY_IDX(infos, i, aoidc_dir_info_t);
        if (sub && strcmp(in->sub, sub) != 0) {
            continue;
        }
        APR_ARRAY_PUSH(handles, const char *) = in->handle;
    }
    return aoidc_dir_revoke_handles(st, keys, p, handles, count);
}

apr_status_t aoidc_dir_revoke_user(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *provider,
                                   const char *sub, apr_int64_t now, int *count)
{
    aoidc_dir_query_t q = {AOIDC_DIR_Q_USER, provider, sub, now, 0, 0, 0};
    *count = 0;
    /* the epoch first: it ends the sessions the walk cannot find */
    apr_status_t erv = aoidc_dir_revoke_epoch_set(st, p, provider, sub, now);
    apr_status_t rv = aoidc_dir_revoke_query(st, keys, p, &q, NULL, count);
    return erv != APR_SUCCESS ? erv : rv;
}

apr_status_t aoidc_dir_revoke_sid(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p, const char *provider,
                                  const char *sid, const char *sub, apr_int64_t now, int *count)
{
    aoidc_dir_query_t q = {AOIDC_DIR_Q_SID, provider, sid, now, 0, 0, 0};
    return aoidc_dir_revoke_query(st, keys, p, &q, sub, count);
}

apr_status_t aoidc_dir_revoke_provider(aoidc_store_t *st, const aoidc_keys_t *keys, apr_pool_t *p,
                                       const char *provider, apr_int64_t now, apr_int64_t window, int *count)
{
    aoidc_dir_query_t q = {AOIDC_DIR_Q_PROVIDER, provider, NULL, now, window, 0, 0};
    *count = 0;
    apr_status_t erv = aoidc_dir_revoke_epoch_set(st, p, provider, NULL, now);
    apr_status_t rv = aoidc_dir_revoke_query(st, keys, p, &q, NULL, count);
    return erv != APR_SUCCESS ? erv : rv;
}
