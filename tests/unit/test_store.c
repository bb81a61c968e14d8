/* aoidc_store: server lists with replicas=, and replica placement. */
#include "unit.h"
#include "aoidc_store.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static void test_servers_parse(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_servers_t sv;
    assert_null(aoidc_store_servers_parse(p, "10.0.0.1 10.0.0.2:11212,mc3", &sv));
    assert_int_equal(sv.n, 3);
    assert_int_equal(sv.replicas, 1); /* the default with 2+ servers */
    assert_string_equal(sv.name[0], "10.0.0.1:11211");
    assert_string_equal(sv.name[1], "10.0.0.2:11212");
    assert_int_equal(sv.port[1], 11212);
    assert_null(aoidc_store_servers_parse(p, "127.0.0.1", &sv));
    assert_int_equal(sv.replicas, 0); /* one server: nothing to copy to */
    assert_null(aoidc_store_servers_parse(p, "a b c replicas=2", &sv));
    assert_int_equal(sv.replicas, 2);
    assert_null(aoidc_store_servers_parse(p, "replicas=0 a b", &sv));
    assert_int_equal(sv.replicas, 0);
    assert_null(aoidc_store_servers_parse(p, "[::1]:11300 [::1]", &sv));
    assert_string_equal(sv.name[0], "[::1]:11300");
    assert_string_equal(sv.host[0], "::1");

    static const char *bad[] = {"a replicas=1", "a b replicas=2", "a b replicas=", "a b replicas=x",
                                "a b replicas=-1", "a a:11211", "A:11211 a", "", "replicas=0",
                                "a;11211", "::1", "a b replicas=1x", NULL};
    for (int i = 0; bad[i]; i++) {
        const char *err = aoidc_store_servers_parse(p, bad[i], &sv);
        assert_non_null(err);
    }
    char *many = "";
    for (int i = 0; i <= AOIDC_STORE_SERVERS_MAX; i++) {
        many = apr_psprintf(p, "%s h%d", many, i);
    }
    assert_non_null(aoidc_store_servers_parse(p, many, &sv));
    /* the directive check is the same parser */
    assert_null(aoidc_store_memcached_check(p, "a b replicas=1"));
    assert_non_null(aoidc_store_memcached_check(p, "a replicas=1"));
}

static void test_order_distinct_and_listing_independent(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_servers_t a, b;
    assert_null(aoidc_store_servers_parse(p, "m1:1 m2:1 m3:1 m4:1 replicas=2", &a));
    assert_null(aoidc_store_servers_parse(p, "m4:1 m2:1 m1:1 m3:1 replicas=2", &b));
    for (int k = 0; k < 500; k++) {
        const char *key = apr_psprintf(p, "aoidc:s:%d", k);
        int oa[AOIDC_STORE_SERVERS_MAX], ob[AOIDC_STORE_SERVERS_MAX];
        aoidc_store_order(&a, key, oa);
        aoidc_store_order(&b, key, ob);
        for (int c = 0; c < 3; c++) {
            assert_true(oa[c] >= 0 && oa[c] < 4);
            for (int d = 0; d < c; d++) {
                assert_int_not_equal(oa[c], oa[d]); /* each copy on its own server */
            }
            /* the same servers in the same order, however they were listed */
            assert_string_equal(a.name[oa[c]], b.name[ob[c]]);
        }
    }
}

static void test_order_spread_and_stability(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_servers_t three, two;
    assert_null(aoidc_store_servers_parse(p, "127.0.0.1:40001 127.0.0.1:40002 127.0.0.1:40003", &three));
    assert_null(aoidc_store_servers_parse(p, "127.0.0.1:40001 127.0.0.1:40002", &two));
    int primary[3] = {0}, moved = 0;
    const int keys = 3000;
    for (int k = 0; k < keys; k++) {
        const char *key = apr_psprintf(p, "aoidc:s:%08x", (unsigned)k * 2654435761u);
        int o3[AOIDC_STORE_SERVERS_MAX], o2[AOIDC_STORE_SERVERS_MAX];
        aoidc_store_order(&three, key, o3);
        aoidc_store_order(&two, key, o2);
        primary[o3[0]]++;
        /* without the third server, only the keys it held move */
        if (o3[0] != 2 && o2[0] != o3[0]) {
            moved++;
        }
        /* and a key whose primary was the third one goes to its replica */
        if (o3[0] == 2) {
            assert_int_equal(o2[0], o3[1]);
        }
    }
    assert_int_equal(moved, 0);
    for (int i = 0; i < 3; i++) {
        assert_true(primary[i] > keys / 4 && primary[i] < keys / 2);
    }
}

/* memcached's "lru_crawler metadump" lines, as the resync of a returned server reads them;
 * each line is copied into a malloc'd buffer of its exact length (no NUL after it), so that
 * ASan sees a read past its end */
static int dump_line(apr_pool_t *p, const char *text, const char **key, long long *exp)
{
    size_t n = strlen(text);
    char *line = malloc(n ? n : 1);
    assert_non_null(line);
    memcpy(line, text, n);
    int rc = aoidc_store_metadump_line(p, line, n, key, exp);
    free(line);
    return rc;
}

static void test_metadump_line(void **state)
{
    apr_pool_t *p = *state;
    const char *key = NULL;
    long long exp = 0;
    assert_int_equal(dump_line(p, "key=aoidc%3As%3Aab-c_1 exp=1796485000 la=1796480000 cas=12 fetch=no cls=5 size=1400",
                               &key, &exp), 1);
    assert_string_equal(key, "aoidc:s:ab-c_1");
    assert_true(exp == 1796485000LL);
    assert_int_equal(dump_line(p, "key=aoidc:epoch exp=-1 la=1 cas=2 fetch=no cls=1 size=70", &key, &exp), 1);
    assert_string_equal(key, "aoidc:epoch");
    assert_true(exp == -1);
    /* exp may come later among the fields */
    assert_int_equal(dump_line(p, "key=k la=1 exp=7", &key, &exp), 1);
    assert_true(exp == 7);

    char big[AOIDC_STORE_KEY_MAX + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[AOIDC_STORE_KEY_MAX] = '\0'; /* exactly the longest key */
    assert_int_equal(dump_line(p, apr_psprintf(p, "key=%s exp=1", big), &key, &exp), 1);
    assert_int_equal((int)strlen(key), AOIDC_STORE_KEY_MAX);
    big[AOIDC_STORE_KEY_MAX] = 'k';
    big[AOIDC_STORE_KEY_MAX + 1] = '\0'; /* one more: not a key of ours */
    assert_int_equal(dump_line(p, apr_psprintf(p, "key=%s exp=1", big), &key, &exp), 0);

    static const char *bad[] = {
        "", "END", "BUSY currently processing crawler request", "ERROR", "key=", "key= exp=1", "key=a",
        "key=a exp=", "key=a exp=-", "key=a exp=12x", "key=a%4 exp=1", "key=a%zz exp=1", "key=a%00b exp=1",
        "key=a+b exp=1", "kex=a exp=1", "key=a la=1", "key=a exp", "key=a exp=123456789012345678901",
        NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(dump_line(p, bad[i], &key, &exp), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_servers_parse),
        UNIT_TEST(test_order_distinct_and_listing_independent),
        UNIT_TEST(test_order_spread_and_stability),
        UNIT_TEST(test_metadump_line),
    };
    return UNIT_RUN("store", tests);
}
