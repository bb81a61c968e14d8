/* The prefix search index of `serve`: every live session's lowercased user,
 * sub, email and the words of its name, sorted, so that a prefix is a binary
 * search instead of decoding every record (the directory's own lists index
 * whole values only). Strings live in the index's own pool; a rebuild walks
 * the directory into a new pool and swaps it in under the lock. Sessions
 * created since the last rebuild are added by each search (it reads the
 * time buckets since then, decoding only the handles it does not know yet). An
 * entry may outlive its session: the records are read again to answer, and
 * missing ones are skipped; the rebuild drops them. */
#include "console.h"

#include "aoidc_directory.h"

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *handle;
    apr_int64_t expires;
} ix_sess_t;

typedef struct {
    const char *key; /* lowercased */
    int sess;        /* index into sessions */
} ix_key_t;

/* One generation of the index. */
typedef struct {
    apr_pool_t *pool;
    apr_array_header_t *sessions; /* ix_sess_t */
    apr_array_header_t *keys;     /* ix_key_t, sorted by key up to `sorted` */
    int sorted;
    apr_hash_t *seen;  /* handle -> "" */
    apr_int64_t built; /* when the walk that built it started */
} ix_gen_t;

struct ocon_index {
    pthread_mutex_t lock;    /* gen and its arrays */
    pthread_mutex_t refresh; /* one refresh at a time */
    ix_gen_t *gen;           /* NULL until built */
    pthread_t thread;
    int running, stop;
    pthread_cond_t wake;
    ocon_ctx_t *ctx;
};

ocon_index_t *ocon_index_create(apr_pool_t *p)
{
    ocon_index_t *ix = apr_pcalloc(p, sizeof(*ix));
    pthread_mutex_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->refresh, NULL);
    pthread_cond_init(&ix->wake, NULL);
    return ix;
}

static const char *lower(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *out = apr_pstrmemdup(p, s, n);
    for (char *c = out; *c; c++) {
        *c = (char)apr_tolower((unsigned char)*c);
    }
    return out;
}

static void add_key(ix_gen_t *g, const char *v, apr_size_t n, int sess)
{
    if (!v || n == 0) {
        return;
    }
    ix_key_t *k = &APR_ARRAY_PUSH(g->keys, ix_key_t);
    k->key = lower(g->pool, v, n > OCON_ARG_MAX ? OCON_ARG_MAX : n);
    k->sess = sess;
}

/* Called with the lock held when g is live. */
static void add_session(ix_gen_t *g, const ocon_session_t *s)
{
    int i = g->sessions->nelts;
    ix_sess_t *e = &APR_ARRAY_PUSH(g->sessions, ix_sess_t);
    e->handle = apr_pstrdup(g->pool, s->handle);
    e->expires = s->s.expires;
    apr_hash_set(g->seen, e->handle, APR_HASH_KEY_STRING, "");
    add_key(g, s->s.user, s->s.user ? strlen(s->s.user) : 0, i);
    if (s->s.sub && (!s->s.user || strcasecmp(s->s.sub, s->s.user) != 0)) {
        add_key(g, s->s.sub, strlen(s->s.sub), i);
    }
    add_key(g, s->email, s->email ? strlen(s->email) : 0, i);
    add_key(g, s->name, s->name ? strlen(s->name) : 0, i); /* the whole name, then its other words */
    for (const char *w = s->name ? strchr(s->name, ' ') : NULL; w && *w;) {
        while (*w == ' ') {
            w++;
        }
        const char *e2 = strchr(w, ' ');
        apr_size_t n = e2 ? (apr_size_t)(e2 - w) : strlen(w);
        add_key(g, w, n, i);
        w += n;
    }
}

typedef struct {
    ocon_index_t *ix; /* NULL: building a private generation */
    ix_gen_t *g;
} walk_t;

static int walk_cb(void *baton, const ocon_session_t *s, const char *handle)
{
    walk_t *w = baton;
    if (!s) {
        return apr_hash_get(w->g->seen, handle, APR_HASH_KEY_STRING) != NULL;
    }
    if (w->ix) {
        pthread_mutex_lock(&w->ix->lock);
    }
    if (!apr_hash_get(w->g->seen, s->handle, APR_HASH_KEY_STRING)) {
        add_session(w->g, s);
    }
    if (w->ix) {
        pthread_mutex_unlock(&w->ix->lock);
    }
    return 1;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const ix_key_t *)a)->key, ((const ix_key_t *)b)->key);
}

ocon_rc_t ocon_index_rebuild(ocon_index_t *ix, ocon_ctx_t *ctx)
{
    apr_pool_t *gp, *wp;
    if (apr_pool_create_unmanaged_ex(&gp, NULL, NULL) != APR_SUCCESS) {
        return OCON_FAILED;
    }
    if (apr_pool_create_unmanaged_ex(&wp, NULL, NULL) != APR_SUCCESS) {
        apr_pool_destroy(gp);
        return OCON_FAILED;
    }
    ix_gen_t *g = apr_pcalloc(gp, sizeof(*g));
    g->pool = gp;
    g->sessions = apr_array_make(gp, 1024, sizeof(ix_sess_t));
    g->keys = apr_array_make(gp, 4096, sizeof(ix_key_t));
    g->seen = apr_hash_make(gp);
    g->built = (apr_int64_t)apr_time_sec(apr_time_now());
    walk_t w = {NULL, g};
    ocon_rc_t rc = ocon_sessions_walk(ctx, wp, 0, walk_cb, &w);
    apr_pool_destroy(wp);
    if (rc != OCON_OK) {
        apr_pool_destroy(gp);
        return rc;
    }
    qsort(g->keys->elts, (size_t)g->keys->nelts, sizeof(ix_key_t), cmp_key);
    g->sorted = g->keys->nelts;
    pthread_mutex_lock(&ix->refresh); /* no refresh is adding to the old one */
    pthread_mutex_lock(&ix->lock);
    ix_gen_t *old = ix->gen;
    ix->gen = g;
    pthread_mutex_unlock(&ix->lock);
    pthread_mutex_unlock(&ix->refresh);
    if (old) {
        apr_pool_destroy(old->pool);
    }
    return OCON_OK;
}

int ocon_index_ready(ocon_index_t *ix)
{
    pthread_mutex_lock(&ix->lock);
    int ready = ix->gen != NULL;
    pthread_mutex_unlock(&ix->lock);
    return ready;
}

static int cmp_entry_desc(const void *a, const void *b)
{
    const aoidc_dir_entry_t *x = a, *y = b;
    return x->expires < y->expires ? 1 : x->expires > y->expires ? -1 : strcmp(x->id, y->id);
}

/* Collect the session of key k once. */
static void hit(const ix_gen_t *g, int sess, apr_pool_t *p, apr_hash_t *got, apr_array_header_t *out)
{
    const ix_sess_t *e = &APR_ARRAY_IDX(g->sessions, sess, ix_sess_t);
    if (apr_hash_get(got, &sess, sizeof(sess))) {
        return;
    }
    int *keep = apr_palloc(p, sizeof(*keep));
    *keep = sess;
    apr_hash_set(got, keep, sizeof(*keep), "");
    aoidc_dir_entry_t *o = &APR_ARRAY_PUSH(out, aoidc_dir_entry_t);
    o->id = apr_pstrdup(p, e->handle);
    o->expires = e->expires;
}

int ocon_index_find(ocon_index_t *ix, ocon_ctx_t *ctx, apr_pool_t *p, const char *prefix,
                    apr_array_header_t **out, int *truncated)
{
    if (!ocon_index_ready(ix)) {
        return 0;
    }
    /* the sessions created since the index was built: the buckets from then
     * on (and one more on each side, for clocks that differ between nodes) */
    pthread_mutex_lock(&ix->refresh);
    apr_pool_t *wp;
    if (apr_pool_create(&wp, p) == APR_SUCCESS) {
        walk_t w = {ix, ix->gen};
        apr_int64_t since = (apr_int64_t)apr_time_sec(apr_time_now()) - ix->gen->built;
        int buckets = (int)((since > 0 ? since : 0) / AOIDC_DIR_BUCKET) + OCON_INDEX_RECENT;
        ocon_sessions_walk(ctx, wp, buckets, walk_cb, &w);
        apr_pool_destroy(wp);
    }
    pthread_mutex_unlock(&ix->refresh);

    const char *want = lower(p, prefix, strlen(prefix));
    apr_size_t n = strlen(want);
    apr_array_header_t *res = apr_array_make(p, 64, sizeof(aoidc_dir_entry_t));
    apr_hash_t *got = apr_hash_make(p);
    *truncated = 0;
    pthread_mutex_lock(&ix->lock);
    const ix_gen_t *g = ix->gen;
    const ix_key_t *keys = (const ix_key_t *)g->keys->elts;
    int lo = 0, hi = g->sorted; /* first key >= want */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].key, want) < 0) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    for (int i = lo; i < g->sorted && strncmp(keys[i].key, want, n) == 0; i++) {
        if (res->nelts >= OCON_INDEX_HITS_MAX) {
            *truncated = 1;
            break;
        }
        hit(g, keys[i].sess, p, got, res);
    }
    for (int i = g->sorted; i < g->keys->nelts && !*truncated; i++) { /* added since: unsorted, few */
        if (strncmp(keys[i].key, want, n) == 0) {
            if (res->nelts >= OCON_INDEX_HITS_MAX) {
                *truncated = 1;
                break;
            }
            hit(g, keys[i].sess, p, got, res);
        }
    }
    pthread_mutex_unlock(&ix->lock);
    if (res->nelts > 1) {
        qsort(res->elts, (size_t)res->nelts, sizeof(aoidc_dir_entry_t), cmp_entry_desc);
    }
    *out = res;
    return 1;
}

static void *index_thread(void *arg)
{
    ocon_index_t *ix = arg;
    pthread_mutex_lock(&ix->lock);
    while (!ix->stop) {
        pthread_mutex_unlock(&ix->lock);
        apr_time_t t0 = apr_time_now();
        ocon_rc_t rc = ocon_index_rebuild(ix, ix->ctx);
        fprintf(stderr, "oidc-console: search index %s in %.1f s\n",
                rc == OCON_OK ? "built" : "not built (store)",
                (double)(apr_time_now() - t0) / APR_USEC_PER_SEC);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += rc == OCON_OK ? OCON_INDEX_REBUILD : 10;
        pthread_mutex_lock(&ix->lock);
        while (!ix->stop && pthread_cond_timedwait(&ix->wake, &ix->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&ix->lock);
    return NULL;
}

apr_status_t ocon_index_start(ocon_index_t *ix, ocon_ctx_t *ctx)
{
    ix->ctx = ctx;
    if (pthread_create(&ix->thread, NULL, index_thread, ix) != 0) {
        return APR_EGENERAL;
    }
    ix->running = 1;
    return APR_SUCCESS;
}

void ocon_index_stop(ocon_index_t *ix)
{
    if (!ix->running) {
        return;
    }
    pthread_mutex_lock(&ix->lock);
    ix->stop = 1;
    pthread_cond_signal(&ix->wake);
    pthread_mutex_unlock(&ix->lock);
    pthread_join(ix->thread, NULL);
    ix->running = 0;
}

void ocon_index_destroy(ocon_index_t *ix)
{
    ocon_index_stop(ix);
    pthread_mutex_lock(&ix->lock);
    ix_gen_t *g = ix->gen;
    ix->gen = NULL;
    pthread_mutex_unlock(&ix->lock);
    if (g) {
        apr_pool_destroy(g->pool);
    }
}
