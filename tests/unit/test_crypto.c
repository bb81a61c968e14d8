/* aoidc_crypto: key derivation, AEAD, secret files. */
#include "unit.h"
#include "aoidc_crypto.h"

#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <string.h>

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef-test";

static void test_keys_differ_per_purpose(void **state)
{
    aoidc_keys_t k;
    assert_int_equal(aoidc_keys_derive(secret, sizeof(secret) - 1, &k), APR_SUCCESS);
    assert_memory_not_equal(k.state, k.session, AOIDC_KEY_LEN);
    assert_memory_not_equal(k.session, k.index, AOIDC_KEY_LEN);
    aoidc_keys_t k2;
    assert_int_equal(aoidc_keys_derive(secret, sizeof(secret) - 1, &k2), APR_SUCCESS);
    assert_memory_equal(k.session, k2.session, AOIDC_KEY_LEN);
    assert_int_equal(aoidc_keys_derive(secret, 31, &k2), APR_EINVAL);
}

static void test_aead(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t k;
    aoidc_keys_derive(secret, sizeof(secret) - 1, &k);
    unsigned char *ct, *ct2, *pt;
    apr_size_t ctlen, ct2len, ptlen;
    assert_int_equal(aoidc_aead_seal(p, k.session, "aad", 3, "hello", 5, &ct, &ctlen), APR_SUCCESS);
    assert_int_equal(ctlen, 5 + AOIDC_AEAD_OVERHEAD);
    assert_int_equal(aoidc_aead_seal(p, k.session, "aad", 3, "hello", 5, &ct2, &ct2len), APR_SUCCESS);
    assert_memory_not_equal(ct, ct2, ctlen); /* fresh nonce each time */
    assert_int_equal(aoidc_aead_open(p, k.session, "aad", 3, ct, ctlen, &pt, &ptlen), APR_SUCCESS);
    assert_int_equal(ptlen, 5);
    assert_string_equal((char *)pt, "hello");
    /* wrong AAD, wrong key, every flipped byte, truncation */
    assert_int_equal(aoidc_aead_open(p, k.session, "aaD", 3, ct, ctlen, &pt, &ptlen), APR_EGENERAL);
    assert_int_equal(aoidc_aead_open(p, k.state, "aad", 3, ct, ctlen, &pt, &ptlen), APR_EGENERAL);
    for (apr_size_t i = 1; i < ctlen; i++) {
        ct[i] ^= 0x01;
        assert_int_not_equal(aoidc_aead_open(p, k.session, "aad", 3, ct, ctlen, &pt, &ptlen), APR_SUCCESS);
        ct[i] ^= 0x01;
    }
    ct[0] = 9;
    assert_int_equal(aoidc_aead_open(p, k.session, "aad", 3, ct, ctlen, &pt, &ptlen), APR_EINVAL);
    assert_int_equal(aoidc_aead_open(p, k.session, "aad", 3, ct, AOIDC_AEAD_OVERHEAD - 1, &pt, &ptlen), APR_EINVAL);
}

/* Each thread keeps its cipher context keyed with the last key: opens that
 * alternate keys, follow a failure, or run in many threads at once must each
 * judge as a fresh context would. */
static const unsigned char *ab_ct[2];
static apr_size_t ab_len[2];
static aoidc_keys_t ab_keys;

static int open_ab(apr_pool_t *p, int which, int tamper)
{
    unsigned char *pt, *ct = apr_pmemdup(p, ab_ct[which], ab_len[which]);
    apr_size_t ptlen;
    if (tamper) {
        ct[ab_len[which] - 1] ^= 0x80;
    }
    const unsigned char *key = which ? ab_keys.state : ab_keys.session;
    apr_status_t rv = aoidc_aead_open(p, key, "aad", 3, ct, ab_len[which], &pt, &ptlen);
    return rv == APR_SUCCESS && ptlen == 6 && memcmp(pt, which ? "second" : "first.", 6) == 0;
}

static void *APR_THREAD_FUNC open_worker(apr_thread_t *t, void *data)
{
    int *bad = data;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    for (int i = 0; i < 2000; i++) {
        int which = (i / 3) % 2, tamper = i % 7 == 0;
        if (open_ab(p, which, tamper) != !tamper) {
            (*bad)++;
        }
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    (void)t;
    return NULL;
}

static void test_aead_context_reuse(void **state)
{
    apr_pool_t *p = *state;
    unsigned char *ct;
    aoidc_keys_derive(secret, sizeof(secret) - 1, &ab_keys);
    assert_int_equal(aoidc_aead_seal(p, ab_keys.session, "aad", 3, "first.", 6, &ct, &ab_len[0]), APR_SUCCESS);
    ab_ct[0] = ct;
    assert_int_equal(aoidc_aead_seal(p, ab_keys.state, "aad", 3, "second", 6, &ct, &ab_len[1]), APR_SUCCESS);
    ab_ct[1] = ct;
    /* same key twice, the other key, back, after a failed tag, after a wrong key */
    int seq[][2] = {{0, 0}, {0, 0}, {1, 0}, {0, 0}, {0, 1}, {0, 0}, {1, 1}, {1, 0}, {0, 0}};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
        assert_int_equal(open_ab(p, seq[i][0], seq[i][1]), !seq[i][1]);
    }
    unsigned char *pt;
    apr_size_t ptlen;
    assert_int_not_equal(aoidc_aead_open(p, ab_keys.state, "aad", 3, ab_ct[0], ab_len[0], &pt, &ptlen), APR_SUCCESS);
    assert_true(open_ab(p, 0, 0));
    apr_thread_t *th[8];
    int bad[8] = {0};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(apr_thread_create(&th[i], NULL, open_worker, &bad[i], p), APR_SUCCESS);
    }
    for (int i = 0; i < 8; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        assert_int_equal(bad[i], 0);
    }
}

static const unsigned char secret_b[] = "a brand new key, 32 bytes or more, for rotation";
static const unsigned char secret_c[] = "a third key that nobody here holds, 32+ bytes";

/* Key rotation: written under the current key, read under current or
 * previous, refused cleanly under a key we do not hold. */
static void test_rotation(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t a, b, b_with_a, c;
    assert_int_equal(aoidc_keys_derive(secret, sizeof(secret) - 1, &a), APR_SUCCESS);
    assert_int_equal(aoidc_keys_derive(secret_b, sizeof(secret_b) - 1, &b), APR_SUCCESS);
    assert_int_equal(aoidc_keys_derive(secret_c, sizeof(secret_c) - 1, &c), APR_SUCCESS);
    assert_int_equal(aoidc_keys_derive(secret_b, sizeof(secret_b) - 1, &b_with_a), APR_SUCCESS);
    assert_int_equal(aoidc_keys_set_previous(&b_with_a, &a), APR_SUCCESS);
    assert_true(a.id >= 2 && b.id >= 2 && c.id >= 2);
    assert_null(a.previous);
    /* the key id is stable: every node derives the same from the same file */
    aoidc_keys_t a2;
    aoidc_keys_derive(secret, sizeof(secret) - 1, &a2);
    assert_int_equal(a.id, a2.id);
    if (a.id == b.id || a.id == c.id || b.id == c.id) {
        skip(); /* 1 in 254: the test keys would need changing */
    }
    unsigned char *ct_a, *ct_b, *pt;
    apr_size_t la, lb, ptlen;
    int by_prev = -1;
    assert_int_equal(aoidc_keys_seal(p, &a, AOIDC_KEY_SESSION, "k", 1, "old", 3, &ct_a, &la), APR_SUCCESS);
    assert_int_equal(ct_a[0], a.id);
    /* a node on "B A" writes under B ... */
    assert_int_equal(aoidc_keys_seal(p, &b_with_a, AOIDC_KEY_SESSION, "k", 1, "new", 3, &ct_b, &lb), APR_SUCCESS);
    assert_int_equal(ct_b[0], b.id);
    /* ... reads both, and says which key opened it */
    assert_int_equal(aoidc_keys_open(p, &b_with_a, AOIDC_KEY_SESSION, "k", 1, ct_a, la, &pt, &ptlen, &by_prev),
                     APR_SUCCESS);
    assert_string_equal((char *)pt, "old");
    assert_int_equal(by_prev, 1);
    assert_int_equal(aoidc_keys_open(p, &b_with_a, AOIDC_KEY_SESSION, "k", 1, ct_b, lb, &pt, &ptlen, &by_prev),
                     APR_SUCCESS);
    assert_string_equal((char *)pt, "new");
    assert_int_equal(by_prev, 0);
    /* a node still on A alone reads A, refuses B cleanly (unknown key id) */
    assert_int_equal(aoidc_keys_open(p, &a, AOIDC_KEY_SESSION, "k", 1, ct_a, la, &pt, &ptlen, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_keys_open(p, &a, AOIDC_KEY_SESSION, "k", 1, ct_b, lb, &pt, &ptlen, NULL), APR_EGENERAL);
    /* after A is dropped: B alone refuses A's values, so does an unrelated C */
    assert_int_equal(aoidc_keys_open(p, &b, AOIDC_KEY_SESSION, "k", 1, ct_a, la, &pt, &ptlen, NULL), APR_EGENERAL);
    assert_int_equal(aoidc_keys_open(p, &c, AOIDC_KEY_SESSION, "k", 1, ct_b, lb, &pt, &ptlen, NULL), APR_EGENERAL);
    /* the purposes stay apart under rotation too */
    assert_int_equal(aoidc_keys_open(p, &b_with_a, AOIDC_KEY_STATE, "k", 1, ct_a, la, &pt, &ptlen, NULL),
                     APR_EGENERAL);
    /* the key id is authenticated: relabelling A's value as B's fails */
    ct_a[0] = b.id;
    assert_int_equal(aoidc_keys_open(p, &b_with_a, AOIDC_KEY_SESSION, "k", 1, ct_a, la, &pt, &ptlen, NULL),
                     APR_EGENERAL);
    /* values sealed before key ids (version byte 1) open under either key */
    unsigned char *legacy;
    apr_size_t ll;
    assert_int_equal(aoidc_aead_seal(p, a.session, "k", 1, "legacy", 6, &legacy, &ll), APR_SUCCESS);
    assert_int_equal(legacy[0], AOIDC_AEAD_LEGACY);
    assert_int_equal(aoidc_keys_open(p, &a, AOIDC_KEY_SESSION, "k", 1, legacy, ll, &pt, &ptlen, NULL), APR_SUCCESS);
    assert_int_equal(aoidc_keys_open(p, &b_with_a, AOIDC_KEY_SESSION, "k", 1, legacy, ll, &pt, &ptlen, &by_prev),
                     APR_SUCCESS);
    assert_int_equal(by_prev, 1);
    assert_int_equal(aoidc_keys_open(p, &b, AOIDC_KEY_SESSION, "k", 1, legacy, ll, &pt, &ptlen, NULL), APR_EGENERAL);
    /* too short */
    assert_int_equal(aoidc_keys_open(p, &b, AOIDC_KEY_SESSION, "k", 1, ct_b, 5, &pt, &ptlen, NULL), APR_EINVAL);
    /* one step only, and never to itself */
    aoidc_keys_t b2;
    aoidc_keys_derive(secret_b, sizeof(secret_b) - 1, &b2);
    assert_int_equal(aoidc_keys_set_previous(&b2, &b), APR_EINVAL);
    assert_int_equal(aoidc_keys_set_previous(&c, &b_with_a), APR_EINVAL);
    assert_int_equal(aoidc_keys_set_previous(&c, NULL), APR_SUCCESS);
}

static const char *write_tmp(apr_pool_t *p, const char *content)
{
    char *path = apr_pstrdup(p, "/tmp/aoidc-unit-XXXXXX");
    apr_file_t *f;
    assert_int_equal(apr_file_mktemp(&f, path, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL, p), APR_SUCCESS);
    apr_size_t n = strlen(content);
    apr_file_write_full(f, content, n, NULL);
    apr_file_close(f);
    return path;
}

static void test_key_file(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t k;
    const char *err = NULL;
    const char *good = write_tmp(p, "0123456789abcdef0123456789abcdef\n");
    assert_int_equal(aoidc_keys_load_file(p, good, &k, &err), APR_SUCCESS);
    const char *shortf = write_tmp(p, "tooshort\n");
    assert_int_equal(aoidc_keys_load_file(p, shortf, &k, &err), APR_EINVAL);
    assert_non_null(strstr(err, "at least 32"));
    assert_null(strstr(err, "tooshort")); /* never the content */
    assert_int_not_equal(aoidc_keys_load_file(p, "/nonexistent/key", &k, &err), APR_SUCCESS);
    const char *secret_val;
    const char *sf = write_tmp(p, "s3cret \r\n");
    assert_int_equal(aoidc_read_secret_file(p, sf, 100, &secret_val, &err), APR_SUCCESS);
    assert_string_equal(secret_val, "s3cret");
    const char *empty = write_tmp(p, "\n");
    assert_int_equal(aoidc_read_secret_file(p, empty, 100, &secret_val, &err), APR_EINVAL);
    apr_file_remove(good, p);
    apr_file_remove(shortf, p);
    apr_file_remove(sf, p);
    apr_file_remove(empty, p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_keys_differ_per_purpose), UNIT_TEST(test_aead), UNIT_TEST(test_key_file),
        UNIT_TEST(test_rotation), UNIT_TEST(test_aead_context_reuse),
    };
    return UNIT_RUN("crypto", tests);
}
