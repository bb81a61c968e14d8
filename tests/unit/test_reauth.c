/* aoidc_reauth: re-authentication after revocation and for step-up, and the
 * max_age that a login state carries to its callback. */
#include "unit.h"
#include "aoidc_directory.h"
#include "aoidc_reauth.h"
#include "aoidc_state.h"
#include "mem_store.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1800000000
#define SKEW 60

static void test_check(void **state)
{
    (void)state;
    /* no revocation, no max_age: anything goes (auth_time or not) */
    assert_int_equal(aoidc_reauth_check(0, -1, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    assert_int_equal(aoidc_reauth_check(NOW - 86400, -1, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    /* revoked at NOW-100: an authentication from before (or unknown) asks again */
    assert_int_equal(aoidc_reauth_check(NOW - 200, -1, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_ASK);
    assert_int_equal(aoidc_reauth_check(NOW - 100, -1, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_ASK);
    assert_int_equal(aoidc_reauth_check(0, -1, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_ASK);
    assert_int_equal(aoidc_reauth_check(NOW - 99, -1, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    /* a revocation at or after the attempt's start raced it: not asked here (the directory refuses it) */
    assert_int_equal(aoidc_reauth_check(NOW - 200, -1, NOW - 1, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    assert_int_equal(aoidc_reauth_check(0, -1, NOW + 2, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    /* asked with max_age=0: a fresh authentication passes, an old one is refused, never asked again */
    assert_int_equal(aoidc_reauth_check(NOW - 5, 0, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    assert_int_equal(aoidc_reauth_check(NOW - 200, 0, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_STALE);
    assert_int_equal(aoidc_reauth_check(0, 0, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_STALE);
    assert_int_equal(aoidc_reauth_check(NOW - SKEW, 0, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    assert_int_equal(aoidc_reauth_check(NOW - SKEW - 1, 0, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_STALE);
    /* step-up max_age=300 */
    assert_int_equal(aoidc_reauth_check(NOW - 300 - SKEW, 300, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_OK);
    assert_int_equal(aoidc_reauth_check(NOW - 301 - SKEW, 300, 0, NOW - 1, NOW, SKEW), AOIDC_REAUTH_STALE);
    /* a recent enough authentication that is still before the revocation is refused */
    assert_int_equal(aoidc_reauth_check(NOW - 200, 300, NOW - 100, NOW - 1, NOW, SKEW), AOIDC_REAUTH_STALE);

    assert_false(aoidc_reauth_too_old(0, -1, NOW, SKEW));
    assert_true(aoidc_reauth_too_old(0, 300, NOW, SKEW));
    assert_false(aoidc_reauth_too_old(NOW - 360, 300, NOW, SKEW));
    assert_true(aoidc_reauth_too_old(NOW - 361, 300, NOW, SKEW));
}

static void test_auth_time(void **state)
{
    (void)state;
    assert_int_equal(aoidc_reauth_auth_time("1800000000"), 1800000000);
    assert_int_equal(aoidc_reauth_auth_time(NULL), 0);
    assert_int_equal(aoidc_reauth_auth_time(""), 0);
    assert_int_equal(aoidc_reauth_auth_time("0"), 0);
    assert_int_equal(aoidc_reauth_auth_time("-5"), 0);
    assert_int_equal(aoidc_reauth_auth_time("12x"), 0);
    assert_int_equal(aoidc_reauth_auth_time("99999999999999999999"), 0);
    assert_int_equal(aoidc_reauth_auth_time("922337203685477580"), 922337203685477580LL);
    assert_int_equal(aoidc_reauth_auth_time("9223372036854775807"), 0); /* near the limit: refused */
}

static void test_epoch(void **state)
{
    apr_pool_t *p = *state;
    aoidc_store_t *st = mem_store_create(p, NOW);
    apr_int64_t e = -1;
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "alice", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, 0);
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", "alice", NOW - 50), APR_SUCCESS);
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "alice", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, NOW - 50);
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "bob", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, 0);
    assert_int_equal(aoidc_reauth_epoch(st, p, "two", "alice", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, 0);
    /* a provider-wide revocation covers everyone, the later epoch wins */
    assert_int_equal(aoidc_dir_revoke_epoch_set(st, p, "main", NULL, NOW - 10), APR_SUCCESS);
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "alice", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, NOW - 10);
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "bob", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, NOW - 10);
    /* an unreadable value counts as now */
    const char *key = aoidc_dir_epoch_user_key(p, "two", "carol");
    st->set(st, key, "garbage", 7, 60);
    assert_int_equal(aoidc_reauth_epoch(st, p, "two", "carol", NOW, &e), APR_SUCCESS);
    assert_int_equal(e, NOW);
    mem_store_set_down(st, 1);
    assert_int_equal(aoidc_reauth_epoch(st, p, "main", "alice", NOW, &e), APR_EGENERAL);
    assert_int_equal(e, 0);
}

static void test_state_max_age(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t keys;
    aoidc_keys_derive((const unsigned char *)"0123456789abcdef0123456789abcdef", 32, &keys);
    aoidc_login_state_t *st, *back;
    const char *v;
    assert_int_equal(aoidc_state_new(p, "main", "/", NOW, &st), APR_SUCCESS);
    assert_int_equal(st->max_age, -1);
    assert_int_equal(aoidc_state_encode(p, &keys, st, &v), APR_SUCCESS);
    const char *name = aoidc_state_cookie_name(p, st->state);
    assert_int_equal(aoidc_state_decode(p, &keys, name, v, &back), APR_SUCCESS);
    assert_int_equal(back->max_age, -1);
    st->max_age = 0;
    assert_int_equal(aoidc_state_encode(p, &keys, st, &v), APR_SUCCESS);
    assert_int_equal(aoidc_state_decode(p, &keys, name, v, &back), APR_SUCCESS);
    assert_int_equal(back->max_age, 0);
    st->max_age = 300;
    assert_int_equal(aoidc_state_encode(p, &keys, st, &v), APR_SUCCESS);
    assert_int_equal(aoidc_state_decode(p, &keys, name, v, &back), APR_SUCCESS);
    assert_int_equal(back->max_age, 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_check), UNIT_TEST(test_auth_time),
                                       UNIT_TEST(test_epoch), UNIT_TEST(test_state_max_age)};
    return UNIT_RUN("reauth", tests);
}
