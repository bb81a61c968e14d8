/* aoidc_token (the bearer cache, scopes) and aoidc_introspect (RFC 7662 answers). */
#include "unit.h"
#include "aoidc_introspect.h"
#include "aoidc_token.h"
#include "aoidc_util.h"

#include <apr_thread_proc.h>
#include <apr_time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static aoidc_principal_t principal(const char *sub, apr_int64_t exp)
{
    static const aoidc_claim_t claims[] = {{"scope", "api:read api:write"}, {"email", "a@b"}};
    aoidc_principal_t p = {"main", sub, "api:read api:write", exp, 2, claims};
    return p;
}

static void test_cache_hit_miss_expiry(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *c;
    assert_int_equal(aoidc_token_cache_create(p, 100, &c), APR_SUCCESS);
    aoidc_principal_t out;
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out));
    aoidc_principal_t in = principal("alice", 2000);
    aoidc_token_cache_put(c, "token-1", 7, &in);
    /* a prefix or extension of a cached token is another token */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 6, 1000, &out));
    assert_false(aoidc_token_cache_get(c, p, "token-10", 8, 1000, &out));
    assert_true(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out));
    assert_string_equal(out.sub, "alice");
    assert_string_equal(out.provider, "main");
    assert_string_equal(out.scope, "api:read api:write");
    assert_int_equal(out.nclaims, 2);
    assert_string_equal(out.claims[1].value, "a@b");
    assert_int_equal(out.exp, 2000);
    assert_false(aoidc_token_cache_get(c, p, "token-2", 7, 1000, &out)); /* another token */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 2000, &out)); /* expired at exp */
    assert_false(aoidc_token_cache_get(c, p, "token-1", 7, 1000, &out)); /* and dropped */
}

static void test_cache_bounded(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *c;
    assert_int_equal(aoidc_token_cache_create(p, 16, &c), APR_SUCCESS);
    aoidc_principal_t in = principal("u", 5000), out;
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        char t[16];
        apr_snprintf(t, sizeof(t), "t%d", i);
        aoidc_token_cache_put(c, t, strlen(t), &in);
    }
    for (int i = 0; i < 1000; i++) {
        char t[16];
        apr_snprintf(t, sizeof(t), "t%d", i);
        hits += aoidc_token_cache_get(c, p, t, strlen(t), 1000, &out);
    }
    assert_true(hits <= 16); /* never more entries than slots */
    assert_true(hits > 0);
}

static void test_scope_has(void **state)
{
    assert_true(aoidc_scope_has("api:read api:write", "api:write"));
    assert_true(aoidc_scope_has("api:read  api:write", "api:read"));
    assert_false(aoidc_scope_has("api:read api:write", "api"));
    assert_false(aoidc_scope_has("api:readx", "api:read"));
    assert_false(aoidc_scope_has("", "api:read"));
    assert_false(aoidc_scope_has(NULL, "api:read"));
}

/* SipHash-2-4: the reference vectors (key 00..0f, message 00..len-1) and
 * OpenSSL's SIPHASH MAC (8-byte output) for every length up to 64. */
static void test_siphash_vectors(void **state)
{
    (void)state;
    unsigned char key[16], msg[64];
    for (int i = 0; i < 16; i++) {
        key[i] = (unsigned char)i;
    }
    for (int i = 0; i < 64; i++) {
        msg[i] = (unsigned char)i;
    }
    assert_true(aoidc_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(aoidc_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    if (!mac) {
        return; /* OpenSSL without SipHash: the two vectors above still hold */
    }
    for (size_t len = 0; len <= sizeof(msg); len++) {
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
        size_t size = 8, outl = 0;
        unsigned char out[16];
        OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_construct_end()};
        assert_int_equal(EVP_MAC_init(ctx, key, sizeof(key), params), 1);
        assert_int_equal(EVP_MAC_update(ctx, msg, len), 1);
        assert_int_equal(EVP_MAC_final(ctx, out, &outl, sizeof(out)), 1);
        assert_int_equal(outl, 8);
        uint64_t want = 0;
        for (int i = 7; i >= 0; i--) {
            want = want << 8 | out[i];
        }
        if (aoidc_siphash24(key, msg, len) != want) {
            fail_msg("siphash of %zu bytes differs from OpenSSL", len);
        }
        EVP_MAC_CTX_free(ctx);
    }
    EVP_MAC_free(mac);
}

/* Tokens that share a victim's slot in one cache (one process) do not
 * share it in another: the slot hash is keyed per cache. */
static void test_cache_slots_keyed(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *a, *b;
    assert_int_equal(aoidc_token_cache_create(p, 16, &a), APR_SUCCESS);
    assert_int_equal(aoidc_token_cache_create(p, 16, &b), APR_SUCCESS);
    aoidc_principal_t in = principal("victim", 5000), out;
    const char *found[8];
    int nfound = 0;
    /* find 8 tokens that evict the victim in cache a */
    for (int i = 0; i < 100000 && nfound < 8; i++) {
        char *t = apr_psprintf(p, "attacker-%d", i);
        aoidc_token_cache_put(a, "victim", 6, &in);
        aoidc_token_cache_put(a, t, strlen(t), &in);
        if (!aoidc_token_cache_get(a, p, "victim", 6, 1000, &out)) {
            found[nfound++] = t;
        }
    }
    assert_int_equal(nfound, 8);
    /* in cache b each of them shares the victim's slot with chance 1/16 */
    int evicted = 0;
    for (int i = 0; i < nfound; i++) {
        aoidc_token_cache_put(b, "victim", 6, &in);
        aoidc_token_cache_put(b, found[i], strlen(found[i]), &in);
        evicted += !aoidc_token_cache_get(b, p, "victim", 6, 1000, &out);
    }
    assert_true(evicted < nfound);
}

static void test_scope_of_claims(void **state)
{
    apr_pool_t *p = *state;
    static const aoidc_claim_t both[] = {{"scp", "x"}, {"scope", "a b"}, {"email", "e"}};
    static const aoidc_claim_t scp[] = {{"scp", "a"}, {"email", "e"}, {"scp", "b"}};
    static const aoidc_claim_t none[] = {{"email", "e"}};
    assert_string_equal(aoidc_scope_of_claims(p, both, 3), "a b");
    assert_string_equal(aoidc_scope_of_claims(p, scp, 3), "a b");
    assert_string_equal(aoidc_scope_of_claims(p, none, 1), "");
    assert_string_equal(aoidc_scope_of_claims(p, NULL, 0), "");
}

static void test_introspect_parse(void **state)
{
    apr_pool_t *p = *state;
    aoidc_introspection_t out;
    const char *why = NULL;
    static const struct {
        const char *body;
        aoidc_introspect_rc_t rc;
    } cases[] = {
        {"{\"active\":true,\"sub\":\"alice\",\"scope\":\"api:read\",\"exp\":2000,\"iss\":\"https://op\","
         "\"aud\":\"https://api\"}", AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"client_id\":\"svc\",\"aud\":[\"x\",\"https://api\"]}", AOIDC_INTROSPECT_ACTIVE},
        /* the audience is not parse's business: an answer for another API is learnt as it is */
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://other\"}", AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"sub\":\"a\"}", AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":false}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":false,\"sub\":\"a\",\"aud\":\"https://api\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":999}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":1000}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":\"2000\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"iss\":\"https://evil\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"iss\":7}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"aud\":\"https://api\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"\",\"aud\":\"https://api\"}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":7}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":[]}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":[\"https://api\",7]}", AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"aud\":\"https://x\"}", AOIDC_INTROSPECT_ERROR},
        {"{\"active\":\"true\",\"sub\":\"a\"}", AOIDC_INTROSPECT_ERROR},
        {"[true]", AOIDC_INTROSPECT_ERROR},
        {"<html>", AOIDC_INTROSPECT_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aoidc_introspect_rc_t rc = aoidc_introspect_parse(p, cases[i].body, strlen(cases[i].body), "https://op",
                                                          1000, &out, &why);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: %d != %d (%s)", i, rc, cases[i].rc, why ? why : "");
        }
        if (rc != AOIDC_INTROSPECT_ERROR && out.active != (rc == AOIDC_INTROSPECT_ACTIVE)) {
            fail_msg("case %zu: active %d", i, out.active);
        }
    }
    const char *ok = "{\"active\":true,\"sub\":\"alice\",\"scope\":\"api:read\",\"exp\":2000,\"aud\":\"https://api\","
                     "\"email\":\"a@b\"}";
    assert_int_equal(aoidc_introspect_parse(p, ok, strlen(ok), "https://op", 1000, &out, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    assert_string_equal(out.sub, "alice");
    assert_string_equal(out.scope, "api:read");
    assert_int_equal(out.exp, 2000);
    assert_true(aoidc_aud_contains(out.aud, "https://api"));
    assert_string_equal(aoidc_claims_get(p, out.claims, out.nclaims, "email", ","), "a@b");
    assert_null(aoidc_claims_get(p, out.claims, out.nclaims, "aud", ","));
    /* aud within the limits only */
    char *many = apr_pstrdup(p, "{\"active\":true,\"sub\":\"a\",\"aud\":[\"x\"");
    for (int i = 1; i < AOIDC_INTROSPECT_AUD_MAX; i++) {
        many = apr_pstrcat(p, many, ",\"x\"", NULL);
    }
    const char *at_max = apr_pstrcat(p, many, "]}", NULL);
    const char *over = apr_pstrcat(p, many, ",\"y\"]}", NULL);
    assert_int_equal(aoidc_introspect_parse(p, at_max, strlen(at_max), "https://op", 1000, &out, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_parse(p, over, strlen(over), "https://op", 1000, &out, &why),
                     AOIDC_INTROSPECT_INACTIVE);
}

static void test_introspect_check(void **state)
{
    apr_pool_t *p = *state;
    static const struct {
        const char *body;
        const char *audience;
        apr_int64_t now;
        aoidc_introspect_rc_t rc;
    } cases[] = {
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\"}", "https://api", 1000, AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\"}", "https://other", 1000, AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":[\"x\",\"https://api\"]}", "https://api", 1000,
         AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":[\"x\",\"https://api\"]}", "x", 1000, AOIDC_INTROSPECT_ACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":[\"x\",\"https://api\"]}", "https://ap", 1000,
         AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\"}", "https://api", 1000, AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":2000}", "https://api", 1999,
         AOIDC_INTROSPECT_ACTIVE},
        /* learnt while valid, used after exp */
        {"{\"active\":true,\"sub\":\"a\",\"aud\":\"https://api\",\"exp\":2000}", "https://api", 2000,
         AOIDC_INTROSPECT_INACTIVE},
        {"{\"active\":false}", "https://api", 1000, AOIDC_INTROSPECT_INACTIVE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aoidc_introspection_t t;
        const char *why = NULL;
        aoidc_introspect_parse(p, cases[i].body, strlen(cases[i].body), "https://op", 1000, &t, &why);
        aoidc_introspect_rc_t rc = aoidc_introspect_check(&t, cases[i].audience, cases[i].now, &why);
        if (rc != cases[i].rc) {
            fail_msg("case %zu: %d != %d (%s)", i, rc, cases[i].rc, why ? why : "");
        }
    }
}

/* The cached record keeps what was learnt: a token introspected for one
 * audience is refused for another after the round trip through the store. */
static void test_introspect_record(void **state)
{
    apr_pool_t *p = *state;
    aoidc_keys_t keys;
    unsigned char secret[32];
    memset(secret, 7, sizeof(secret));
    assert_int_equal(aoidc_keys_derive(secret, sizeof(secret), &keys), APR_SUCCESS);
    const char *key = "aoidc:i2:main:abc";
    const char *body = "{\"active\":true,\"sub\":\"svc\",\"scope\":\"api:read\",\"exp\":5000,"
                       "\"aud\":[\"https://a\",\"https://b\"],\"groups\":[\"g1\",\"g2\"]}";
    aoidc_introspection_t t, back;
    const char *why = NULL;
    apr_int64_t until = 0;
    assert_int_equal(aoidc_introspect_parse(p, body, strlen(body), "https://op", 1000, &t, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    unsigned char *enc;
    apr_size_t enclen;
    assert_int_equal(aoidc_introspect_encode(p, &keys, key, "main", &t, 1000, 1300, &enc, &enclen), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_decode(p, &keys, key, "main", enc, enclen, &back, &until), APR_SUCCESS);
    assert_int_equal(until, 1300);
    assert_true(back.active);
    assert_string_equal(back.sub, "svc");
    assert_int_equal(back.exp, 5000);
    assert_string_equal(back.scope, "api:read");
    assert_int_equal(back.nclaims, t.nclaims);
    assert_string_equal(aoidc_claims_get(p, back.claims, back.nclaims, "groups", ","), "g1,g2");
    assert_null(aoidc_claims_get(p, back.claims, back.nclaims, "aud", ","));
    assert_int_equal(aoidc_introspect_check(&back, "https://a", 1100, &why), AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_check(&back, "https://b", 1100, &why), AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_check(&back, "https://c", 1100, &why), AOIDC_INTROSPECT_INACTIVE);
    /* a string aud too */
    body = "{\"active\":true,\"sub\":\"svc\",\"aud\":\"https://a\"}";
    assert_int_equal(aoidc_introspect_parse(p, body, strlen(body), "https://op", 1000, &t, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_encode(p, &keys, key, "main", &t, 1000, 1300, &enc, &enclen), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_decode(p, &keys, key, "main", enc, enclen, &back, &until), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_check(&back, "https://a", 1100, &why), AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_check(&back, "https://b", 1100, &why), AOIDC_INTROSPECT_INACTIVE);
    /* no aud: refused everywhere, cached or not */
    body = "{\"active\":true,\"sub\":\"svc\"}";
    assert_int_equal(aoidc_introspect_parse(p, body, strlen(body), "https://op", 1000, &t, &why),
                     AOIDC_INTROSPECT_ACTIVE);
    assert_int_equal(aoidc_introspect_encode(p, &keys, key, "main", &t, 1000, 1300, &enc, &enclen), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_decode(p, &keys, key, "main", enc, enclen, &back, &until), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_check(&back, "https://a", 1100, &why), AOIDC_INTROSPECT_INACTIVE);
    /* another provider's record, another key's record: misses */
    assert_int_not_equal(aoidc_introspect_decode(p, &keys, key, "other", enc, enclen, &back, &until), APR_SUCCESS);
    assert_int_not_equal(aoidc_introspect_decode(p, &keys, "aoidc:i2:main:abd", "main", enc, enclen, &back, &until),
                         APR_SUCCESS);
    /* an inactive answer stays inactive */
    body = "{\"active\":false}";
    assert_int_equal(aoidc_introspect_parse(p, body, strlen(body), "https://op", 1000, &t, &why),
                     AOIDC_INTROSPECT_INACTIVE);
    assert_int_equal(aoidc_introspect_encode(p, &keys, key, "main", &t, 1000, 1030, &enc, &enclen), APR_SUCCESS);
    assert_int_equal(aoidc_introspect_decode(p, &keys, key, "main", enc, enclen, &back, &until), APR_SUCCESS);
    assert_false(back.active);
    assert_int_equal(aoidc_introspect_check(&back, "https://a", 1010, &why), AOIDC_INTROSPECT_INACTIVE);
}

/* 64 threads on one cache: each hit is the token's own principal (the
 * striped locks guard each slot), and the lookup rate of 64 threads against
 * one is printed (the contention of the locks; bounded by the cores) */
#define THREADS 64
#define TOKENS 1024

typedef struct {
    aoidc_token_cache_t *c;
    int id, ops, writes;
    long hits;
} tworker_t;

static void *APR_THREAD_FUNC tworker(apr_thread_t *t, void *d)
{
    tworker_t *w = d;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    unsigned x = (unsigned)w->id * 2654435761u + 7;
    for (int i = 0; i < w->ops; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % TOKENS);
        char tok[32], sub[32];
        snprintf(tok, sizeof(tok), "token-%d", k);
        snprintf(sub, sizeof(sub), "user-%d", k);
        aoidc_principal_t out;
        if (aoidc_token_cache_get(w->c, p, tok, strlen(tok), 1000, &out)) {
            if (strcmp(out.sub, sub) != 0) {
                fail_msg("token %d answered '%s'", k, out.sub);
            }
            w->hits++;
        }
        else if (w->writes) {
            aoidc_principal_t in = principal(sub, 5000);
            aoidc_token_cache_put(w->c, tok, strlen(tok), &in);
        }
        if ((i & 255) == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    /* a plain return, not apr_thread_exit: pthread_exit's unwinding trips
     * ASan's stack-use-after-scope check at thread teardown */
    (void)t;
    return NULL;
}

static double token_rate(apr_pool_t *p, aoidc_token_cache_t *c, int n, int ops, int writes, long *hits)
{
    apr_thread_t *th[THREADS];
    tworker_t w[THREADS];
    apr_time_t t0 = apr_time_now();
    for (int i = 0; i < n; i++) {
        w[i] = (tworker_t){c, i, ops, writes, 0};
        assert_int_equal(apr_thread_create(&th[i], NULL, tworker, &w[i], p), APR_SUCCESS);
    }
    *hits = 0;
    for (int i = 0; i < n; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        *hits += w[i].hits;
    }
    double secs = (double)(apr_time_now() - t0) / APR_USEC_PER_SEC;
    return (double)n * ops / (secs > 0 ? secs : 1e-9);
}

static void test_cache_threads(void **state)
{
    apr_pool_t *p = *state;
    aoidc_token_cache_t *c;
    assert_int_equal(aoidc_token_cache_create(p, 4 * TOKENS, &c), APR_SUCCESS);
    long hits;
    token_rate(p, c, THREADS, 5000, 1, &hits); /* racing puts and gets */
    assert_true(hits > 0);
    for (int k = 0; k < TOKENS; k++) {
        char tok[32], sub[32];
        snprintf(tok, sizeof(tok), "token-%d", k);
        snprintf(sub, sizeof(sub), "user-%d", k);
        aoidc_principal_t in = principal(sub, 5000);
        aoidc_token_cache_put(c, tok, strlen(tok), &in);
    }
    double one = token_rate(p, c, 1, 200000, 0, &hits);
    double many = token_rate(p, c, THREADS, 20000, 0, &hits);
    printf("# bearer cache lookups/s: 1 thread %.0f, %d threads %.0f (ratio %.2f; the machine's cores bound it)\n",
           one, THREADS, many, many / one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_cache_hit_miss_expiry), UNIT_TEST(test_cache_bounded),
                                       UNIT_TEST(test_scope_has), UNIT_TEST(test_scope_of_claims),
                                       UNIT_TEST(test_siphash_vectors), UNIT_TEST(test_cache_slots_keyed),
                                       UNIT_TEST(test_introspect_parse), UNIT_TEST(test_introspect_check),
                                       UNIT_TEST(test_introspect_record), UNIT_TEST(test_cache_threads)};
    return UNIT_RUN("token", tests);
}
