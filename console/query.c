/* Session queries and revocation over the session directory
 * (aoidc_directory.h). The console never enumerates memcached: it reads the
 * directory's lists, then the records they name. */
#include "console.h"

#include "aoidc_claims.h"
#include "aoidc_directory.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOAD_CHUNK 200 /* records loaded per aoidc_dir_load call */

int ocon_rc_exit(ocon_rc_t rc)
{
    switch (rc) {
    case OCON_OK:
        return OCON_EXIT_OK;
    case OCON_BAD_INPUT:
        return OCON_EXIT_USAGE;
    case OCON_NOT_FOUND:
        return OCON_EXIT_NOT_FOUND;
    case OCON_DOWN:
        return OCON_EXIT_STORE;
    case OCON_FAILED:
    default:
        return OCON_EXIT_FAILURE;
    }
}

const char *ocon_rc_str(ocon_rc_t rc)
{
    switch (rc) {
    case OCON_OK:
        return "ok";
    case OCON_BAD_INPUT:
        return "bad input";
    case OCON_NOT_FOUND:
        return "not found";
    case OCON_DOWN:
        return "session store unreachable";
    case OCON_FAILED:
    default:
        return "failed";
    }
}

int ocon_ctx_open(apr_pool_t *p, const ocon_config_t *cfg, int max_conns, ocon_ctx_t *ctx, const char **err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->pool = p;
    ctx->cfg = cfg;
    if (aoidc_keys_load_file(p, cfg->crypto_key_file, &ctx->keys, err) != APR_SUCCESS) {
        *err = apr_psprintf(p, "crypto_key_file: %s", *err);
        return OCON_EXIT_CONFIG;
    }
    if (cfg->previous_crypto_key_file) {
        aoidc_keys_t *prev = apr_pcalloc(p, sizeof(*prev));
        if (aoidc_keys_load_file(p, cfg->previous_crypto_key_file, prev, err) != APR_SUCCESS) {
            *err = apr_psprintf(p, "previous_crypto_key_file: %s", *err);
            return OCON_EXIT_CONFIG;
        }
        if (aoidc_keys_set_previous(&ctx->keys, prev) != APR_SUCCESS) {
            *err = "previous_crypto_key_file holds the same key as crypto_key_file";
            return OCON_EXIT_CONFIG;
        }
    }
    if (aoidc_store_memcached_create(p, cfg->store_servers, max_conns, cfg->store_timeout_ms, &ctx->store,
                                     err) != APR_SUCCESS) {
        *err = apr_psprintf(p, "store_servers: %s", *err);
        return OCON_EXIT_CONFIG;
    }
    return OCON_EXIT_OK;
}

ocon_rc_t ocon_store_probe(ocon_ctx_t *ctx, apr_pool_t *p)
{
    char *v;
    apr_size_t n;
    aoidc_store_rc_t rc = ctx->store->get(ctx->store, p, "aoidc:n:index", &v, &n, NULL);
    if (rc == AOIDC_STORE_DOWN) {
        return OCON_DOWN;
    }
    return rc == AOIDC_STORE_OK || rc == AOIDC_STORE_MISSING ? OCON_OK : OCON_FAILED;
}

/* A directory call failed: tell "store down" from anything else. */
static ocon_rc_t classify(ocon_ctx_t *ctx, apr_pool_t *p)
{
    return ocon_store_probe(ctx, p) == OCON_DOWN ? OCON_DOWN : OCON_FAILED;
}

static apr_int64_t now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

typedef struct {
    apr_array_header_t *entries; /* aoidc_dir_entry_t */
    apr_hash_t *seen;            /* handle -> "" */
} cand_t;

static int cmp_expires_desc(const void *a, const void *b)
{
    const aoidc_dir_entry_t *x = a, *y = b;
    return x->expires < y->expires ? 1 : x->expires > y->expires ? -1 : 0;
}

/* Append entries e (may be NULL) to c, deduplicated by id; sort: newest
 * expiry first. */
static void add_entries(apr_array_header_t *e, cand_t *c, int sort)
{
    if (!e) {
        return;
    }
    if (sort && e->nelts > 1) {
        qsort(e->elts, (size_t)e->nelts, sizeof(aoidc_dir_entry_t), cmp_expires_desc);
    }
    for (int i = 0; i < e->nelts; i++) {
        aoidc_dir_entry_t *x = &APR_ARRAY_IDX(e, i, aoidc_dir_entry_t);
        if (!x->id || apr_hash_get(c->seen, x->id, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(c->seen, x->id, APR_HASH_KEY_STRING, "");
        APR_ARRAY_PUSH(c->entries, aoidc_dir_entry_t) = *x;
    }
}

/* Append the live entries of one list key to c (deduplicated by id). A list
 * that fails to read is skipped unless the store is down. */
static ocon_rc_t add_list(ocon_ctx_t *ctx, apr_pool_t *p, const char *key, apr_int64_t now, cand_t *c, int sort)
{
    apr_array_header_t *e = NULL;
    if (!key) {
        return OCON_OK;
    }
    if (aoidc_dir_read_list(ctx->store, &ctx->keys, p, key, now, &e) != APR_SUCCESS) {
        return classify(ctx, p) == OCON_DOWN ? OCON_DOWN : OCON_OK;
    }
    add_entries(e, c, sort);
    return OCON_OK;
}

/* The time the buckets must cover: session_window, widened to the longest
 * AuthOIDCSessionMaxLifetime any node publishes, so that a console config
 * lagging behind the module never hides older sessions. */
static apr_int64_t session_window(ocon_ctx_t *ctx, apr_pool_t *p)
{
    apr_int64_t w = ctx->cfg->session_window;
    json_t *nodes = NULL, *n;
    size_t i;
    if (ocon_nodes_load(ctx, p, &nodes) != OCON_OK || !nodes) {
        return w;
    }
    json_array_foreach(json_object_get(nodes, "nodes"), i, n)
    {
        json_t *ml = json_object_get(json_object_get(json_object_get(n, "snapshot"), "session"), "max_lifetime");
        if (json_is_integer(ml) && json_integer_value(ml) > w && json_integer_value(ml) <= 30 * 86400) {
            w = (apr_int64_t)json_integer_value(ml);
        }
    }
    json_decref(nodes);
    return w;
}

/* Time buckets from the newest (one ahead, for clock skew between nodes) back
 * over the session window, or over the newest `newest` buckets only (0: the
 * window). provider NULL: the global buckets. */
static ocon_rc_t add_buckets_n(ocon_ctx_t *ctx, apr_pool_t *p, const char *provider, apr_int64_t now, cand_t *c,
                               int newest)
{
    apr_int64_t top = now / AOIDC_DIR_BUCKET + 1;
    apr_int64_t bottom = newest > 0 ? top - newest + 1 : (now - session_window(ctx, p)) / AOIDC_DIR_BUCKET - 1;
    /* every page of each paged bucket list (aoidc:d:b:<bucket>[.<n>]), until
     * its first missing page; one multi-get per page round, not a get per page */
    int nb = top >= bottom ? (int)(top - bottom + 1) : 0;
    if (nb == 0) {
        return OCON_OK;
    }
    const char **bases = apr_pcalloc(p, sizeof(*bases) * (apr_size_t)nb);
    apr_array_header_t **pages = apr_pcalloc(p, sizeof(*pages) * (apr_size_t)nb * AOIDC_DIR_BUCKET_PAGES);
    for (int i = 0; i < nb; i++) {
        apr_int64_t b = top - i;
        bases[i] = provider ? aoidc_dir_provider_bucket_key(p, provider, b) : aoidc_dir_bucket_key(p, b);
    }
    if (aoidc_dir_read_paged(ctx->store, &ctx->keys, p, bases, nb, now, pages) != APR_SUCCESS &&
        classify(ctx, p) == OCON_DOWN) {
        return OCON_DOWN;
    }
    for (int i = 0; i < nb * AOIDC_DIR_BUCKET_PAGES; i++) {
        add_entries(pages[i], c, 1);
    }
    return OCON_OK;
}

static ocon_rc_t add_buckets(ocon_ctx_t *ctx, apr_pool_t *p, const char *provider, apr_int64_t now, cand_t *c)
{
    return add_buckets_n(ctx, p, provider, now, c, 0);
}

apr_array_header_t *ocon_known_providers(ocon_ctx_t *ctx, apr_pool_t *p)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    json_t *nodes = NULL;
    if (ocon_nodes_load(ctx, p, &nodes) == OCON_OK && nodes) {
        json_t *arr = json_object_get(nodes, "nodes"), *n;
        size_t i;
        json_array_foreach(arr, i, n)
        {
            json_t *provs = ocon_snapshot_providers(json_object_get(n, "snapshot"));
            const char *name;
            json_t *v;
            json_object_foreach(provs, name, v)
            {
                if (!apr_hash_get(seen, name, APR_HASH_KEY_STRING) && ocon_value_ok(name)) {
                    const char *copy = apr_pstrdup(p, name);
                    apr_hash_set(seen, copy, APR_HASH_KEY_STRING, "");
                    APR_ARRAY_PUSH(out, const char *) = copy;
                }
            }
            json_decref(provs);
        }
        json_decref(nodes);
    }
    if (ctx->cfg->providers) {
        char *last, *list = apr_pstrdup(p, ctx->cfg->providers);
        for (char *t = apr_strtok(list, " \t,", &last); t; t = apr_strtok(NULL, " \t,", &last)) {
            if (!apr_hash_get(seen, t, APR_HASH_KEY_STRING)) {
                apr_hash_set(seen, t, APR_HASH_KEY_STRING, "");
                APR_ARRAY_PUSH(out, const char *) = t;
            }
        }
    }
    return out;
}

static int ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

static int icontains(const char *hay, const char *needle)
{
    if (!hay) {
        return 0;
    }
    apr_size_t n = strlen(needle);
    for (const char *h = hay; *h; h++) {
        if (strncasecmp(h, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Does s start with prefix (ASCII case-insensitive)? */
static int istarts(const char *s, const char *prefix)
{
    return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Does a word of s start with prefix? */
static int iword_starts(const char *s, const char *prefix)
{
    for (const char *w = s; w && *w; w++) {
        if ((w == s || w[-1] == ' ') && istarts(w, prefix)) {
            return 1;
        }
    }
    return 0;
}

int ocon_prefix_matches(const ocon_session_t *s, const char *prefix)
{
    return istarts(s->s.user, prefix) || istarts(s->s.sub, prefix) || istarts(s->email, prefix) ||
           iword_starts(s->name, prefix);
}

/* Does a decoded session satisfy every filter? */
static int matches(const ocon_session_t *s, const ocon_filter_t *f)
{
    if (f->handle && strcmp(s->handle, f->handle) != 0) {
        return 0;
    }
    if (f->provider && (!s->s.provider || strcmp(s->s.provider, f->provider) != 0)) {
        return 0;
    }
    if (f->sub && (!s->s.sub || strcmp(s->s.sub, f->sub) != 0)) {
        return 0;
    }
    if (f->sid && (!s->s.sid || strcmp(s->s.sid, f->sid) != 0)) {
        return 0;
    }
    if (f->email && !ieq(s->email, f->email)) {
        return 0;
    }
    if (f->name && !ieq(s->name, f->name)) {
        return 0;
    }
    if (f->q && !icontains(s->s.user, f->q) && !icontains(s->s.sub, f->q) && !icontains(s->email, f->q) &&
        !icontains(s->name, f->q) && strncmp(s->handle, f->q, strlen(f->q)) != 0) {
        return 0;
    }
    if (f->prefix && !ocon_prefix_matches(s, f->prefix)) {
        return 0;
    }
    return 1;
}

/* Load the records of entries[from, from+n) into out (ocon_session_t). */
static ocon_rc_t load_range(ocon_ctx_t *ctx, apr_pool_t *p, const apr_array_header_t *entries, int from, int n,
                            apr_int64_t now, const ocon_filter_t *f, apr_array_header_t *out)
{
    apr_array_header_t *chunk = apr_array_make(p, n, sizeof(aoidc_dir_entry_t));
    apr_array_header_t *handles = NULL, *sessions = NULL;
    for (int i = from; i < from + n && i < entries->nelts; i++) {
        APR_ARRAY_PUSH(chunk, aoidc_dir_entry_t) = APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t);
    }
    if (chunk->nelts == 0) {
        return OCON_OK;
    }
    if (aoidc_dir_load(ctx->store, &ctx->keys, p, chunk, &handles, &sessions) != APR_SUCCESS) {
        return classify(ctx, p);
    }
    for (int i = 0; handles && sessions && i < handles->nelts && i < sessions->nelts; i++) {
        ocon_session_t *o = &APR_ARRAY_PUSH(out, ocon_session_t);
        o->handle = APR_ARRAY_IDX(handles, i, const char *);
        o->s = APR_ARRAY_IDX(sessions, i, aoidc_session_t);
        o->email = aoidc_claims_get(p, o->s.claims, o->s.nclaims, "email", ", ");
        o->name = aoidc_claims_get(p, o->s.claims, o->s.nclaims, "name", ", ");
        /* ended (the directory has not caught up yet), or not what was asked
         * for: the lists are an index, the record is the truth */
        if ((o->s.expires > 0 && o->s.expires <= now) || (f && !matches(o, f))) {
            out->nelts--;
        }
    }
    return OCON_OK;
}

/* Users (provider \t sub) named by an email or name list, as user-list keys. */
static ocon_rc_t add_users_of(ocon_ctx_t *ctx, apr_pool_t *p, const char *key, const char *provider,
                              apr_int64_t now, cand_t *c)
{
    cand_t users = {apr_array_make(p, 8, sizeof(aoidc_dir_entry_t)), apr_hash_make(p)};
    ocon_rc_t rc = add_list(ctx, p, key, now, &users, 0);
    for (int i = 0; rc == OCON_OK && i < users.entries->nelts; i++) {
        const char *id = APR_ARRAY_IDX(users.entries, i, aoidc_dir_entry_t).id;
        const char *tab = strchr(id, '\t');
        if (!tab) {
            continue;
        }
        const char *prov = apr_pstrmemdup(p, id, (apr_size_t)(tab - id));
        if (provider && strcmp(provider, prov) != 0) {
            continue;
        }
        rc = add_list(ctx, p, aoidc_dir_user_key(p, prov, tab + 1), now, c, 1);
    }
    return rc;
}

int ocon_sort_parse(const char *name, ocon_sort_t *out)
{
    static const char *const names[] = {"expires", "last_seen", "created"};
    for (int i = 0; name && i < 3; i++) {
        if (!strcmp(name, names[i])) {
            *out = (ocon_sort_t)i;
            return 1;
        }
    }
    return 0;
}

const char *ocon_sort_name(ocon_sort_t sort)
{
    return sort == OCON_SORT_LAST_SEEN ? "last_seen" : sort == OCON_SORT_CREATED ? "created" : "expires";
}

/* A session that matched a scan: what paging and sorting need. */
typedef struct {
    const char *handle;
    apr_int64_t expires, key; /* key: the time sorted on */
} ocon_hit_t;

static int cmp_hit_desc(const void *a, const void *b)
{
    const ocon_hit_t *x = a, *y = b;
    return x->key < y->key ? 1 : x->key > y->key ? -1 : strcmp(x->handle, y->handle);
}

ocon_rc_t ocon_sessions_find(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f, int page, int per_page,
                             ocon_page_t *out)
{
    return ocon_sessions_find_sorted(ctx, p, f, OCON_SORT_EXPIRES, page, per_page, out);
}

ocon_rc_t ocon_sessions_find_sorted(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f, ocon_sort_t sort,
                                    int page, int per_page, ocon_page_t *out)
{
    apr_int64_t now = now_sec();
    cand_t c = {apr_array_make(p, 64, sizeof(aoidc_dir_entry_t)), apr_hash_make(p)};
    ocon_filter_t post = *f; /* what the chosen list does not already guarantee */
    ocon_rc_t rc = OCON_OK;
    apr_array_header_t *provs = NULL;

    memset(out, 0, sizeof(*out));
    out->sessions = apr_array_make(p, per_page > 0 ? per_page : 64, sizeof(ocon_session_t));
    out->page = page < 1 ? 1 : page;
    out->per_page = per_page;
    out->sort = sort;
    if ((f->provider && !ocon_value_ok(f->provider)) || (f->sub && !ocon_value_ok(f->sub)) ||
        (f->email && !ocon_value_ok(f->email)) || (f->name && !ocon_value_ok(f->name)) ||
        (f->sid && !ocon_value_ok(f->sid)) || (f->q && !ocon_value_ok(f->q)) ||
        (f->prefix && !ocon_value_ok(f->prefix)) ||
        (f->handle && !aoidc_dir_store_key(p, f->handle))) {
        return OCON_BAD_INPUT;
    }
    if ((f->sub || f->sid) && !f->provider && !f->handle) {
        provs = ocon_known_providers(ctx, p);
    }

    if (f->handle) {
        aoidc_dir_entry_t e = {apr_pstrdup(p, f->handle), INT64_MAX};
        APR_ARRAY_PUSH(c.entries, aoidc_dir_entry_t) = e;
        post.handle = NULL;
    }
    else if (f->sid && (f->provider || provs->nelts)) {
        if (f->provider) {
            rc = add_list(ctx, p, aoidc_dir_sid_key(p, f->provider, f->sid), now, &c, 1);
        }
        for (int i = 0; !f->provider && rc == OCON_OK && i < provs->nelts; i++) {
            rc = add_list(ctx, p, aoidc_dir_sid_key(p, APR_ARRAY_IDX(provs, i, const char *), f->sid), now, &c, 1);
        }
        post.sid = NULL;
    }
    else if (f->sub && (f->provider || provs->nelts)) {
        if (f->provider) {
            rc = add_list(ctx, p, aoidc_dir_user_key(p, f->provider, f->sub), now, &c, 1);
        }
        for (int i = 0; !f->provider && rc == OCON_OK && i < provs->nelts; i++) {
            rc = add_list(ctx, p, aoidc_dir_user_key(p, APR_ARRAY_IDX(provs, i, const char *), f->sub), now, &c,
                          1);
        }
        post.sub = NULL;
    }
    else if (f->prefix && !f->email && !f->name && ctx->index &&
             ocon_index_find(ctx->index, ctx, p, f->prefix, &c.entries, &out->partial) == 1) {
        /* the search index: sessions whose user, sub, email or a word of
         * the name starts with the prefix, newest expiry first */
        post.prefix = NULL;
        out->via_index = 1;
    }
    else if (f->email) {
        rc = add_users_of(ctx, p, aoidc_dir_email_key(p, f->email), f->provider, now, &c);
    }
    else if (f->name) {
        rc = add_users_of(ctx, p, aoidc_dir_name_key(p, f->name), f->provider, now, &c);
    }
    else if (f->provider) {
        rc = add_buckets(ctx, p, f->provider, now, &c);
        post.provider = NULL;
    }
    else {
        rc = add_buckets(ctx, p, NULL, now, &c);
    }
    if (rc != OCON_OK) {
        return rc;
    }
    /* the list order across several lists: newest first overall */
    if (!f->provider && !f->handle && c.entries->nelts > 1 && (f->email || f->name || provs || out->via_index)) {
        qsort(c.entries->elts, (size_t)c.entries->nelts, sizeof(aoidc_dir_entry_t), cmp_expires_desc);
    }

    int start = (out->page - 1) * (per_page > 0 ? per_page : 0);
    if (ocon_filter_empty(&post) && sort == OCON_SORT_EXPIRES) {
        /* the list is the answer: load only the page (plus what vanished) */
        out->total = c.entries->nelts;
        int i = start;
        while (i < c.entries->nelts && (per_page <= 0 || out->sessions->nelts < per_page)) {
            int want = per_page > 0 ? per_page - out->sessions->nelts : LOAD_CHUNK;
            if (want > LOAD_CHUNK) {
                want = LOAD_CHUNK;
            }
            rc = load_range(ctx, p, c.entries, i, want, now, f, out->sessions);
            if (rc != OCON_OK) {
                return rc;
            }
            i += want;
        }
        out->more = per_page > 0 && i < c.entries->nelts;
    }
    else {
        /* other filters apply, or another order: decode every candidate
         * (to sort: the OCON_SORT_MAX that expire last) chunk by chunk in a
         * scratch pool, keep what matches (handle and times, at most
         * OCON_SCAN_HITS_MAX), within OCON_SCAN_SECONDS; then load the page */
        int n = c.entries->nelts;
        if (sort != OCON_SORT_EXPIRES && n > OCON_SORT_MAX) {
            n = OCON_SORT_MAX;
            out->capped = 1;
        }
        apr_array_header_t *hits = apr_array_make(p, 64, sizeof(ocon_hit_t));
        apr_time_t deadline = apr_time_now() + apr_time_from_sec(OCON_SCAN_SECONDS);
        apr_pool_t *sp;
        if (apr_pool_create(&sp, p) != APR_SUCCESS) {
            return OCON_FAILED;
        }
        for (int i = 0; i < n; i += LOAD_CHUNK) {
            if (hits->nelts >= OCON_SCAN_HITS_MAX || (i > 0 && apr_time_now() > deadline)) {
                out->partial = 1;
                break;
            }
            apr_pool_clear(sp);
            apr_array_header_t *chunk = apr_array_make(sp, LOAD_CHUNK, sizeof(ocon_session_t));
            rc = load_range(ctx, sp, c.entries, i, i + LOAD_CHUNK <= n ? LOAD_CHUNK : n - i, now, NULL, chunk);
            if (rc != OCON_OK) {
                apr_pool_destroy(sp);
                return rc;
            }
            for (int k = 0; k < chunk->nelts && hits->nelts < OCON_SCAN_HITS_MAX; k++) {
                ocon_session_t *s = &APR_ARRAY_IDX(chunk, k, ocon_session_t);
                if (matches(s, &post)) {
                    ocon_hit_t *h = &APR_ARRAY_PUSH(hits, ocon_hit_t);
                    h->handle = apr_pstrdup(p, s->handle);
                    h->expires = s->s.expires;
                    h->key = sort == OCON_SORT_LAST_SEEN ? s->s.last_seen
                             : sort == OCON_SORT_CREATED ? s->s.created
                                                         : s->s.expires;
                }
            }
        }
        apr_pool_destroy(sp);
        if (hits->nelts > 1) {
            qsort(hits->elts, (size_t)hits->nelts, sizeof(ocon_hit_t), cmp_hit_desc);
        }
        out->total = hits->nelts;
        apr_array_header_t *pe = apr_array_make(p, per_page > 0 ? per_page : hits->nelts + 1, sizeof(aoidc_dir_entry_t));
        for (int i = start; i < hits->nelts && (per_page <= 0 || pe->nelts < per_page); i++) {
            aoidc_dir_entry_t e = {APR_ARRAY_IDX(hits, i, ocon_hit_t).handle, APR_ARRAY_IDX(hits, i, ocon_hit_t).expires};
            APR_ARRAY_PUSH(pe, aoidc_dir_entry_t) = e;
        }
        for (int i = 0; i < pe->nelts; i += LOAD_CHUNK) {
            rc = load_range(ctx, p, pe, i, LOAD_CHUNK, now, NULL, out->sessions);
            if (rc != OCON_OK) {
                return rc;
            }
        }
        out->more = per_page > 0 && start + per_page < hits->nelts;
    }
    return OCON_OK;
}

ocon_rc_t ocon_sessions_walk(ocon_ctx_t *ctx, apr_pool_t *p, int newest, ocon_walk_fn fn, void *baton)
{
    apr_int64_t now = now_sec();
    cand_t c = {apr_array_make(p, 1024, sizeof(aoidc_dir_entry_t)), apr_hash_make(p)};
    ocon_rc_t rc = add_buckets_n(ctx, p, NULL, now, &c, newest);
    apr_pool_t *sp;
    if (rc != OCON_OK || apr_pool_create(&sp, p) != APR_SUCCESS) {
        return rc != OCON_OK ? rc : OCON_FAILED;
    }
    for (int i = 0; rc == OCON_OK && i < c.entries->nelts; i += LOAD_CHUNK) {
        apr_array_header_t *todo = apr_array_make(sp, LOAD_CHUNK, sizeof(aoidc_dir_entry_t));
        for (int k = i; k < i + LOAD_CHUNK && k < c.entries->nelts; k++) {
            aoidc_dir_entry_t *e = &APR_ARRAY_IDX(c.entries, k, aoidc_dir_entry_t);
            if (!fn(baton, NULL, e->id)) { /* already known: not decoded again */
                APR_ARRAY_PUSH(todo, aoidc_dir_entry_t) = *e;
            }
        }
        apr_array_header_t *chunk = apr_array_make(sp, LOAD_CHUNK, sizeof(ocon_session_t));
        rc = load_range(ctx, sp, todo, 0, todo->nelts, now, NULL, chunk);
        for (int k = 0; rc == OCON_OK && k < chunk->nelts; k++) {
            fn(baton, &APR_ARRAY_IDX(chunk, k, ocon_session_t), NULL);
        }
        apr_pool_clear(sp);
    }
    apr_pool_destroy(sp);
    return rc;
}

ocon_rc_t ocon_sessions_revoke(ocon_ctx_t *ctx, apr_pool_t *p, const apr_array_header_t *sessions, int *count)
{
    apr_array_header_t *handles = apr_array_make(p, sessions->nelts + 1, sizeof(const char *));
    *count = 0;
    for (int i = 0; i < sessions->nelts; i++) {
        APR_ARRAY_PUSH(handles, const char *) = APR_ARRAY_IDX(sessions, i, ocon_session_t).handle;
    }
    if (handles->nelts == 0) {
        return OCON_OK;
    }
    if (aoidc_dir_revoke_handles(ctx->store, &ctx->keys, p, handles, count) != APR_SUCCESS) {
        return classify(ctx, p);
    }
    return OCON_OK;
}

ocon_rc_t ocon_revoke_epochs(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f)
{
    /* only a whole user of one provider, or a whole provider: other filters
     * name sessions, which the walk that follows finds */
    if (!f->provider || f->sid || f->email || f->name || f->q || f->handle) {
        return OCON_OK;
    }
    if (aoidc_dir_revoke_epoch_set(ctx->store, p, f->provider, f->sub, now_sec()) != APR_SUCCESS) {
        return classify(ctx, p);
    }
    return OCON_OK;
}

int ocon_provider_session_count(ocon_ctx_t *ctx, apr_pool_t *p, const char *provider)
{
    cand_t c = {apr_array_make(p, 64, sizeof(aoidc_dir_entry_t)), apr_hash_make(p)};
    if (add_buckets(ctx, p, provider, now_sec(), &c) != OCON_OK) {
        return -1;
    }
    return c.entries->nelts;
}
