/* aoidc_crypto: key derivation, AEAD, secret files. */
#include "unit.h"
#include "aoidc_crypto.h"

#include <apr_file_io.h>
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
    };
    return UNIT_RUN("crypto", tests);
}
