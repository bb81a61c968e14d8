/* aoidc_provider: discovery and token response parsing; the runtime
 * (key rotation, unknown-kid throttle, backoff, one fetching thread) with a
 * scripted GET in place of the network. */
#include "unit.h"
#include "aoidc_provider.h"
#include "aoidc_util.h"

#include <apr_allocator.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <stdlib.h>
#include <string.h>

#define DISC(iss, extra)                                                                                       \
    "{\"issuer\":\"" iss "\",\"authorization_endpoint\":\"" iss "/auth\",\"token_endpoint\":\"" iss           \
    "/token\",\"jwks_uri\":\"" iss "/jwks\"" extra "}"

static void test_discovery_ok(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_meta_t *m;
    const char *err = NULL;
    const char *d = DISC("https://op.example", ",\"end_session_endpoint\":\"https://op.example/end\","
                                               "\"code_challenge_methods_supported\":[\"plain\",\"S256\"]");
    assert_int_equal(aoidc_provider_parse_discovery(p, d, strlen(d), "https://op.example", &m, &err), APR_SUCCESS);
    assert_string_equal(m->token_endpoint, "https://op.example/token");
    assert_string_equal(m->end_session_endpoint, "https://op.example/end");
    assert_null(m->userinfo_endpoint);
    assert_false(m->iss_parameter_supported);
    d = DISC("https://op.example", ",\"authorization_response_iss_parameter_supported\":true");
    assert_int_equal(aoidc_provider_parse_discovery(p, d, strlen(d), "https://op.example", &m, &err), APR_SUCCESS);
    assert_true(m->iss_parameter_supported);
}

static void test_discovery_rejects(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_meta_t *m;
    const char *err = NULL;
    static const struct {
        const char *doc, *issuer;
    } bad[] = {
        /* issuer must match exactly: trailing slash, other host, missing */
        {DISC("https://op.example", ""), "https://op.example/"},
        {DISC("https://evil.example", ""), "https://op.example"},
        {"{\"authorization_endpoint\":\"https://op.example/a\"}", "https://op.example"},
        /* https issuer with an http endpoint */
        {"{\"issuer\":\"https://op.example\",\"authorization_endpoint\":\"http://op.example/a\","
         "\"token_endpoint\":\"https://op.example/t\",\"jwks_uri\":\"https://op.example/j\"}",
         "https://op.example"},
        /* no PKCE S256 */
        {DISC("https://op.example", ",\"code_challenge_methods_supported\":[\"plain\"]"), "https://op.example"},
        /* not JSON, duplicates, wrong types */
        {"not json", "https://op.example"},
        {"[]", "https://op.example"},
        {"{\"issuer\":\"https://op.example\",\"issuer\":\"https://op.example\"}", "https://op.example"},
        {"{\"issuer\":1}", "https://op.example"},
        {DISC("https://op.example", ",\"userinfo_endpoint\":\"javascript:x\""), "https://op.example"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        if (aoidc_provider_parse_discovery(p, bad[i].doc, strlen(bad[i].doc), bad[i].issuer, &m, &err) ==
            APR_SUCCESS) {
            fail_msg("discovery case %zu accepted", i);
        }
        assert_non_null(err);
    }
}

static void test_token_response(void **state)
{
    apr_pool_t *p = *state;
    aoidc_tokens_t t;
    const char *err = NULL;
    const char *ok = "{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"bearer\",\"expires_in\":300}";
    assert_int_equal(aoidc_provider_parse_token_response(p, ok, strlen(ok), &t, &err), APR_SUCCESS);
    assert_string_equal(t.id_token, "a.b.c");
    assert_int_equal(t.expires_in, 300);
    assert_null(t.refresh_token);
    const char *e = "{\"error\":\"invalid_grant\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, e, strlen(e), &t, &err), APR_EGENERAL);
    assert_non_null(strstr(err, "invalid_grant"));
    const char *noid = "{\"access_token\":\"at\",\"token_type\":\"Bearer\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, noid, strlen(noid), &t, &err), APR_EINVAL);
    const char *mac = "{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"mac\"}";
    assert_int_equal(aoidc_provider_parse_token_response(p, mac, strlen(mac), &t, &err), APR_EINVAL);
    assert_int_equal(aoidc_provider_parse_token_response(p, "<html>", 6, &t, &err), APR_EINVAL);
}

/* ---- the runtime, against a scripted provider ---- */

#define ISS "https://op.example"

static struct {
    int meta_fails, jwks_fails;       /* answer with a transport error */
    const char *jwks;                 /* the JWKS document served */
    volatile int meta_calls, jwks_calls;
    volatile int block;               /* the GET waits while set */
    volatile int entered;             /* a GET has started */
} fake;

static apr_status_t fake_get(apr_pool_t *p, const aoidc_http_opts_t *o, const char *url, const char *bearer,
                             aoidc_http_resp_t *resp, const char **err)
{
    (void)o;
    (void)bearer;
    fake.entered = 1;
    while (fake.block) {
        apr_sleep(1000);
    }
    memset(resp, 0, sizeof(*resp));
    if (strcmp(url, ISS "/.well-known/openid-configuration") == 0) {
        fake.meta_calls++;
        if (fake.meta_fails) {
            *err = "connection refused";
            return APR_ECONNREFUSED;
        }
        resp->body = apr_pstrdup(p, DISC(ISS, ""));
    }
    else if (strcmp(url, ISS "/jwks") == 0) {
        fake.jwks_calls++;
        if (fake.jwks_fails) {
            *err = "timed out";
            return APR_TIMEUP;
        }
        resp->body = apr_pstrdup(p, fake.jwks);
    }
    else {
        fail_msg("unexpected GET %s", url);
    }
    resp->status = 200;
    resp->len = strlen(resp->body);
    return APR_SUCCESS;
}

static const char *const algs[] = {"RS256", "ES256", NULL};

static aoidc_provider_t *new_provider(apr_pool_t *p)
{
    memset(&fake, 0, sizeof(fake));
    aoidc_provider_t *pr = apr_pcalloc(p, sizeof(*pr));
    pr->name = "op";
    pr->issuer = ISS;
    pr->client_id = "client";
    pr->id_token_algs = (const char **)algs;
    pr->jwks_refresh_interval = 60;
    pr->metadata_ttl = 86400;
    pr->http_get = fake_get;
    assert_int_equal(aoidc_provider_runtime_init(pr, p), APR_SUCCESS);
    return pr;
}

static char *read_vector(apr_pool_t *p, const char *name)
{
    const char *dir = getenv("AOIDC_TEST_DATA");
    char *buf;
    apr_size_t n;
    apr_file_t *f;
    apr_finfo_t fi;
    const char *path = apr_pstrcat(p, dir ? dir : "data", "/jose/", name, NULL);
    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS ||
        apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        fail_msg("cannot read test vector %s", path);
    }
    n = (apr_size_t)fi.size;
    buf = apr_palloc(p, n + 1);
    assert_int_equal(apr_file_read_full(f, buf, n, NULL), APR_SUCCESS);
    apr_file_close(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    return buf;
}

/* The test JWKS reduced to the keys whose kid is in the space-separated list. */
static const char *jwks_with(apr_pool_t *p, const char *kids)
{
    json_error_t jerr;
    json_t *all = json_loads(read_vector(p, "jwks.json"), 0, &jerr), *keys = json_array(), *k;
    size_t i;
    assert_non_null(all);
    json_array_foreach(json_object_get(all, "keys"), i, k) {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        if (kid && strstr(apr_pstrcat(p, " ", kids, " ", NULL), apr_pstrcat(p, " ", kid, " ", NULL))) {
            json_array_append(keys, k);
        }
    }
    json_t *doc = json_pack("{so}", "keys", keys);
    char *s = json_dumps(doc, JSON_COMPACT);
    const char *out = apr_pstrdup(p, s);
    free(s);
    json_decref(doc);
    json_decref(all);
    return out;
}

static aoidc_jwt_t *vector_jwt(apr_pool_t *p, const char *name)
{
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    assert_int_equal(aoidc_jwt_parse(p, read_vector(p, name), &jwt, &err), AOIDC_JOSE_OK);
    return jwt;
}

/* A token with the given kid and a signature no key verifies. */
static aoidc_jwt_t *kid_jwt(apr_pool_t *p, const char *kid)
{
    aoidc_jwt_t *jwt;
    const char *err = NULL;
    const char *h = apr_psprintf(p, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    const char *c = "{\"iss\":\"" ISS "\"}";
    const char *compact = apr_pstrcat(p, aoidc_b64url_encode(p, (const unsigned char *)h, strlen(h)), ".",
                                      aoidc_b64url_encode(p, (const unsigned char *)c, strlen(c)), ".AAAA", NULL);
    assert_int_equal(aoidc_jwt_parse(p, compact, &jwt, &err), AOIDC_JOSE_OK);
    return jwt;
}

static const aoidc_http_opts_t ho = {NULL, 1000, 1000};

/* The provider's pool is used by every thread of the process: it must have
 * its own allocator with a mutex. */
static void test_runtime_pool_thread_safe(void **state)
{
    aoidc_provider_t *pr = new_provider(*state);
    apr_allocator_t *al = apr_pool_allocator_get(pr->rt_pool);
    assert_true(al != apr_pool_allocator_get(*state));
    assert_non_null(apr_allocator_mutex_get(al));
}

/* Point 5 of issue 7: keys rotated within the refresh interval of the first
 * fetch are picked up by the first token that names the new kid. */
static void test_key_rotation_within_interval(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    const char *err = NULL;
    int unavailable = -1;
    fake.jwks = jwks_with(p, "ec-1");
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, vector_jwt(p, "es256.jwt"), &err, &unavailable),
                     AOIDC_JOSE_OK);
    assert_int_equal(fake.jwks_calls, 1);
    /* the provider rotates: rsa-1 appears a second later, not a minute */
    fake.jwks = jwks_with(p, "ec-1 rsa-1");
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, vector_jwt(p, "rs256.jwt"), &err, &unavailable),
                     AOIDC_JOSE_OK);
    assert_int_equal(fake.jwks_calls, 2);
    assert_int_equal(unavailable, 0);
    /* known kids never cause a fetch */
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, vector_jwt(p, "es256.jwt"), &err), AOIDC_JOSE_OK);
    assert_int_equal(fake.jwks_calls, 2);
}

/* One unknown kid: one refetch per interval, then refused without a fetch;
 * after the interval, one more. */
static void test_unknown_kid_throttled_per_kid(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    const char *err = NULL;
    int unavailable = -1;
    fake.jwks = jwks_with(p, "rsa-1");
    aoidc_jwt_t *unknown = vector_jwt(p, "rs256_unknown_kid.jwt");
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, unknown, &err, &unavailable), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 1); /* the first fetch: no keys yet */
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, unknown, &err, &unavailable), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 2); /* first miss of this kid */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, unknown, &err, &unavailable), AOIDC_JOSE_UNKNOWN_KID);
    }
    assert_int_equal(fake.jwks_calls, 2);
    assert_int_equal(unavailable, 0); /* a 401, not an outage */
    assert_non_null(strstr(err, "recently"));
    /* another unknown kid is looked up at once */
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, "other"), &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 3);
    /* the interval passes for no-such-kid */
    for (int i = 0; i < AOIDC_KID_MISS_SLOTS; i++) {
        if (strcmp(pr->kid_miss[i].kid, "no-such-kid") == 0) {
            pr->kid_miss[i].tried -= apr_time_from_sec(61);
        }
    }
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, unknown, &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 4);
}

/* A flood of random kids: at most AOIDC_JWKS_REFETCH_BUDGET fetches per
 * interval; the remembered kids stay bounded. */
static void test_random_kid_flood_bounded(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    const char *err = NULL;
    fake.jwks = jwks_with(p, "rsa-1");
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, vector_jwt(p, "rs256.jwt"), &err), AOIDC_JOSE_OK);
    assert_int_equal(fake.jwks_calls, 1);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, apr_psprintf(p, "rnd-%d", i)), &err),
                         AOIDC_JOSE_UNKNOWN_KID);
    }
    assert_int_equal(fake.jwks_calls, 1 + AOIDC_JWKS_REFETCH_BUDGET);
    /* the budget comes back with the next interval */
    pr->refetch_window -= apr_time_from_sec(61);
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, "rnd-new"), &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 2 + AOIDC_JWKS_REFETCH_BUDGET);
    /* a very long kid is remembered by a bounded prefix */
    char longkid[600];
    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, longkid), &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, longkid), &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 3 + AOIDC_JWKS_REFETCH_BUDGET);
}

/* Point 6 of issue 7: discovery failures back off (2 s, doubling); last
 * good metadata is served, however old, while the provider is down. */
static void test_discovery_backoff_and_stale(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    aoidc_provider_meta_t m;
    const char *err = NULL;
    fake.meta_fails = 1;
    assert_int_not_equal(aoidc_provider_get_meta(pr, p, &ho, &m, &err), APR_SUCCESS);
    assert_int_equal(fake.meta_calls, 1);
    apr_time_t wait = pr->meta_retry_at - apr_time_now();
    assert_true(wait > apr_time_from_sec(1) && wait <= apr_time_from_sec(AOIDC_PROVIDER_BACKOFF_MIN));
    for (int i = 0; i < 20; i++) {
        err = NULL;
        assert_int_equal(aoidc_provider_get_meta(pr, p, &ho, &m, &err), APR_EAGAIN);
        assert_non_null(strstr(err, "connection refused"));
    }
    assert_int_equal(fake.meta_calls, 1);
    /* the backoff ends, the provider is still down: it doubles */
    pr->meta_retry_at = 0;
    assert_int_not_equal(aoidc_provider_get_meta(pr, p, &ho, &m, &err), APR_SUCCESS);
    assert_int_equal(fake.meta_calls, 2);
    wait = pr->meta_retry_at - apr_time_now();
    assert_true(wait > apr_time_from_sec(3) && wait <= apr_time_from_sec(2 * AOIDC_PROVIDER_BACKOFF_MIN));
    for (int i = 0; i < 10; i++) { /* and is bounded */
        pr->meta_retry_at = 0;
        aoidc_provider_get_meta(pr, p, &ho, &m, &err);
    }
    assert_true(pr->meta_retry_at - apr_time_now() <= apr_time_from_sec(AOIDC_PROVIDER_BACKOFF_MAX));
    /* it comes back */
    fake.meta_fails = 0;
    pr->meta_retry_at = 0;
    assert_int_equal(aoidc_provider_get_meta(pr, p, &ho, &m, &err), APR_SUCCESS);
    assert_string_equal(m.token_endpoint, ISS "/token");
    assert_int_equal(pr->meta_failures, 0);
    int calls = fake.meta_calls;
    /* the metadata expires while the provider is down: the old copy serves,
     * one fetch per backoff window is tried */
    pr->meta_fetched -= apr_time_from_sec(pr->metadata_ttl + 1);
    fake.meta_fails = 1;
    for (int i = 0; i < 20; i++) {
        memset(&m, 0, sizeof(m));
        assert_int_equal(aoidc_provider_get_meta(pr, p, &ho, &m, &err), APR_SUCCESS);
        assert_string_equal(m.authorization_endpoint, ISS "/auth");
    }
    assert_int_equal(fake.meta_calls, calls + 1);
}

/* JWKS fetches while no keys are loaded back off too (they used to skip
 * every limit), and the caller learns it is an outage, not a bad token. */
static void test_jwks_backoff_without_keys(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    const char *err = NULL;
    int unavailable = 0;
    fake.jwks_fails = 1;
    aoidc_jwt_t *jwt = vector_jwt(p, "rs256.jwt");
    for (int i = 0; i < 20; i++) {
        unavailable = 0;
        assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, jwt, &err, &unavailable), AOIDC_JOSE_UNKNOWN_KID);
        assert_int_equal(unavailable, 1);
    }
    assert_int_equal(fake.jwks_calls, 1);
    assert_int_equal(fake.meta_calls, 1);
    fake.jwks_fails = 0;
    fake.jwks = jwks_with(p, "rsa-1");
    pr->jwks_retry_at = 0;
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, jwt, &err, &unavailable), AOIDC_JOSE_OK);
    assert_int_equal(fake.jwks_calls, 2);
    /* keys loaded, provider down again: an unknown kid tries once, then the
     * backoff holds and known kids keep working */
    fake.jwks_fails = 1;
    assert_int_equal(aoidc_provider_verify_ex(pr, p, &ho, kid_jwt(p, "new"), &err, &unavailable),
                     AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(unavailable, 1);
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, kid_jwt(p, "newer"), &err), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(fake.jwks_calls, 3);
    assert_int_equal(aoidc_provider_verify(pr, p, &ho, jwt, &err), AOIDC_JOSE_OK);
}

typedef struct {
    aoidc_provider_t *pr;
    int verify;        /* 0: get_meta, 1: verify */
    aoidc_jwt_t *jwt;
    apr_status_t rv;
    aoidc_jose_result_t jr;
    int unavailable;
    volatile int done;
} call_t;

static void *APR_THREAD_FUNC caller(apr_thread_t *t, void *data)
{
    call_t *c = data;
    apr_pool_t *p;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    const char *err = NULL;
    aoidc_provider_meta_t m;
    if (c->verify) {
        c->jr = aoidc_provider_verify_ex(c->pr, p, &ho, c->jwt, &err, &c->unavailable);
    }
    else {
        c->rv = aoidc_provider_get_meta(c->pr, p, &ho, &m, &err);
    }
    c->done = 1;
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Wait up to 3 s for the call to return by itself. */
static int returns_soon(call_t *c)
{
    for (int i = 0; i < 3000 && !c->done; i++) {
        apr_sleep(1000);
    }
    return c->done;
}

/* While one thread fetches (here: blocked inside the provider's GET), the
 * other threads do not queue behind it: they get an answer at once. */
static void test_one_fetching_thread(void **state)
{
    apr_pool_t *p = *state;
    aoidc_provider_t *pr = new_provider(p);
    apr_thread_t *t1, *t2, *t3;
    apr_status_t trv;
    fake.jwks = jwks_with(p, "rsa-1");
    fake.block = 1;
    call_t first = {pr, 0, NULL, 0, 0, 0, 0};
    assert_int_equal(apr_thread_create(&t1, NULL, caller, &first, p), APR_SUCCESS);
    while (!fake.entered) {
        apr_sleep(1000);
    }
    call_t second = {pr, 0, NULL, 0, 0, 0, 0};
    call_t third = {pr, 1, vector_jwt(p, "rs256.jwt"), 0, 0, 0, 0};
    assert_int_equal(apr_thread_create(&t2, NULL, caller, &second, p), APR_SUCCESS);
    assert_int_equal(apr_thread_create(&t3, NULL, caller, &third, p), APR_SUCCESS);
    int second_quick = returns_soon(&second), third_quick = returns_soon(&third);
    fake.block = 0;
    apr_thread_join(&trv, t1);
    apr_thread_join(&trv, t2);
    apr_thread_join(&trv, t3);
    assert_true(second_quick);
    assert_true(third_quick);
    assert_int_equal(second.rv, APR_EAGAIN);
    assert_int_equal(third.jr, AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(third.unavailable, 1);
    assert_int_equal(first.rv, APR_SUCCESS);
    assert_int_equal(fake.meta_calls, 1);
    assert_int_equal(fake.jwks_calls, 0);
}

static void test_provider_for_issuer(void **state)
{
    apr_pool_t *p = *state;
    apr_array_header_t *prs = apr_array_make(p, 3, sizeof(aoidc_provider_t *));
    static aoidc_provider_t a = {.name = "a", .issuer = "https://one.example"};
    static aoidc_provider_t b = {.name = "b", .issuer = "https://two.example"};
    static aoidc_provider_t c = {.name = "c", .issuer = "https://one.example"};
    APR_ARRAY_PUSH(prs, aoidc_provider_t *) = &a;
    APR_ARRAY_PUSH(prs, aoidc_provider_t *) = &b;
    APR_ARRAY_PUSH(prs, aoidc_provider_t *) = &c;
    apr_array_header_t *only_c = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(only_c, const char *) = "c";
    apr_array_header_t *none = apr_array_make(p, 1, sizeof(const char *));
    assert_ptr_equal(aoidc_provider_for_issuer(prs, "https://one.example", NULL), &a);
    assert_ptr_equal(aoidc_provider_for_issuer(prs, "https://two.example", NULL), &b);
    assert_ptr_equal(aoidc_provider_for_issuer(prs, "https://one.example", only_c), &c);
    assert_null(aoidc_provider_for_issuer(prs, "https://two.example", only_c));
    assert_null(aoidc_provider_for_issuer(prs, "https://one.example", none));
    /* exact comparison only */
    assert_null(aoidc_provider_for_issuer(prs, "https://one.example/", NULL));
    assert_null(aoidc_provider_for_issuer(prs, "HTTPS://one.example", NULL));
    assert_null(aoidc_provider_for_issuer(prs, "https://one.exampl", NULL));
    assert_null(aoidc_provider_for_issuer(prs, "", NULL));
    assert_null(aoidc_provider_for_issuer(prs, NULL, NULL));
    assert_null(aoidc_provider_for_issuer(NULL, "https://one.example", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {UNIT_TEST(test_discovery_ok),
                                       UNIT_TEST(test_discovery_rejects),
                                       UNIT_TEST(test_token_response),
                                       UNIT_TEST(test_runtime_pool_thread_safe),
                                       UNIT_TEST(test_key_rotation_within_interval),
                                       UNIT_TEST(test_unknown_kid_throttled_per_kid),
                                       UNIT_TEST(test_random_kid_flood_bounded),
                                       UNIT_TEST(test_discovery_backoff_and_stale),
                                       UNIT_TEST(test_jwks_backoff_without_keys),
                                       UNIT_TEST(test_one_fetching_thread),
                                       UNIT_TEST(test_provider_for_issuer)};
    return UNIT_RUN("provider", tests);
}
