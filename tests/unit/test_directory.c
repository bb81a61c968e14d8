/* aoidc_directory: lists under get+CAS, expiry, bounds, races, queries,
 * revocation; on the in-memory CAS store (mem_store.c). */
#include "unit.h"
#include "aoidc_directory.h"
#include "aoidc_util.h"
#include "aoidc_node.h"
#include "mem_store.h"

#include <apr_hash.h>
#include <apr_time.h>
#include <string.h>

static aoidc_keys_t keys, other_keys;

static int keys_setup(void **state)
{
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
    aoidc_keys_derive((const unsigned char *)"another key, 32 bytes or more!!!", 32, &other_keys);
    return unit_setup(state);
}

#define T(f) cmocka_unit_test_setup_teardown(f, keys_setup, unit_teardown)

static apr_int64_t now(void)
{
    return apr_time_sec(apr_time_now());
}

/* A stored session as create_session makes it; returns its handle. */
static const char *login(apr_pool_t *p, aoidc_store_t *st, const char *provider, const char *sub, const char *sid,
                         const char *email, const char *name, apr_int64_t lifetime)
{
    aoidc_claim_t *claims = apr_pcalloc(p, 2 * sizeof(*claims));
    int n = 0;
    if (email) {
        claims[n].name = "email";
        claims[n++].value = email;
    }
    if (name) {
        claims[n].name = "name";
        claims[n++].value = name;
    }
    aoidc_session_t s = {0};
    s.created = s.last_seen = now();
    s.expires = s.created + lifetime;
    s.provider = provider;
    s.sub = s.user = sub;
    s.sid = sid ? sid : "";
    s.id_token = "secret-id-token";
    s.access_token = "secret-access-token";
    s.node = "node-a";
    s.client_ip = "192.0.2.7";
    s.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    s.claims = claims;
    s.nclaims = n;
    const char *key = aoidc_session_store_key(p, &keys, aoidc_random_token(p, 32));
    unsigned char *val;
    apr_size_t len;
    assert_int_equal(aoidc_session_encode(p, &keys, key, &s, &val, &len), APR_SUCCESS);
    assert_int_equal(st->add(st, key, val, len, (long)lifetime), AOIDC_STORE_OK);
    const char *h = aoidc_dir_handle(key);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s), APR_SUCCESS);
    return h;
}

static apr_array_header_t *query(apr_pool_t *p, aoidc_store_t *st, aoidc_dir_query_kind_t kind, const char *prov,
                                 const char *value)
{
    aoidc_dir_query_t q = {kind, prov, value, now(), 3600, 0, 0};
    apr_array_header_t *infos;
    int next;
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(next, -1);
    return infos;
}

static int has(apr_array_header_t *infos, const char *handle)
{
    for (int i = 0; i < infos->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(infos, i, aoidc_dir_info_t).handle, handle) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_handles_and_keys(void **state)
{
    apr_pool_t *p = *state;
    const char *key = aoidc_session_store_key(p, &keys, aoidc_random_token(p, 32));
    const char *h = aoidc_dir_handle(key);
    assert_non_null(h);
    assert_int_equal(strlen(h), AOIDC_HANDLE_LEN);
    assert_string_equal(aoidc_dir_store_key(p, h), key);
    static const char *bad[] = {"", "short", "../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r", "aaaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaa",
                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(aoidc_dir_store_key(p, bad[i]));
    }
    assert_null(aoidc_dir_handle("aoidc:d:u:x"));
    /* client text never reaches the key syntax, and keys stay short */
    const char *uk = aoidc_dir_user_key(p, "main", "evil sub\r\nset x 0 0 1");
    assert_null(strpbrk(uk, " \r\n"));
    assert_true(strlen(uk) < AOIDC_STORE_KEY_MAX);
    assert_string_equal(aoidc_dir_email_key(p, "Alice@Example.COM"), aoidc_dir_email_key(p, "alice@example.com"));
    assert_string_not_equal(aoidc_dir_user_key(p, "a", "bc"), aoidc_dir_user_key(p, "ab", "c"));
    assert_string_equal(aoidc_dir_page_key(p, "k", 0), "k");
    assert_string_equal(aoidc_dir_page_key(p, "k", 3), "k.3");
}

static void test_add_list_remove(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *a1 = login(p, st, "main", "alice", "sid-1", "alice@example.com", "Alice Liddell", 3600);
    const char *a2 = login(p, st, "main", "alice", "sid-2", "alice@example.com", "Alice Liddell", 3600);
    const char *b1 = login(p, st, "other", "bob", NULL, "bob@example.com", NULL, 3600);

    apr_array_header_t *all = query(p, st, AOIDC_DIR_Q_ALL, NULL, NULL);
    assert_int_equal(all->nelts, 3);
    assert_true(has(all, a1) && has(all, a2) && has(all, b1));
    apr_array_header_t *u = query(p, st, AOIDC_DIR_Q_USER, "main", "alice");
    assert_int_equal(u->nelts, 2);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_USER, "other", "alice")->nelts, 0);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_PROVIDER, "other", NULL)->nelts, 1);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_PROVIDER, "main", NULL)->nelts, 2);
    apr_array_header_t *sid = query(p, st, AOIDC_DIR_Q_SID, "main", "sid-2");
    assert_int_equal(sid->nelts, 1);
    assert_true(has(sid, a2));
    assert_int_equal(query(p, st, AOIDC_DIR_Q_EMAIL, NULL, "ALICE@example.com")->nelts, 2);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_EMAIL, "other", "alice@example.com")->nelts, 0);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_NAME, NULL, "alice liddell")->nelts, 2);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_NAME, NULL, "Bob")->nelts, 0);

    /* what a listing shows: handle, user, provider, times, node, client, UA summary */
    const aoidc_dir_info_t *in = &APR_ARRAY_IDX(sid, 0, aoidc_dir_info_t);
    assert_string_equal(in->handle, a2);
    assert_string_equal(in->sub, "alice");
    assert_string_equal(in->provider, "main");
    assert_string_equal(in->email, "alice@example.com");
    assert_string_equal(in->node, "node-a");
    assert_string_equal(in->client_ip, "192.0.2.7");
    assert_string_equal(in->user_agent, "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"); /* raw: the console summarises */
    assert_true(in->created > 0 && in->expires == in->created + 3600 && in->last_seen == in->created);

    /* logout: record deleted, entries removed */
    aoidc_session_t s = {0};
    s.created = in->created;
    s.provider = "main";
    s.sub = "alice";
    s.sid = "sid-2";
    assert_int_equal(st->del(st, aoidc_dir_store_key(p, a2)), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_remove(st, &keys, p, a2, &s), APR_SUCCESS);
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, aoidc_dir_user_key(p, "main", "alice"), now(), &entries),
                     APR_SUCCESS);
    assert_int_equal(entries->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(entries, 0, aoidc_dir_entry_t).id, a1);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, aoidc_dir_sid_key(p, "main", "sid-2"), now(), &entries),
                     APR_SUCCESS);
    assert_int_equal(entries->nelts, 0);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_ALL, NULL, NULL)->nelts, 2);
    /* removing again is harmless */
    assert_int_equal(aoidc_dir_remove(st, &keys, p, a2, &s), APR_SUCCESS);
}

static void test_values_encrypted(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *h = login(p, st, "main", "alice", "sid-1", "alice@example.com", NULL, 3600);
    apr_size_t len;
    const char *v = mem_store_peek(st, aoidc_dir_user_key(p, "main", "alice"), &len, NULL);
    assert_non_null(v);
    assert_null(memmem(v, len, h, strlen(h)));
    v = mem_store_peek(st, aoidc_dir_email_key(p, "alice@example.com"), &len, NULL);
    assert_non_null(v);
    assert_null(memmem(v, len, "alice", 5));
    /* another key cannot read a list: empty and APR_EINVAL, not garbage */
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &other_keys, p, aoidc_dir_user_key(p, "main", "alice"), now(), &entries),
                     APR_EINVAL);
    assert_int_equal(entries->nelts, 0);
    /* a list moved to another key does not decrypt (AAD = key) */
    apr_size_t l2;
    const char *v2 = mem_store_peek(st, aoidc_dir_user_key(p, "main", "alice"), &l2, NULL);
    assert_int_equal(st->set(st, aoidc_dir_user_key(p, "main", "bob"), v2, l2, 60), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, aoidc_dir_user_key(p, "main", "bob"), now(), &entries),
                     APR_EINVAL);
}

static void test_expiry_drop(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t t0 = 1800000000;
    aoidc_store_t *st = mem_store_create(p, t0);
    const char *key = "aoidc:d:u:test";
    aoidc_dir_entry_t e1 = {"short-lived", t0 + 50}, e2 = {"long-lived", t0 + 5000};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &e1, NULL, t0, NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &e2, NULL, t0, NULL, NULL), APR_SUCCESS);
    /* the key lives just past its newest entry */
    long ttl;
    assert_non_null(mem_store_peek(st, key, NULL, &ttl));
    assert_true(ttl >= 5000 && ttl <= 5000 + 120);
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, t0 + 100, &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(entries, 0, aoidc_dir_entry_t).id, "long-lived");
    /* the next update compacts it away for good */
    aoidc_dir_entry_t e3 = {"third", t0 + 6000};
    mem_store_set_now(st, t0 + 100);
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &e3, NULL, t0 + 100, NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, t0, &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 2);
    /* re-adding an entry keeps one copy with the later expiry */
    aoidc_dir_entry_t e3b = {"third", t0 + 7000};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &e3b, NULL, t0 + 100, NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, t0, &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 2);
    assert_int_equal(APR_ARRAY_IDX(entries, 1, aoidc_dir_entry_t).expires, t0 + 7000);
    /* after the newest expiry the key itself is gone */
    mem_store_set_now(st, t0 + 7000 + 61);
    assert_null(mem_store_peek(st, key, NULL, NULL));
}

static void test_sessions_expire_out_of_listing(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *s1 = login(p, st, "main", "alice", NULL, NULL, NULL, 60);
    const char *s2 = login(p, st, "main", "alice", NULL, NULL, NULL, 7200);
    aoidc_dir_query_t q = {AOIDC_DIR_Q_USER, "main", "alice", now() + 120, 3600, 0, 0};
    mem_store_set_now(st, now() + 120);
    apr_array_header_t *infos;
    int next;
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, 1);
    assert_false(has(infos, s1));
    assert_true(has(infos, s2));
    /* a record that vanished early (inactivity) is skipped though its entry lives */
    assert_int_equal(st->del(st, aoidc_dir_store_key(p, s2)), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, 0);
}

static void test_bound(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t t0 = 1800000000;
    aoidc_store_t *st = mem_store_create(p, t0);
    const char *key = "aoidc:d:u:bound";
    int n = AOIDC_DIR_LIST_MAX + 5;
    for (int i = 0; i < n; i++) {
        aoidc_dir_entry_t e = {apr_psprintf(p, "%043d", i), t0 + 3600};
        assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &e, NULL, t0, NULL, NULL), APR_SUCCESS);
    }
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, t0, &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, AOIDC_DIR_LIST_MAX);
    /* the oldest went first */
    assert_string_equal(APR_ARRAY_IDX(entries, 0, aoidc_dir_entry_t).id, apr_psprintf(p, "%043d", 5));
    apr_size_t len;
    assert_non_null(mem_store_peek(st, key, &len, NULL));
    assert_true(len <= AOIDC_STORE_VALUE_MAX);
    /* long ids: the byte bound holds too */
    const char *key2 = "aoidc:d:m:long";
    for (int i = 0; i < 200; i++) {
        char *id = apr_psprintf(p, "main\t%0500d", i);
        aoidc_dir_entry_t e = {id, t0 + 3600};
        assert_int_equal(aoidc_dir_list_update(st, &keys, p, key2, &e, NULL, t0, NULL, NULL), APR_SUCCESS);
    }
    assert_non_null(mem_store_peek(st, key2, &len, NULL));
    assert_true(len <= AOIDC_DIR_LIST_BYTES + 64);
    /* an id over the limit is refused, not truncated */
    aoidc_dir_entry_t big = {apr_psprintf(p, "%0600d", 1), t0 + 10};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key2, &big, NULL, t0, NULL, NULL), APR_EINVAL);
    /* a page says it is full instead of evicting */
    const char *key3 = "aoidc:d:b:1";
    int full = 0;
    for (int i = 0; i < AOIDC_DIR_LIST_MAX; i++) {
        aoidc_dir_entry_t e = {apr_psprintf(p, "%043d", i), t0 + 3600};
        assert_int_equal(aoidc_dir_list_update(st, &keys, p, key3, &e, NULL, t0, &full, NULL), APR_SUCCESS);
    }
    aoidc_dir_entry_t one_more = {apr_psprintf(p, "%043d", 99999), t0 + 3600};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key3, &one_more, NULL, t0, &full, NULL), APR_ENOSPC);
    assert_int_equal(full, 1);
}

static void test_bucket_pages(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    /* fill page 0 of the current bucket, then log in: page .1 takes it */
    apr_int64_t b = now() / AOIDC_DIR_BUCKET;
    const char *base = aoidc_dir_bucket_key(p, b);
    for (int i = 0; i < AOIDC_DIR_LIST_MAX; i++) {
        aoidc_dir_entry_t e = {apr_psprintf(p, "%043d", i), now() + 3600};
        int full = 0;
        assert_int_equal(aoidc_dir_list_update(st, &keys, p, base, &e, NULL, now(), &full, NULL), APR_SUCCESS);
    }
    if (now() / AOIDC_DIR_BUCKET != b) {
        skip(); /* crossed a bucket boundary while filling */
    }
    const char *h = login(p, st, "main", "carol", NULL, NULL, NULL, 3600);
    assert_non_null(mem_store_peek(st, aoidc_dir_page_key(p, base, 1), NULL, NULL));
    aoidc_dir_query_t q = {AOIDC_DIR_Q_ALL, NULL, NULL, now(), 3600, 0, 1};
    apr_array_header_t *infos;
    int next;
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, 1); /* newest first: carol, page 1 */
    assert_string_equal(APR_ARRAY_IDX(infos, 0, aoidc_dir_info_t).handle, h);
    /* logout finds it on page 1 */
    aoidc_session_t s = {0};
    s.created = now();
    s.provider = "main";
    s.sub = "carol";
    assert_int_equal(aoidc_dir_remove(st, &keys, p, h, &s), APR_SUCCESS);
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, aoidc_dir_page_key(p, base, 1), now(), &entries),
                     APR_SUCCESS);
    assert_int_equal(entries->nelts, 0);
}

/* The race: writer A reads the list, writer B (another node) slips in a
 * whole update before A's cas lands. A must lose the cas, re-read and
 * write both entries. */
typedef struct {
    apr_pool_t *p;
    const char *key;
    int times;   /* how many more interleavings */
    int counter;
} race_t;

static void interleave(mem_store_t *ms, const char *key, void *baton)
{
    race_t *r = baton;
    aoidc_store_t *st = mem_store_base(ms);
    if (strcmp(key, r->key) != 0) {
        mem_store_set_hook(st, interleave, r);
        return;
    }
    aoidc_dir_entry_t e = {apr_psprintf(r->p, "writer-b-%d", r->counter++), now() + 3600};
    assert_int_equal(aoidc_dir_list_update(st, &keys, r->p, r->key, &e, NULL, now(), NULL, NULL), APR_SUCCESS);
    if (--r->times > 0) {
        mem_store_set_hook(st, interleave, r);
    }
}

static void test_cas_race_loses_nothing(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *key = "aoidc:d:u:race";
    apr_array_header_t *entries;
    /* on a missing key (add races add) */
    race_t r = {p, key, 1, 0};
    mem_store_set_hook(st, interleave, &r);
    aoidc_dir_entry_t a = {"writer-a-0", now() + 3600};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &a, NULL, now(), NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, now(), &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 2);
    /* on an existing key (cas races cas), several times in a row */
    r.times = 3;
    mem_store_set_hook(st, interleave, &r);
    aoidc_dir_entry_t a2 = {"writer-a-1", now() + 3600};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &a2, NULL, now(), NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, now(), &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 6);
    assert_true(st->stats.cas >= 4);
    /* a remove racing an add keeps the add */
    r.times = 1;
    mem_store_set_hook(st, interleave, &r);
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, NULL, "writer-a-0", now(), NULL, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, now(), &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 6); /* -1 removed, +1 by writer B */
    /* a writer that always loses gives up with APR_EAGAIN, not a blind write */
    r.times = 1000;
    mem_store_set_hook(st, interleave, &r);
    aoidc_dir_entry_t a3 = {"writer-a-2", now() + 3600};
    assert_int_equal(aoidc_dir_list_update(st, &keys, p, key, &a3, NULL, now(), NULL, NULL), APR_EAGAIN);
    mem_store_set_hook(st, NULL, NULL);
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, key, now(), &entries), APR_SUCCESS);
    for (int i = 0; i < entries->nelts; i++) {
        assert_string_not_equal(APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t).id, "writer-a-2");
    }
    assert_int_equal(entries->nelts, 6 + AOIDC_DIR_CAS_RETRIES);
}

/* Two logins of one user on two nodes interleaved in every list. */
typedef struct {
    apr_pool_t *p;
    aoidc_store_t *st;
    const char *handle;
    aoidc_session_t s;
    int done;
} login_race_t;

static void second_login(mem_store_t *ms, const char *key, void *baton)
{
    login_race_t *lr = baton;
    (void)key;
    if (!lr->done) {
        lr->done = 1;
        assert_int_equal(aoidc_dir_add(mem_store_base(ms), &keys, lr->p, lr->handle, &lr->s), APR_SUCCESS);
    }
}

static void test_concurrent_logins(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    aoidc_session_t s = {0};
    s.created = s.last_seen = now();
    s.expires = now() + 3600;
    s.provider = "main";
    s.sub = "alice";
    s.sid = "shared-sid";
    aoidc_claim_t c[] = {{"email", "alice@example.com"}};
    s.claims = c;
    s.nclaims = 1;
    login_race_t lr = {p, st, NULL, s, 0};
    lr.handle = aoidc_dir_handle(aoidc_session_store_key(p, &keys, aoidc_random_token(p, 32)));
    lr.s.node = "node-b";
    const char *h1 = aoidc_dir_handle(aoidc_session_store_key(p, &keys, aoidc_random_token(p, 32)));
    mem_store_set_hook(st, second_login, &lr);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h1, &s), APR_SUCCESS);
    assert_true(lr.done);
    const char *lists[] = {aoidc_dir_bucket_key(p, s.created / AOIDC_DIR_BUCKET),
                           aoidc_dir_provider_bucket_key(p, "main", s.created / AOIDC_DIR_BUCKET),
                           aoidc_dir_user_key(p, "main", "alice"), aoidc_dir_sid_key(p, "main", "shared-sid")};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        apr_array_header_t *entries;
        assert_int_equal(aoidc_dir_read_list(st, &keys, p, lists[i], now(), &entries), APR_SUCCESS);
        assert_int_equal(entries->nelts, 2);
    }
}

static void test_revoke(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *a1 = login(p, st, "main", "alice", "sid-1", NULL, NULL, 3600);
    const char *a2 = login(p, st, "main", "alice", "sid-2", NULL, NULL, 3600);
    const char *b1 = login(p, st, "main", "bob", "sid-3", NULL, NULL, 3600);
    const char *c1 = login(p, st, "other", "carol", "sid-4", NULL, NULL, 3600);
    int count = -1;

    /* by handle; malformed and unknown handles are skipped */
    apr_array_header_t *hs = apr_array_make(p, 3, sizeof(const char *));
    APR_ARRAY_PUSH(hs, const char *) = "not a handle";
    APR_ARRAY_PUSH(hs, const char *) = a1;
    APR_ARRAY_PUSH(hs, const char *) = aoidc_dir_handle(aoidc_session_store_key(p, &keys, "x"));
    assert_int_equal(aoidc_dir_revoke_handles(st, &keys, p, hs, &count), APR_SUCCESS);
    assert_int_equal(count, 1);
    assert_null(mem_store_peek(st, aoidc_dir_store_key(p, a1), NULL, NULL));
    assert_int_equal(query(p, st, AOIDC_DIR_Q_USER, "main", "alice")->nelts, 1);

    /* by sid, with a sub that does not match: nothing */
    assert_int_equal(aoidc_dir_revoke_sid(st, &keys, p, "main", "sid-2", "bob", now(), &count), APR_SUCCESS);
    assert_int_equal(count, 0);
    assert_int_equal(aoidc_dir_revoke_sid(st, &keys, p, "main", "sid-2", "alice", now(), &count), APR_SUCCESS);
    assert_int_equal(count, 1);
    assert_null(mem_store_peek(st, aoidc_dir_store_key(p, a2), NULL, NULL));

    /* by user at another provider: nothing; by provider: only that one */
    assert_int_equal(aoidc_dir_revoke_user(st, &keys, p, "other", "bob", now(), &count), APR_SUCCESS);
    assert_int_equal(count, 0);
    assert_int_equal(aoidc_dir_revoke_provider(st, &keys, p, "other", now(), 3600, &count), APR_SUCCESS);
    assert_int_equal(count, 1);
    assert_null(mem_store_peek(st, aoidc_dir_store_key(p, c1), NULL, NULL));
    assert_non_null(mem_store_peek(st, aoidc_dir_store_key(p, b1), NULL, NULL));
    assert_int_equal(aoidc_dir_revoke_user(st, &keys, p, "main", "bob", now(), &count), APR_SUCCESS);
    assert_int_equal(count, 1);
    assert_int_equal(query(p, st, AOIDC_DIR_Q_ALL, NULL, NULL)->nelts, 0);
}

static void test_paging(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *hs[7];
    for (int i = 0; i < 7; i++) {
        hs[i] = login(p, st, "main", apr_psprintf(p, "user%d", i), NULL, NULL, NULL, 3600);
    }
    /* one gone: pages are still filled up to the limit */
    assert_int_equal(st->del(st, aoidc_dir_store_key(p, hs[3])), AOIDC_STORE_OK);
    aoidc_dir_query_t q = {AOIDC_DIR_Q_ALL, NULL, NULL, now(), 3600, 0, 2};
    apr_hash_t *seen = apr_hash_make(p);
    int pages = 0, total = 0;
    do {
        apr_array_header_t *infos;
        int next;
        assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_SUCCESS);
        assert_true(infos->nelts <= 2);
        for (int i = 0; i < infos->nelts; i++) {
            const char *h = APR_ARRAY_IDX(infos, i, aoidc_dir_info_t).handle;
            assert_null(apr_hash_get(seen, h, APR_HASH_KEY_STRING));
            apr_hash_set(seen, h, APR_HASH_KEY_STRING, h);
            total++;
        }
        pages++;
        q.offset = next;
    } while (q.offset >= 0 && pages < 10);
    assert_int_equal(total, 6);
    assert_int_equal(pages, 3);
}

static void test_store_down(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    login(p, st, "main", "alice", NULL, NULL, NULL, 3600);
    mem_store_set_down(st, 1);
    aoidc_session_t s = {0};
    s.created = now();
    s.expires = now() + 60;
    s.provider = "main";
    s.sub = "bob";
    assert_int_equal(aoidc_dir_add(st, &keys, p, aoidc_random_token(p, 32), &s), APR_EGENERAL);
    aoidc_dir_query_t q = {AOIDC_DIR_Q_ALL, NULL, NULL, now(), 3600, 0, 0};
    apr_array_header_t *infos;
    int next, count;
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_EGENERAL);
    assert_int_equal(aoidc_dir_revoke_user(st, &keys, p, "main", "alice", now(), &count), APR_EGENERAL);
    /* malformed input */
    q.kind = AOIDC_DIR_Q_USER;
    assert_int_equal(aoidc_dir_query(st, &keys, p, &q, &infos, &next), APR_EINVAL);
    assert_int_equal(aoidc_dir_add(st, &keys, p, "bad handle", &s), APR_EINVAL);
}

/* A session as login() makes it, not yet stored nor listed. */
static aoidc_session_t mk_session(const char *provider, const char *sub, const char *sid, const char *email,
                                  apr_int64_t created)
{
    static aoidc_claim_t claim;
    aoidc_session_t s = {0};
    s.created = s.last_seen = created;
    s.expires = created + 3600;
    s.provider = provider;
    s.sub = s.user = sub;
    s.sid = sid ? sid : "";
    if (email) {
        claim.name = "email";
        claim.value = email;
        s.claims = &claim;
        s.nclaims = 1;
    }
    return s;
}

static int list_has(apr_pool_t *p, aoidc_store_t *st, const char *key, const char *id)
{
    apr_array_header_t *entries;
    if (aoidc_dir_read_list(st, &keys, p, key, now(), &entries) != APR_SUCCESS) {
        return 0;
    }
    for (int i = 0; i < entries->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(entries, i, aoidc_dir_entry_t).id, id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Strict add: a list that cannot be written fails the add, and the lists
 * written before are cleaned up (the caller deletes the record). */
static void test_add_strict(void **state)
{
    apr_pool_t *p = *state;
    static const char *const failing[] = {"aoidc:d:b:", "aoidc:d:p:", "aoidc:d:u:", "aoidc:d:sid:", "aoidc:d:m:"};
    for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
        aoidc_store_t *st = mem_store_create(p, now());
        aoidc_session_t s = mk_session("main", "alice", "sid-1", "alice@example.org", now());
        const char *h = aoidc_random_token(p, 32);
        apr_int64_t b = s.created / AOIDC_DIR_BUCKET;
        mem_store_fail_writes(st, failing[i]);
        assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s), APR_EGENERAL);
        mem_store_fail_writes(st, NULL);
        assert_false(list_has(p, st, aoidc_dir_bucket_key(p, b), h));
        assert_false(list_has(p, st, aoidc_dir_provider_bucket_key(p, "main", b), h));
        assert_false(list_has(p, st, aoidc_dir_user_key(p, "main", "alice"), h));
        assert_false(list_has(p, st, aoidc_dir_sid_key(p, "main", "sid-1"), h));
        /* and it works once the store does */
        assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s), APR_SUCCESS);
        assert_true(list_has(p, st, aoidc_dir_bucket_key(p, b), h));
        assert_true(list_has(p, st, aoidc_dir_user_key(p, "main", "alice"), h));
        assert_true(list_has(p, st, aoidc_dir_sid_key(p, "main", "sid-1"), h));
    }
}

/* A full user list revokes its oldest sessions instead of forgetting them. */
static void test_user_cap_revokes_oldest(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *ukey = aoidc_dir_user_key(p, "main", "alice");
    const char *first = NULL, *second = NULL;
    for (int i = 0; i < AOIDC_DIR_LIST_MAX; i++) {
        const char *h = aoidc_random_token(p, 32);
        aoidc_dir_entry_t e = {h, now() + 3600};
        assert_int_equal(aoidc_dir_list_update(st, &keys, p, ukey, &e, NULL, now(), NULL, NULL), APR_SUCCESS);
        if (i < 2) {
            /* a record for the oldest two (its content does not matter here) */
            assert_int_equal(st->set(st, aoidc_dir_store_key(p, h), "x", 1, 3600), AOIDC_STORE_OK);
            *(i == 0 ? &first : &second) = h;
        }
    }
    const char *h = login(p, st, "main", "alice", NULL, NULL, NULL, 3600);
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &keys, p, ukey, now(), &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, AOIDC_DIR_LIST_MAX);
    assert_true(list_has(p, st, ukey, h));
    assert_false(list_has(p, st, ukey, first));
    /* the session that left the index was revoked with it */
    assert_null(mem_store_peek(st, aoidc_dir_store_key(p, first), NULL, NULL));
    assert_non_null(mem_store_peek(st, aoidc_dir_store_key(p, second), NULL, NULL));
    assert_non_null(mem_store_peek(st, aoidc_dir_store_key(p, h), NULL, NULL));
    /* a delete that fails keeps the list as it was (and refuses the login) */
    aoidc_session_t s = mk_session("main", "alice", NULL, NULL, now());
    const char *h2 = aoidc_random_token(p, 32);
    mem_store_fail_writes(st, "aoidc:s:");
    assert_int_equal(aoidc_dir_add(st, &keys, p, h2, &s), APR_EGENERAL);
    mem_store_fail_writes(st, NULL);
    assert_true(list_has(p, st, ukey, second));
    assert_false(list_has(p, st, ukey, h2));
    assert_non_null(mem_store_peek(st, aoidc_dir_store_key(p, second), NULL, NULL));
}

/* Every page of a bucket full: the login is refused (the index stays whole). */
static void test_bucket_full_refuses(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t t0 = (now() / AOIDC_DIR_BUCKET) * AOIDC_DIR_BUCKET + 1;
    aoidc_store_t *st = mem_store_create(p, t0);
    const char *base = aoidc_dir_bucket_key(p, t0 / AOIDC_DIR_BUCKET);
    /* long ids fill a page by its byte bound in ~120 entries (then handles
     * the rest): cheaper than AOIDC_DIR_LIST_MAX handles, and the same "full" */
    for (int page = 0; page < AOIDC_DIR_BUCKET_PAGES; page++) {
        for (int i = 0, full = 0, w = 490; w > 0; i++) {
            aoidc_dir_entry_t e = {apr_psprintf(p, "%02d%0*d", page, w, i), t0 + 86400};
            apr_status_t rv = aoidc_dir_list_update(st, &keys, p, aoidc_dir_page_key(p, base, page), &e, NULL, t0,
                                                    &full, NULL);
            assert_int_equal(rv, full ? APR_ENOSPC : APR_SUCCESS);
            if (full) {
                w = w == 490 ? 41 : 0;
                full = 0;
            }
        }
    }
    aoidc_session_t s = mk_session("main", "bob", NULL, NULL, t0);
    const char *h = aoidc_random_token(p, 32);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s), APR_ENOSPC);
    assert_false(list_has(p, st, aoidc_dir_user_key(p, "main", "bob"), h));
}

static void test_epochs(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t t = now();
    aoidc_store_t *st = mem_store_create(p, t);
    aoidc_session_t old = mk_session("main", "alice", NULL, NULL, t - 10);
    aoidc_session_t same = mk_session("main", "alice", NULL, NULL, t);
    aoidc_session_t later = mk_session("main", "alice", NULL, NULL, t + 1);
    aoidc_session_t bob = mk_session("main", "bob", NULL, NULL, t - 10);
    aoidc_session_t other = mk_session("other", "alice", NULL, NULL, t - 10);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &old), AOIDC_DIR_LIVE);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "alice", t), APR_SUCCESS);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &old), AOIDC_DIR_REVOKED);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &same), AOIDC_DIR_REVOKED);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &later), AOIDC_DIR_LIVE);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &bob), AOIDC_DIR_LIVE);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &other), AOIDC_DIR_LIVE);
    /* never decreasing */
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "alice", t - 100), APR_SUCCESS);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &same), AOIDC_DIR_REVOKED);
    apr_size_t len;
    long ttl;
    const char *v = mem_store_peek(st, aoidc_dir_epoch_user_key(p, "main", "alice"), &len, &ttl);
    assert_non_null(v);
    assert_string_equal(v, apr_psprintf(p, "%" APR_INT64_T_FMT, t));
    assert_int_equal(ttl, AOIDC_DIR_EPOCH_TTL);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "alice", t + 5), APR_SUCCESS);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &later), AOIDC_DIR_REVOKED);
    /* the provider's epoch covers every user of it */
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "other", NULL, t), APR_SUCCESS);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &other), AOIDC_DIR_REVOKED);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &bob), AOIDC_DIR_LIVE);
    /* a value we did not write fails closed */
    assert_int_equal(st->set(st, aoidc_dir_epoch_user_key(p, "main", "bob"), "12x", 3, 60), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &bob), AOIDC_DIR_REVOKED);
    /* store down: unknown, and the epoch cannot be set */
    mem_store_set_down(st, 1);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &old), AOIDC_DIR_UNKNOWN);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "carol", t), APR_EGENERAL);
    mem_store_set_down(st, 0);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "", NULL, t), APR_EINVAL);
}

/* The index lost a session (its user list was overwritten): revoke by user
 * and by provider still end it, through the epoch. */
static void test_revoke_without_index(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    const char *h = login(p, st, "main", "alice", NULL, NULL, NULL, 3600);
    const char *h2 = login(p, st, "other", "dave", NULL, NULL, NULL, 3600);
    aoidc_session_t s;
    apr_size_t len;
    const char *val = mem_store_peek(st, aoidc_dir_store_key(p, h), &len, NULL);
    assert_int_equal(aoidc_session_decode(p, &keys, aoidc_dir_store_key(p, h), (const unsigned char *)val, len, &s),
                     APR_SUCCESS);
    assert_int_equal(st->del(st, aoidc_dir_user_key(p, "main", "alice")), AOIDC_STORE_OK);
    int count = -1;
    apr_int64_t later = now() + 1; /* a revocation after the login */
    assert_int_equal(aoidc_dir_revoke_user(st, &keys, p, "main", "alice", later, &count), APR_SUCCESS);
    assert_int_equal(count, 0); /* the walk found nothing ... */
    assert_non_null(mem_store_peek(st, aoidc_dir_store_key(p, h), NULL, NULL));
    /* ... but the session is refused at its next touch */
    assert_int_equal(aoidc_dir_session_revoked(st, p, &s), AOIDC_DIR_REVOKED);
    /* the same for a provider whose buckets lost it */
    aoidc_session_t s2;
    val = mem_store_peek(st, aoidc_dir_store_key(p, h2), &len, NULL);
    assert_int_equal(aoidc_session_decode(p, &keys, aoidc_dir_store_key(p, h2), (const unsigned char *)val, len, &s2),
                     APR_SUCCESS);
    apr_int64_t b = s2.created / AOIDC_DIR_BUCKET;
    assert_int_equal(st->del(st, aoidc_dir_provider_bucket_key(p, "other", b)), AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_revoke_provider(st, &keys, p, "other", later, 3600, &count), APR_SUCCESS);
    assert_int_equal(count, 0);
    assert_int_equal(aoidc_dir_session_revoked(st, p, &s2), AOIDC_DIR_REVOKED);
}

/* A login that races a revocation of its user: the revocation wrote its
 * epoch before walking, the login reads the epochs after writing the
 * lists, so the add fails and cleans up. */
static void test_login_racing_revoke(void **state)
{
    apr_pool_t *p = *state;
    apr_int64_t t = now();
    aoidc_store_t *st = mem_store_create(p, t);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "alice", t), APR_SUCCESS);
    aoidc_session_t s = mk_session("main", "alice", "sid-9", NULL, t);
    const char *h = aoidc_random_token(p, 32);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s), APR_EACCES);
    assert_false(list_has(p, st, aoidc_dir_user_key(p, "main", "alice"), h));
    assert_false(list_has(p, st, aoidc_dir_bucket_key(p, t / AOIDC_DIR_BUCKET), h));
    assert_false(list_has(p, st, aoidc_dir_sid_key(p, "main", "sid-9"), h));
    /* a provider revocation likewise */
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "other", NULL, t), APR_SUCCESS);
    aoidc_session_t s2 = mk_session("other", "bob", NULL, NULL, t);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s2), APR_EACCES);
    /* a later login is fine */
    aoidc_session_t s3 = mk_session("main", "alice", NULL, NULL, t + 1);
    assert_int_equal(aoidc_dir_add(st, &keys, p, h, &s3), APR_SUCCESS);
}

/* Lists written under the previous key stay readable during a rotation,
 * and the next update rewrites them under the current key. */
static void test_lists_across_rotation(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    aoidc_keys_t rolled;
    aoidc_keys_derive((const unsigned char *)"another key, 32 bytes or more!!!", 32, &rolled);
    assert_int_equal(aoidc_keys_set_previous(&rolled, &keys), APR_SUCCESS);
    const char *h = login(p, st, "main", "alice", NULL, NULL, NULL, 3600); /* under keys */
    aoidc_dir_query_t q = {AOIDC_DIR_Q_USER, "main", "alice", now(), 3600, 0, 0};
    apr_array_header_t *infos;
    int next;
    assert_int_equal(aoidc_dir_query(st, &rolled, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(infos, 0, aoidc_dir_info_t).handle, h);
    /* an update under the rolled keys keeps the old entry and re-seals */
    const char *ukey = aoidc_dir_user_key(p, "main", "alice");
    aoidc_dir_entry_t e = {aoidc_random_token(p, 32), now() + 60};
    assert_int_equal(aoidc_dir_list_update(st, &rolled, p, ukey, &e, NULL, now(), NULL, NULL), APR_SUCCESS);
    apr_size_t len;
    const char *v = mem_store_peek(st, ukey, &len, NULL);
    assert_int_equal((unsigned char)v[0], rolled.id);
    apr_array_header_t *entries;
    assert_int_equal(aoidc_dir_read_list(st, &other_keys, p, ukey, now(), &entries), APR_SUCCESS);
    assert_int_equal(entries->nelts, 2);
}

static void test_node_snapshot(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, now());
    static const char *algs[] = {"RS256", NULL};
    aoidc_provider_t pr = {0};
    pr.name = "main";
    pr.issuer = "https://op.example.test";
    pr.client_id = "app";
    pr.client_secret = "TOP-SECRET-VALUE";
    pr.secret_file = "/etc/secret/app.secret";
    pr.scope = "openid email";
    pr.id_token_algs = algs;
    apr_array_header_t *prs = apr_array_make(p, 1, sizeof(aoidc_provider_t *));
    APR_ARRAY_PUSH(prs, aoidc_provider_t *) = &pr;
    aoidc_node_info_t in = {0};
    in.node = "node-a";
    in.version = "0.1.0";
    in.published = now();
    in.key_id = aoidc_node_key_id(p, &keys);
    in.providers = prs;
    assert_int_equal(strlen(in.key_id), 16);
    assert_string_not_equal(in.key_id, aoidc_node_key_id(p, &other_keys));
    assert_int_equal(aoidc_node_publish(st, p, &in), APR_SUCCESS);
    in.node = "node-b";
    assert_int_equal(aoidc_node_publish(st, p, &in), APR_SUCCESS);
    const char *json;
    assert_int_equal(aoidc_node_read(st, p, "node-a", &json), APR_SUCCESS);
    assert_non_null(strstr(json, "\"client_id\":\"app\""));
    assert_null(strstr(json, "TOP-SECRET"));
    assert_null(strstr(json, "/etc/secret"));
    apr_array_header_t *names, *times;
    assert_int_equal(aoidc_node_read_index(st, p, &names, &times), APR_SUCCESS);
    assert_int_equal(names->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(names, 0, const char *), "node-a");
    assert_string_equal(APR_ARRAY_IDX(names, 1, const char *), "node-b");
    /* unchanged: no write; changed: written */
    int written = -1;
    unsigned sets = st->stats.sets;
    in.published += 5;
    assert_int_equal(aoidc_node_publish_if_changed(st, p, &in, 3600, &written), APR_SUCCESS);
    assert_int_equal(written, 0);
    assert_int_equal(st->stats.sets, sets);
    pr.scope = "openid";
    assert_int_equal(aoidc_node_publish_if_changed(st, p, &in, 3600, &written), APR_SUCCESS);
    assert_int_equal(written, 1);
    /* bad names never become keys */
    assert_null(aoidc_node_key(p, "a b"));
    assert_null(aoidc_node_key(p, "x:y"));
    in.node = "";
    assert_int_equal(aoidc_node_publish(st, p, &in), APR_EINVAL);
}

/* A store with a multi-get that counts: gets (single-key reads) and mget
 * calls; its mget answers each key with the inner store's get, so results
 * are those of per-key gets. */
typedef struct {
    aoidc_store_t pub;
    aoidc_store_t *inner;
    int gets, mgets, mget_keys;
} counting_t;

static aoidc_store_rc_t c_get(aoidc_store_t *s, apr_pool_t *p, const char *key, char **val, apr_size_t *len,
                              uint64_t *cas)
{
    counting_t *c = (counting_t *)s;
    c->gets++;
    return c->inner->get(c->inner, p, key, val, len, cas);
}

static aoidc_store_rc_t c_set(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    aoidc_store_t *in = ((counting_t *)s)->inner;
    return in->set(in, key, val, len, ttl);
}

static aoidc_store_rc_t c_add(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl)
{
    aoidc_store_t *in = ((counting_t *)s)->inner;
    return in->add(in, key, val, len, ttl);
}

static aoidc_store_rc_t c_cas(aoidc_store_t *s, const char *key, const void *val, apr_size_t len, long ttl,
                              uint64_t cas)
{
    aoidc_store_t *in = ((counting_t *)s)->inner;
    return in->cas(in, key, val, len, ttl, cas);
}

static aoidc_store_rc_t c_del(aoidc_store_t *s, const char *key)
{
    aoidc_store_t *in = ((counting_t *)s)->inner;
    return in->del(in, key);
}

static void c_mget(aoidc_store_t *s, apr_pool_t *p, aoidc_store_item_t *items, int n)
{
    counting_t *c = (counting_t *)s;
    c->mgets++;
    c->mget_keys += n;
    for (int i = 0; i < n; i++) {
        items[i].val = NULL;
        items[i].len = 0;
        items[i].rc = c->inner->get(c->inner, p, items[i].key, &items[i].val, &items[i].len, NULL);
    }
}

static counting_t *counting_create(apr_pool_t *p, aoidc_store_t *inner)
{
    counting_t *c = apr_pcalloc(p, sizeof(*c));
    c->inner = inner;
    c->pub.name = "counting";
    c->pub.get = c_get;
    c->pub.set = c_set;
    c->pub.add = c_add;
    c->pub.cas = c_cas;
    c->pub.del = c_del;
    c->pub.mget = c_mget;
    return c;
}

/* aoidc_store_mget: with and without a backend mget, the answers are those
 * of per-key gets: present, missing, repeated keys, many keys, store down. */
static void test_store_mget(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *mem = mem_store_create(p, now());
    counting_t *cs = counting_create(p, mem);
    enum { N = 300, ITEMS = 2 * N + 3 };
    for (int i = 0; i < N; i += 2) {
        const char *v = apr_psprintf(p, "value-%d", i);
        assert_int_equal(mem->set(mem, apr_psprintf(p, "k%d", i), v, strlen(v), 60), AOIDC_STORE_OK);
    }
    aoidc_store_item_t *items = apr_pcalloc(p, sizeof(*items) * ITEMS);
    for (int i = 0; i < ITEMS; i++) {
        items[i].key = apr_psprintf(p, "k%d", i < 2 * N ? i % N : 4); /* each key twice, then k4 thrice more */
        items[i].rc = AOIDC_STORE_ERROR;
    }
    aoidc_store_t *stores[2] = {mem, &cs->pub};
    for (int k = 0; k < 2; k++) {
        int gets = (int)mem->stats.gets;
        aoidc_store_mget(stores[k], p, items, ITEMS);
        assert_int_equal((int)mem->stats.gets - gets, ITEMS); /* fallback and counting mget: a get per key */
        for (int i = 0; i < ITEMS; i++) {
            char *v = NULL;
            apr_size_t len = 0;
            aoidc_store_rc_t rc = mem->get(mem, p, items[i].key, &v, &len, NULL);
            assert_int_equal(items[i].rc, rc);
            if (rc == AOIDC_STORE_OK) {
                assert_int_equal(items[i].len, len);
                assert_string_equal(items[i].val, v);
            }
            else {
                assert_int_equal(items[i].rc, AOIDC_STORE_MISSING);
            }
        }
        assert_int_equal(items[ITEMS - 1].rc, AOIDC_STORE_OK);
        assert_string_equal(items[ITEMS - 1].val, "value-4");
    }
    assert_int_equal(cs->mgets, 1);
    assert_int_equal(cs->gets, 0);
    aoidc_store_mget(&cs->pub, p, items, 0); /* nothing asked: no call */
    assert_int_equal(cs->mgets, 1);
    mem_store_set_down(mem, 1);
    aoidc_store_mget(mem, p, items, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(items[i].rc, AOIDC_STORE_DOWN);
    }
    mem_store_set_down(mem, 0);
}

/* A listing page of many sessions reads the bucket pages and the session
 * records with a few multi-gets, not a get per page or per session, and lists
 * exactly what per-key reads list. */
static void test_listing_uses_mget(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *mem = mem_store_create(p, now());
    counting_t *cs = counting_create(p, mem);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        login(p, mem, i % 2 ? "main" : "other", apr_psprintf(p, "user%d", i), NULL, NULL, NULL, 3600);
    }
    /* one record gone: skipped, the page still fills up */
    aoidc_dir_query_t q0 = {AOIDC_DIR_Q_ALL, NULL, NULL, now(), 3600, 0, 0};
    apr_array_header_t *all;
    int next;
    assert_int_equal(aoidc_dir_query(mem, &keys, p, &q0, &all, &next), APR_SUCCESS);
    assert_int_equal(all->nelts, N);
    assert_int_equal(mem->del(mem, aoidc_dir_store_key(p, APR_ARRAY_IDX(all, 10, aoidc_dir_info_t).handle)),
                     AOIDC_STORE_OK);
    assert_int_equal(aoidc_dir_query(mem, &keys, p, &q0, &all, &next), APR_SUCCESS);
    assert_int_equal(all->nelts, N - 1);

    aoidc_dir_query_t q = {AOIDC_DIR_Q_ALL, NULL, NULL, now(), 3600, 0, 50};
    apr_array_header_t *infos;
    assert_int_equal(aoidc_dir_query(&cs->pub, &keys, p, &q, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, 50);
    assert_true(next > 0);
    for (int i = 0; i < 50; i++) {
        assert_string_equal(APR_ARRAY_IDX(infos, i, aoidc_dir_info_t).handle,
                            APR_ARRAY_IDX(all, i, aoidc_dir_info_t).handle);
    }
    assert_int_equal(cs->gets, 0);
    /* the bucket pages of the window in page rounds (page 0 of every bucket,
     * then page 1 where page 0 exists), then the records of the page (one
     * more batch for the one that is gone) */
    assert_true(cs->mgets <= 5);

    /* the whole listing, 299 records: batches, still no get per session */
    cs->mgets = cs->gets = 0;
    assert_int_equal(aoidc_dir_query(&cs->pub, &keys, p, &q0, &infos, &next), APR_SUCCESS);
    assert_int_equal(infos->nelts, N - 1);
    assert_int_equal(cs->gets, 0);
    assert_true(cs->mgets <= 2 + (N + 127) / 128);

    /* aoidc_dir_load: one multi-get for the entries, missing ones skipped */
    apr_array_header_t *entries = apr_array_make(p, N, sizeof(aoidc_dir_entry_t));
    for (int i = 0; i < all->nelts; i++) {
        aoidc_dir_entry_t e = {APR_ARRAY_IDX(all, i, aoidc_dir_info_t).handle, now() + 60};
        APR_ARRAY_PUSH(entries, aoidc_dir_entry_t) = e;
    }
    aoidc_dir_entry_t gone = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", now() + 60};
    APR_ARRAY_PUSH(entries, aoidc_dir_entry_t) = gone;
    apr_array_header_t *handles, *sessions;
    cs->mgets = cs->gets = 0;
    assert_int_equal(aoidc_dir_load(&cs->pub, &keys, p, entries, &handles, &sessions), APR_SUCCESS);
    assert_int_equal(handles->nelts, N - 1);
    assert_int_equal(sessions->nelts, N - 1);
    assert_int_equal(cs->mgets, 1);
    assert_int_equal(cs->gets, 0);
    for (int i = 0; i < handles->nelts; i++) {
        assert_string_equal(APR_ARRAY_IDX(handles, i, const char *), APR_ARRAY_IDX(all, i, aoidc_dir_info_t).handle);
        assert_string_equal(APR_ARRAY_IDX(sessions, i, aoidc_session_t).sub, APR_ARRAY_IDX(all, i, aoidc_dir_info_t).sub);
    }
    /* the store down: the failure is reported */
    mem_store_set_down(mem, 1);
    assert_int_equal(aoidc_dir_load(&cs->pub, &keys, p, entries, &handles, &sessions), APR_EGENERAL);
    assert_int_equal(aoidc_dir_query(&cs->pub, &keys, p, &q, &infos, &next), APR_EGENERAL);
    mem_store_set_down(mem, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_handles_and_keys), T(test_add_list_remove), T(test_values_encrypted),
        T(test_expiry_drop),      T(test_sessions_expire_out_of_listing), T(test_bound),
        T(test_bucket_pages),     T(test_cas_race_loses_nothing),         T(test_concurrent_logins),
        T(test_revoke),           T(test_paging),                         T(test_store_down),
        T(test_node_snapshot),
        T(test_add_strict),       T(test_user_cap_revokes_oldest),       T(test_bucket_full_refuses),
        T(test_epochs),           T(test_revoke_without_index),          T(test_login_racing_revoke),
        T(test_lists_across_rotation), T(test_store_mget), T(test_listing_uses_mget),
    };
    return UNIT_RUN("directory", tests);
}
