/* Unit tests for aoidc_jose.c: JWKS parsing, JWS verification, claim checks.
 *
 * Vectors live in $AOIDC_TEST_DATA/jose (default "data/jose", relative to
 * tests/unit where `make check` runs us); gen_jose_vectors.py makes them.
 * Every token there has exp in 2100 and iat 1700000000; tests use a fixed
 * now of 1700000100. Each test gets a fresh APR pool. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "aoidc_jose.h"
#include "aoidc_util.h"

#define NOW_SEC 1700000100
#define ISSUER  "https://op.example.com"
#define CLIENT  "client-1"
#define NONCE   "n-0S6_WzA2Mj"

static const char *const all_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                       "PS512", "ES256", "EdDSA", NULL};

/* ---- helpers ---- */

static int setup_pool(void **state)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return -1;
    }
    *state = p;
    return 0;
}

static int teardown_pool(void **state)
{
    apr_pool_destroy(*state);
    return 0;
}

/* Contents of data/jose/name, NUL-terminated, trailing newline removed. */
static char *read_vector(apr_pool_t *p, const char *name, apr_size_t *len)
{
    const char *dir = getenv("AOIDC_TEST_DATA");
    const char *path = apr_pstrcat(p, dir ? dir : "data", "/jose/", name, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    if (apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS ||
        apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        fail_msg("cannot read test vector %s", path);
    }
    apr_size_t n = (apr_size_t)fi.size;
    char *buf = apr_palloc(p, n + 1);
    assert_int_equal(apr_file_read_full(f, buf, n, NULL), APR_SUCCESS);
    apr_file_close(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
}

static aoidc_jwks_t *load_jwks(apr_pool_t *p)
{
    apr_size_t len;
    const char *doc = read_vector(p, "jwks.json", &len);
    aoidc_jwks_t *jwks = NULL;
    const char *err = "unset";
    assert_int_equal(aoidc_jwks_parse(p, doc, len, &jwks, &err), APR_SUCCESS);
    assert_null(err);
    return jwks;
}

/* A JWKS holding only key number idx of jwks.json. */
static aoidc_jwks_t *load_one_key(apr_pool_t *p, size_t idx)
{
    apr_size_t len;
    const char *doc = read_vector(p, "jwks.json", &len);
    json_t *all = json_loadb(doc, len, 0, NULL);
    assert_non_null(all);
    json_t *one = json_pack("{s:[O]}", "keys", json_array_get(json_object_get(all, "keys"), idx));
    char *s = json_dumps(one, JSON_COMPACT);
    aoidc_jwks_t *jwks = NULL;
    const char *err;
    assert_int_equal(aoidc_jwks_parse(p, s, strlen(s), &jwks, &err), APR_SUCCESS);
    free(s);
    json_decref(one);
    json_decref(all);
    return jwks;
}

static aoidc_jwt_t *parse_ok(apr_pool_t *p, const char *compact)
{
    aoidc_jwt_t *jwt = NULL;
    const char *err = NULL;
    aoidc_jose_result_t r = aoidc_jwt_parse(p, compact, &jwt, &err);
    if (r != AOIDC_JOSE_OK) {
        fail_msg("parse failed: %s (%s)", aoidc_jose_result_str(r), err ? err : "");
    }
    assert_non_null(jwt);
    return jwt;
}

static char *b64s(apr_pool_t *p, const char *s)
{
    return aoidc_b64url_encode(p, (const unsigned char *)s, strlen(s));
}

/* Compact JWS from JSON header and payload text and a base64url signature. */
static char *make_jwt(apr_pool_t *p, const char *header, const char *payload, const char *sig_b64)
{
    return apr_pstrcat(p, b64s(p, header), ".", b64s(p, payload), ".", sig_b64, NULL);
}

static const char *sig_part(const char *compact)
{
    return strrchr(compact, '.') + 1;
}

static void expect_baseline(aoidc_jwt_expect_t *ex)
{
    static const char *const extra[] = {"https://api.example.com", NULL};
    memset(ex, 0, sizeof(*ex));
    ex->issuer = ISSUER;
    ex->audience = CLIENT;
    ex->extra_audiences = extra;
    ex->require_azp_if_multi = 1;
    ex->nonce = NONCE;
    ex->now = apr_time_from_sec(NOW_SEC);
    ex->skew = 60;
    ex->require_iat = 1;
}

/* ---- signature verification: every algorithm ---- */

static const struct {
    const char *file;
    const char *alg;
} signed_vectors[] = {
    {"rs256.jwt", "RS256"},       {"rs384.jwt", "RS384"},       {"rs512.jwt", "RS512"},
    {"ps256.jwt", "PS256"},       {"ps384.jwt", "PS384"},       {"ps512.jwt", "PS512"},
    {"es256.jwt", "ES256"},       {"eddsa.jwt", "EdDSA"},       {"rs256_nokid.jwt", "RS256"},
    {"es256_nokid.jwt", "ES256"}, {"eddsa_nokid.jwt", "EdDSA"}, {"rs512_kid_rs512_only.jwt", "RS512"},
};
#define N_SIGNED (sizeof(signed_vectors) / sizeof(signed_vectors[0]))

static void test_valid_vectors(void **state)
{
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    aoidc_jwt_expect_t ex;
    expect_baseline(&ex);
    for (size_t i = 0; i < N_SIGNED; i++) {
        aoidc_jwt_t *jwt = parse_ok(p, read_vector(p, signed_vectors[i].file, NULL));
        assert_string_equal(jwt->alg, signed_vectors[i].alg);
        const char *only[] = {signed_vectors[i].alg, NULL};
        if (aoidc_jwt_verify(jwt, jwks, all_algs) != AOIDC_JOSE_OK ||
            aoidc_jwt_verify(jwt, jwks, only) != AOIDC_JOSE_OK) {
            fail_msg("%s does not verify", signed_vectors[i].file);
        }
        assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_OK);
    }
}

static void test_alg_not_allowed(void **state)
{
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    /* each valid token against a list holding every other algorithm */
    for (size_t i = 0; i < N_SIGNED; i++) {
        const char *others[9];
        size_t n = 0;
        for (size_t j = 0; all_algs[j]; j++) {
            if (strcmp(all_algs[j], signed_vectors[i].alg) != 0) {
                others[n++] = all_algs[j];
            }
        }
        others[n] = NULL;
        aoidc_jwt_t *jwt = parse_ok(p, read_vector(p, signed_vectors[i].file, NULL));
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, others), AOIDC_JOSE_BAD_ALG);
        const char *none[] = {NULL};
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, none), AOIDC_JOSE_BAD_ALG);
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, NULL), AOIDC_JOSE_BAD_ALG);
    }
}

static void test_tampered_signature(void **state)
{
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    for (size_t i = 0; i < N_SIGNED; i++) {
        const char *compact = read_vector(p, signed_vectors[i].file, NULL);
        /* a flipped bit in the first, middle and last signature byte */
        aoidc_jwt_t *jwt = parse_ok(p, compact);
        apr_size_t where[] = {0, jwt->sig_len / 2, jwt->sig_len - 1};
        for (size_t w = 0; w < 3; w++) {
            jwt = parse_ok(p, compact);
            jwt->sig[where[w]] ^= 0x01;
            if (aoidc_jwt_verify(jwt, jwks, all_algs) != AOIDC_JOSE_BAD_SIGNATURE) {
                fail_msg("%s: flipped sig byte %d still verifies", signed_vectors[i].file, (int)where[w]);
            }
        }
        /* truncated and extended signatures */
        jwt = parse_ok(p, compact);
        jwt->sig_len--;
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, all_algs), AOIDC_JOSE_BAD_SIGNATURE);
        jwt = parse_ok(p, apr_pstrcat(p, compact, "AAAA", NULL));
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, all_algs), AOIDC_JOSE_BAD_SIGNATURE);
        jwt = parse_ok(p, apr_pstrmemdup(p, compact, (apr_size_t)(sig_part(compact) - compact)));
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, all_algs), AOIDC_JOSE_BAD_SIGNATURE);
        /* same header and signature, payload with another subject */
        const char *dot = strchr(compact, '.');
        const char *payload = "{\"iss\":\"" ISSUER "\",\"sub\":\"mallory\",\"aud\":\"" CLIENT "\","
                              "\"exp\":4102444800,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}";
        const char *forged = apr_pstrcat(p, apr_pstrmemdup(p, compact, (apr_size_t)(dot - compact)), ".",
                                         b64s(p, payload), ".", sig_part(compact), NULL);
        jwt = parse_ok(p, forged);
        assert_int_equal(aoidc_jwt_verify(jwt, jwks, all_algs), AOIDC_JOSE_BAD_SIGNATURE);
    }
}

/* ---- signature verification: refusals ---- */

static void test_verify_refusals(void **state)
{
    static const char *const with_hs_none[] = {"none", "HS256", "HS384", "HS512", "RS256", "ES256", NULL};
    static const struct {
        const char *file;
        aoidc_jose_result_t want;
    } rows[] = {
        /* unsecured JWT, even though the list names "none" */
        {"none.jwt", AOIDC_JOSE_BAD_ALG},
        /* HMAC keyed with the RSA public key (PEM and DER), list names HS256 */
        {"hs256_confusion_pem.jwt", AOIDC_JOSE_BAD_ALG},
        {"hs256_confusion_der.jwt", AOIDC_JOSE_BAD_ALG},
        /* genuine RS256 signature, kid absent from the set */
        {"rs256_unknown_kid.jwt", AOIDC_JOSE_UNKNOWN_KID},
        /* ES256 token pointing at the RSA key, RS256 token at the EC key */
        {"es256_kid_rsa.jwt", AOIDC_JOSE_UNKNOWN_KID},
        {"rs256_kid_ec.jwt", AOIDC_JOSE_UNKNOWN_KID},
        /* key whose "alg" is RS512 (rs512_kid_rs512_only.jwt verifies) */
        {"rs256_kid_rs512_only.jwt", AOIDC_JOSE_UNKNOWN_KID},
        /* key with "use":"enc" */
        {"rs256_kid_enc.jwt", AOIDC_JOSE_UNKNOWN_KID},
    };
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        aoidc_jwt_t *jwt = parse_ok(p, read_vector(p, rows[i].file, NULL));
        aoidc_jose_result_t r = aoidc_jwt_verify(jwt, jwks, with_hs_none);
        if (r != rows[i].want) {
            fail_msg("%s: got %s, want %s", rows[i].file, aoidc_jose_result_str(r),
                     aoidc_jose_result_str(rows[i].want));
        }
        r = aoidc_jwt_verify(jwt, jwks, all_algs);
        if (r != rows[i].want) {
            fail_msg("%s (all algs): got %s", rows[i].file, aoidc_jose_result_str(r));
        }
    }
}

static void test_key_type_must_match_alg(void **state)
{
    apr_pool_t *p = *state;
    /* sets holding only the RSA key (index 0), only the EC key (1), only Ed25519 (2) */
    aoidc_jwks_t *rsa = load_one_key(p, 0), *ec = load_one_key(p, 1), *ed = load_one_key(p, 2);
    assert_int_equal(aoidc_jwks_count(rsa), 1);
    assert_string_equal(aoidc_jwks_kty(rsa, 0), "RSA");
    assert_string_equal(aoidc_jwks_kty(ec, 0), "EC");
    assert_string_equal(aoidc_jwks_kty(ed, 0), "OKP");

    aoidc_jwt_t *es = parse_ok(p, read_vector(p, "es256_nokid.jwt", NULL));
    aoidc_jwt_t *rs = parse_ok(p, read_vector(p, "rs256_nokid.jwt", NULL));
    aoidc_jwt_t *ed_t = parse_ok(p, read_vector(p, "eddsa_nokid.jwt", NULL));
    assert_int_equal(aoidc_jwt_verify(es, ec, all_algs), AOIDC_JOSE_OK);
    assert_int_equal(aoidc_jwt_verify(es, rsa, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_jwt_verify(es, ed, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_jwt_verify(rs, rsa, all_algs), AOIDC_JOSE_OK);
    assert_int_equal(aoidc_jwt_verify(rs, ec, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_jwt_verify(rs, ed, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_jwt_verify(ed_t, ed, all_algs), AOIDC_JOSE_OK);
    assert_int_equal(aoidc_jwt_verify(ed_t, rsa, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    assert_int_equal(aoidc_jwt_verify(ed_t, ec, all_algs), AOIDC_JOSE_UNKNOWN_KID);
    /* an RS256 token whose header was switched to PS256 must not verify */
    const char *compact = read_vector(p, "rs256_nokid.jwt", NULL);
    const char *payload = strchr(compact, '.');
    aoidc_jwt_t *ps = parse_ok(p, apr_pstrcat(p, b64s(p, "{\"alg\":\"PS256\"}"), payload, NULL));
    assert_int_equal(aoidc_jwt_verify(ps, rsa, all_algs), AOIDC_JOSE_BAD_SIGNATURE);
}

static void test_header_alg_variants(void **state)
{
    static const struct {
        const char *header;
        aoidc_jose_result_t want;
    } rows[] = {
        {"{\"alg\":\"none\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"None\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"NONE\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"HS384\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"HS512\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"rs256\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"RS256 \"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"\"}", AOIDC_JOSE_BAD_ALG},
        {"{\"alg\":\"ES384\"}", AOIDC_JOSE_BAD_ALG},
        /* extensions we do not implement */
        {"{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"b64\"],\"b64\":false}", AOIDC_JOSE_MALFORMED},
        /* an embedded key is never used */
        {"{\"alg\":\"RS256\",\"kid\":\"attacker\",\"jwk\":{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
         "\"jku\":\"https://evil.example/jwks\"}",
         AOIDC_JOSE_UNKNOWN_KID},
    };
    static const char *const everything[] = {"none",   "None", "NONE",  "HS256", "HS384", "HS512", "rs256",
                                             "RS256 ", "",     "ES384", "RS256", "ES256", NULL};
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *compact = make_jwt(p, rows[i].header, "{\"sub\":\"x\"}", "c2ln");
        aoidc_jwt_t *jwt = parse_ok(p, compact);
        aoidc_jose_result_t r = aoidc_jwt_verify(jwt, jwks, everything);
        if (r != rows[i].want) {
            fail_msg("%s: got %s, want %s", rows[i].header, aoidc_jose_result_str(r),
                     aoidc_jose_result_str(rows[i].want));
        }
    }
}

/* ---- JWT parsing ---- */

static void test_parse_malformed(void **state)
{
    static const struct {
        const char *compact; /* "@" prefix: header and payload are JSON to encode */
        const char *err_part;
    } rows[] = {
        {"", "three parts"},
        {"abc", "three parts"},
        {"a.b", "three parts"},
        {"a.b.c.d", "more than three"},
        {"a.b.c.d.e", "more than three"},
        {"..", "header"},
        {"!!!.e30.", "header"},
        {"e30..", "payload"},
        {"eyJhbGciOiJSUzI1NiJ9.e30.!!", "signature"},
        {"eyJhbGciOiJSUzI1NiJ9.e30.A", "signature"}, /* 1 mod 4 */
        {"@not json|{}", "header"},
        {"@[\"alg\"]|{}", "header"},
        {"@\"RS256\"|{}", "header"},
        {"@{}|{}", "alg"},
        {"@{\"alg\":256}|{}", "alg"},
        {"@{\"alg\":null}|{}", "alg"},
        {"@{\"alg\":\"RS256\",\"kid\":7}|{}", "kid"},
        {"@{\"alg\":\"RS256\",\"typ\":[]}|{}", "typ"},
        {"@{\"alg\":\"none\",\"alg\":\"RS256\"}|{}", "header"}, /* duplicate member */
        {"@{\"alg\":\"RS256\"}|[]", "payload"},
        {"@{\"alg\":\"RS256\"}|\"sub\"", "payload"},
        {"@{\"alg\":\"RS256\"}|{\"sub\":\"a\",\"sub\":\"b\"}", "payload"},
        {"@{\"alg\":\"RS256\"}|{\"sub\":\"a\\u0000b\"}", "payload"},
        {"@{\"alg\":\"RS256\"}|{\"exp\":99999999999999999999999}", "payload"},
        {"@{\"alg\":\"RS256\"}|{} trailing", "payload"},
    };
    apr_pool_t *p = *state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *compact = rows[i].compact;
        if (compact[0] == '@') {
            const char *bar = strchr(compact, '|');
            compact =
                make_jwt(p, apr_pstrmemdup(p, compact + 1, (apr_size_t)(bar - compact - 1)), bar + 1, "c2ln");
        }
        aoidc_jwt_t *jwt = (aoidc_jwt_t *)1;
        const char *err = NULL;
        aoidc_jose_result_t r = aoidc_jwt_parse(p, compact, &jwt, &err);
        if (r != AOIDC_JOSE_MALFORMED || jwt != NULL || err == NULL ||
            strstr(err, rows[i].err_part) == NULL) {
            fail_msg("row %d (%s): got %s, err %s", (int)i, rows[i].compact, aoidc_jose_result_str(r),
                     err ? err : "(null)");
        }
    }
    /* NULL input and NULL err pointer are tolerated */
    aoidc_jwt_t *jwt;
    assert_int_equal(aoidc_jwt_parse(p, NULL, &jwt, NULL), AOIDC_JOSE_MALFORMED);
}

static void test_parse_length_limit(void **state)
{
    apr_pool_t *p = *state;
    const char *err = NULL;
    aoidc_jwt_t *jwt;
    /* a well-formed token padded to the limit by a long claim parses ... */
    const char *head = b64s(p, "{\"alg\":\"RS256\"}");
    apr_size_t fixed = strlen(head) + 2 + strlen("c2ln");
    /* payload {"x":"aaa..."}: 8 bytes of JSON syntax, base64 grows by 4/3 */
    apr_size_t room = (AOIDC_JWT_MAX_LEN - fixed) / 4 * 3 - 8;
    char *fill = apr_palloc(p, room + 1);
    memset(fill, 'a', room);
    fill[room] = '\0';
    const char *at_limit =
        make_jwt(p, "{\"alg\":\"RS256\"}", apr_pstrcat(p, "{\"x\":\"", fill, "\"}", NULL), "c2ln");
    assert_true(strlen(at_limit) <= AOIDC_JWT_MAX_LEN);
    assert_true(strlen(at_limit) > AOIDC_JWT_MAX_LEN - 8);
    assert_int_equal(aoidc_jwt_parse(p, at_limit, &jwt, &err), AOIDC_JOSE_OK);
    /* ... and one more byte is refused before any decoding */
    const char *over =
        apr_pstrcat(p, at_limit, apr_pstrndup(p, "AAAAAAAA", AOIDC_JWT_MAX_LEN + 1 - strlen(at_limit)), NULL);
    assert_int_equal(strlen(over), AOIDC_JWT_MAX_LEN + 1);
    assert_int_equal(aoidc_jwt_parse(p, over, &jwt, &err), AOIDC_JOSE_MALFORMED);
    assert_non_null(strstr(err, "too long"));
    /* even when the excess is garbage that would fail later anyway */
    char *big = apr_palloc(p, 100000);
    memset(big, '.', 99999);
    big[99999] = '\0';
    assert_int_equal(aoidc_jwt_parse(p, big, &jwt, &err), AOIDC_JOSE_MALFORMED);
    assert_non_null(strstr(err, "too long"));
}

static void test_parse_fields(void **state)
{
    apr_pool_t *p = *state;
    const char *compact = read_vector(p, "es256.jwt", NULL);
    aoidc_jwt_t *jwt = parse_ok(p, compact);
    assert_string_equal(jwt->alg, "ES256");
    assert_string_equal(jwt->kid, "ec-1");
    assert_string_equal(jwt->typ, "JWT");
    assert_int_equal(jwt->sig_len, 64);
    assert_int_equal(jwt->signing_input_len, (apr_size_t)(sig_part(compact) - compact - 1));
    assert_memory_equal(jwt->signing_input, compact, jwt->signing_input_len);
    assert_string_equal(json_string_value(json_object_get(jwt->claims, "sub")), "alice");
    jwt = parse_ok(p, read_vector(p, "rs256_nokid.jwt", NULL));
    assert_null(jwt->kid);
    assert_null(jwt->typ);
}

/* ---- claim validation ---- */

/* The baseline claims every row starts from; a row sets members (merged over
 * these) and deletes members, so each row shows exactly what it breaks. */
#define BASE_CLAIMS                                                                                          \
    "{\"iss\":\"" ISSUER "\",\"sub\":\"alice\",\"aud\":\"" CLIENT "\","                                      \
    "\"exp\":4102444800,\"iat\":1700000000,\"nonce\":\"" NONCE "\"}"

enum {
    NO_NONCE = 1,   /* expect.nonce = NULL */
    NO_IAT_REQ = 2, /* expect.require_iat = 0 */
    NO_AZP_REQ = 4, /* expect.require_azp_if_multi = 0 */
    IAT_AGE = 8,    /* expect.max_iat_age = 300 */
    TYP_AT = 16,    /* expect.typ = "at+jwt" */
    NO_EXTRA = 32,  /* expect.extra_audiences = NULL */
    ZERO_SKEW = 64, /* expect.skew = 0 */
    ACCESS = 128    /* expect.access_token = 1 (RFC 9068 access token) */
};

typedef struct {
    const char *name;
    const char *set; /* JSON object merged into the baseline, or NULL */
    const char *del; /* member to delete, or NULL */
    const char *typ; /* header typ, or NULL for none */
    int flags;
    aoidc_jose_result_t want;
} claim_row_t;

static const claim_row_t claim_rows[] = {
    {"baseline", NULL, NULL, NULL, 0, AOIDC_JOSE_OK},
    /* iss */
    {"iss other", "{\"iss\":\"https://evil.example.com\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_ISS},
    {"iss trailing slash", "{\"iss\":\"" ISSUER "/\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_ISS},
    {"iss prefix", "{\"iss\":\"https://op.example.co\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_ISS},
    {"iss case", "{\"iss\":\"https://OP.example.com\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_ISS},
    {"iss missing", NULL, "iss", NULL, 0, AOIDC_JOSE_BAD_ISS},
    {"iss array", "{\"iss\":[\"" ISSUER "\"]}", NULL, NULL, 0, AOIDC_JOSE_BAD_ISS},
    /* aud */
    {"aud other", "{\"aud\":\"client-2\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud missing", NULL, "aud", NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud number", "{\"aud\":1}", NULL, NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud empty array", "{\"aud\":[]}", NULL, NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud array of one", "{\"aud\":[\"" CLIENT "\"]}", NULL, NULL, 0, AOIDC_JOSE_OK},
    {"aud array without us", "{\"aud\":[\"client-2\",\"https://api.example.com\"],\"azp\":\"" CLIENT "\"}",
     NULL, NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud only a trusted extra", "{\"aud\":[\"https://api.example.com\"],\"azp\":\"" CLIENT "\"}", NULL, NULL,
     0, AOIDC_JOSE_BAD_AUD},
    {"aud array with non-string", "{\"aud\":[\"" CLIENT "\",7],\"azp\":\"" CLIENT "\"}", NULL, NULL, 0,
     AOIDC_JOSE_BAD_AUD},
    {"aud trusted extra", "{\"aud\":[\"" CLIENT "\",\"https://api.example.com\"],\"azp\":\"" CLIENT "\"}",
     NULL, NULL, 0, AOIDC_JOSE_OK},
    {"aud untrusted extra", "{\"aud\":[\"" CLIENT "\",\"https://evil.example.com\"],\"azp\":\"" CLIENT "\"}",
     NULL, NULL, 0, AOIDC_JOSE_BAD_AUD},
    {"aud extra, none trusted",
     "{\"aud\":[\"" CLIENT "\",\"https://api.example.com\"],\"azp\":\"" CLIENT "\"}", NULL, NULL, NO_EXTRA,
     AOIDC_JOSE_BAD_AUD},
    /* azp */
    {"multi aud without azp", "{\"aud\":[\"" CLIENT "\",\"https://api.example.com\"]}", NULL, NULL, 0,
     AOIDC_JOSE_BAD_AZP},
    {"multi aud without azp, not required", "{\"aud\":[\"" CLIENT "\",\"https://api.example.com\"]}", NULL,
     NULL, NO_AZP_REQ, AOIDC_JOSE_OK},
    {"multi aud, azp other",
     "{\"aud\":[\"" CLIENT "\",\"https://api.example.com\"],"
     "\"azp\":\"https://api.example.com\"}",
     NULL, NULL, 0, AOIDC_JOSE_BAD_AZP},
    {"azp mismatch", "{\"azp\":\"client-2\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_AZP},
    {"azp mismatch, not required", "{\"azp\":\"client-2\"}", NULL, NULL, NO_AZP_REQ, AOIDC_JOSE_BAD_AZP},
    {"azp not a string", "{\"azp\":null}", NULL, NULL, 0, AOIDC_JOSE_BAD_AZP},
    {"azp equal", "{\"azp\":\"" CLIENT "\"}", NULL, NULL, 0, AOIDC_JOSE_OK},
    /* access tokens: azp names the requesting client; other audiences are other resources */
    {"access: azp of another client", "{\"azp\":\"client-2\"}", "nonce", NULL, ACCESS, AOIDC_JOSE_OK},
    {"access: several audiences", "{\"aud\":[\"https://api.example.com\",\"" CLIENT "\"]}", "nonce", NULL,
     ACCESS | NO_EXTRA, AOIDC_JOSE_OK},
    {"access: our audience missing", "{\"aud\":[\"https://api.example.com\"]}", "nonce", NULL, ACCESS,
     AOIDC_JOSE_BAD_AUD},
    {"access: expired", "{\"exp\":1600000000}", "nonce", NULL, ACCESS, AOIDC_JOSE_EXPIRED},
    {"access: wrong issuer", "{\"iss\":\"https://evil.example\"}", "nonce", NULL, ACCESS, AOIDC_JOSE_BAD_ISS},
    /* an ID token (it has a nonce) is not an access token, whatever its nonce */
    {"access: ID token with nonce", NULL, NULL, NULL, ACCESS, AOIDC_JOSE_BAD_NONCE},
    {"access: nonce null", "{\"nonce\":null}", NULL, NULL, ACCESS, AOIDC_JOSE_BAD_NONCE},
    {"access: nonce empty", "{\"nonce\":\"\"}", NULL, NULL, ACCESS, AOIDC_JOSE_BAD_NONCE},
    /* exp: now is 1700000100, skew 60 */
    {"exp past", "{\"exp\":1600000000}", NULL, NULL, 0, AOIDC_JOSE_EXPIRED},
    {"exp missing", NULL, "exp", NULL, 0, AOIDC_JOSE_EXPIRED},
    {"exp string", "{\"exp\":\"4102444800\"}", NULL, NULL, 0, AOIDC_JOSE_EXPIRED},
    {"exp within skew", "{\"exp\":1700000041}", NULL, NULL, 0, AOIDC_JOSE_OK},
    {"exp at skew edge", "{\"exp\":1700000040}", NULL, NULL, 0, AOIDC_JOSE_EXPIRED},
    {"exp now, no skew", "{\"exp\":1700000100}", NULL, NULL, ZERO_SKEW, AOIDC_JOSE_EXPIRED},
    {"exp now+1, no skew", "{\"exp\":1700000101}", NULL, NULL, ZERO_SKEW, AOIDC_JOSE_OK},
    {"exp real", "{\"exp\":4102444800.5}", NULL, NULL, 0, AOIDC_JOSE_OK},
    /* nbf */
    {"nbf future", "{\"nbf\":1700000200}", NULL, NULL, 0, AOIDC_JOSE_NOT_YET_VALID},
    {"nbf within skew", "{\"nbf\":1700000160}", NULL, NULL, 0, AOIDC_JOSE_OK},
    {"nbf just beyond skew", "{\"nbf\":1700000161}", NULL, NULL, 0, AOIDC_JOSE_NOT_YET_VALID},
    {"nbf past", "{\"nbf\":1700000000}", NULL, NULL, 0, AOIDC_JOSE_OK},
    {"nbf string", "{\"nbf\":\"0\"}", NULL, NULL, 0, AOIDC_JOSE_NOT_YET_VALID},
    /* iat */
    {"iat future", "{\"iat\":1700000200}", NULL, NULL, 0, AOIDC_JOSE_BAD_IAT},
    {"iat future, not required", "{\"iat\":1700000200}", NULL, NULL, NO_IAT_REQ, AOIDC_JOSE_BAD_IAT},
    {"iat within skew", "{\"iat\":1700000160}", NULL, NULL, 0, AOIDC_JOSE_OK},
    {"iat missing", NULL, "iat", NULL, 0, AOIDC_JOSE_BAD_IAT},
    {"iat missing, not required", NULL, "iat", NULL, NO_IAT_REQ, AOIDC_JOSE_OK},
    {"iat string", "{\"iat\":\"1700000000\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_IAT},
    {"iat too old", "{\"iat\":1699999000}", NULL, NULL, IAT_AGE, AOIDC_JOSE_BAD_IAT},
    {"iat old but within age", "{\"iat\":1699999800}", NULL, NULL, IAT_AGE, AOIDC_JOSE_OK},
    {"iat missing with max age", NULL, "iat", NULL, IAT_AGE | NO_IAT_REQ, AOIDC_JOSE_BAD_IAT},
    /* nonce */
    {"nonce other", "{\"nonce\":\"n-0S6_WzA2Mk\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_NONCE},
    {"nonce missing", NULL, "nonce", NULL, 0, AOIDC_JOSE_BAD_NONCE},
    {"nonce prefix", "{\"nonce\":\"n-0S6\"}", NULL, NULL, 0, AOIDC_JOSE_BAD_NONCE},
    {"nonce number", "{\"nonce\":1}", NULL, NULL, 0, AOIDC_JOSE_BAD_NONCE},
    {"nonce not expected", NULL, "nonce", NULL, NO_NONCE, AOIDC_JOSE_OK},
    /* sub */
    {"sub missing", NULL, "sub", NULL, 0, AOIDC_JOSE_MISSING_CLAIM},
    {"sub empty", "{\"sub\":\"\"}", NULL, NULL, 0, AOIDC_JOSE_MISSING_CLAIM},
    {"sub number", "{\"sub\":42}", NULL, NULL, 0, AOIDC_JOSE_MISSING_CLAIM},
    {"sub null", "{\"sub\":null}", NULL, NULL, 0, AOIDC_JOSE_MISSING_CLAIM},
    /* typ */
    {"typ at+jwt", NULL, NULL, "at+jwt", TYP_AT, AOIDC_JOSE_OK},
    {"typ application/at+jwt", NULL, NULL, "application/at+jwt", TYP_AT, AOIDC_JOSE_OK},
    {"typ AT+JWT", NULL, NULL, "Application/AT+JWT", TYP_AT, AOIDC_JOSE_OK},
    {"typ JWT", NULL, NULL, "JWT", TYP_AT, AOIDC_JOSE_BAD_TYP},
    {"typ missing", NULL, NULL, NULL, TYP_AT, AOIDC_JOSE_BAD_TYP},
    {"typ suffix", NULL, NULL, "at+jwtx", TYP_AT, AOIDC_JOSE_BAD_TYP},
    {"typ other prefix", NULL, NULL, "text/at+jwt", TYP_AT, AOIDC_JOSE_BAD_TYP},
    {"typ not checked", NULL, NULL, "JWT", 0, AOIDC_JOSE_OK},
};

static void test_claims(void **state)
{
    apr_pool_t *p = *state;
    for (size_t i = 0; i < sizeof(claim_rows) / sizeof(claim_rows[0]); i++) {
        const claim_row_t *row = &claim_rows[i];
        json_t *claims = json_loads(BASE_CLAIMS, 0, NULL);
        assert_non_null(claims);
        if (row->set) {
            json_t *set = json_loads(row->set, 0, NULL);
            assert_non_null(set);
            json_object_update(claims, set);
            json_decref(set);
        }
        if (row->del) {
            assert_int_equal(json_object_del(claims, row->del), 0);
        }
        char *payload = json_dumps(claims, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(claims);
        const char *header = row->typ ? apr_pstrcat(p, "{\"alg\":\"RS256\",\"typ\":\"", row->typ, "\"}", NULL)
                                      : "{\"alg\":\"RS256\"}";
        aoidc_jwt_t *jwt = parse_ok(p, make_jwt(p, header, payload, ""));
        free(payload);

        aoidc_jwt_expect_t ex;
        expect_baseline(&ex);
        if (row->flags & NO_NONCE) {
            ex.nonce = NULL;
        }
        if (row->flags & NO_IAT_REQ) {
            ex.require_iat = 0;
        }
        if (row->flags & NO_AZP_REQ) {
            ex.require_azp_if_multi = 0;
        }
        if (row->flags & IAT_AGE) {
            ex.max_iat_age = 300;
        }
        if (row->flags & TYP_AT) {
            ex.typ = "at+jwt";
        }
        if (row->flags & NO_EXTRA) {
            ex.extra_audiences = NULL;
        }
        if (row->flags & ZERO_SKEW) {
            ex.skew = 0;
        }
        if (row->flags & ACCESS) {
            ex.access_token = 1;
            ex.nonce = NULL;
        }
        aoidc_jose_result_t r = aoidc_jwt_validate(jwt, &ex);
        if (r != row->want) {
            fail_msg("claims row \"%s\": got %s, want %s", row->name, aoidc_jose_result_str(r),
                     aoidc_jose_result_str(row->want));
        }
    }
}

static void test_claims_expect_required(void **state)
{
    apr_pool_t *p = *state;
    aoidc_jwt_t *jwt = parse_ok(p, make_jwt(p, "{\"alg\":\"RS256\"}", BASE_CLAIMS, ""));
    aoidc_jwt_expect_t ex;
    expect_baseline(&ex);
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_OK);
    /* issuer and audience are required in the expectation too */
    ex.issuer = NULL;
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_BAD_ISS);
    expect_baseline(&ex);
    ex.audience = NULL;
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_BAD_AUD);
    /* an unset now means the real clock, not 1970: a token expired in 2001 fails */
    jwt = parse_ok(p, make_jwt(p, "{\"alg\":\"RS256\"}",
                               "{\"iss\":\"" ISSUER "\",\"sub\":\"a\",\"aud\":\"" CLIENT "\","
                               "\"exp\":1000000000,\"iat\":999999000}",
                               ""));
    expect_baseline(&ex);
    ex.nonce = NULL;
    ex.now = 0;
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_EXPIRED);
    ex.now = apr_time_from_sec(999999999);
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_OK);
    /* a negative skew does not shorten the lifetime below exp */
    ex.skew = -100000;
    assert_int_equal(aoidc_jwt_validate(jwt, &ex), AOIDC_JOSE_OK);
}

/* ---- the one aud-contains test ---- */

static void test_aud_contains(void **state)
{
    (void)state;
    static const struct {
        const char *aud; /* JSON text, NULL: no aud at all */
        const char *want;
        int ok;
    } rows[] = {
        {"\"" CLIENT "\"", CLIENT, 1},
        {"\"" CLIENT "\"", "client-", 0},            /* prefix */
        {"\"client-\"", CLIENT, 0},
        {"\"" CLIENT "x\"", CLIENT, 0},              /* suffix */
        {"\"CLIENT-1\"", CLIENT, 0},                 /* case matters */
        {"\"" CLIENT "\\u0000evil\"", CLIENT, 0},  /* embedded NUL */
        {"[\"" CLIENT "\\u0000\"]", CLIENT, 0},
        {"\"\"", "", 1},
        {"[]", CLIENT, 0},
        {"[\"a\",\"" CLIENT "\"]", CLIENT, 1},
        {"[\"a\",7,null,{},\"" CLIENT "\"]", CLIENT, 1}, /* non-strings skipped */
        {"[[\"" CLIENT "\"]]", CLIENT, 0},          /* no nesting */
        {"{\"aud\":\"" CLIENT "\"}", CLIENT, 0},
        {"7", CLIENT, 0},
        {"null", CLIENT, 0},
        {"true", CLIENT, 0},
        {NULL, CLIENT, 0},
        {"\"" CLIENT "\"", NULL, 0},
        {"[\"" CLIENT "\"]", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *aud = rows[i].aud ? json_loads(rows[i].aud, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
        if (rows[i].aud && !aud) {
            fail_msg("row %zu: bad JSON %s", i, rows[i].aud);
        }
        if (aoidc_aud_contains(aud, rows[i].want) != rows[i].ok) {
            fail_msg("aud row %zu (%s contains %s): want %d", i, rows[i].aud ? rows[i].aud : "(none)",
                     rows[i].want ? rows[i].want : "(null)", rows[i].ok);
        }
        json_decref(aud);
    }
}

/* ---- JWKS parsing ---- */

static void test_jwks_good(void **state)
{
    apr_pool_t *p = *state;
    aoidc_jwks_t *jwks = load_jwks(p);
    /* rsa-1, ec-1, ed-1, rsa-rs512-only; the use=enc key is skipped */
    static const char *const kids[] = {"rsa-1", "ec-1", "ed-1", "rsa-rs512-only"};
    static const char *const ktys[] = {"RSA", "EC", "OKP", "RSA"};
    assert_int_equal(aoidc_jwks_count(jwks), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(aoidc_jwks_kid(jwks, i), kids[i]);
        assert_string_equal(aoidc_jwks_kty(jwks, i), ktys[i]);
    }
    assert_null(aoidc_jwks_kid(jwks, 4));
    assert_null(aoidc_jwks_kid(jwks, -1));
    assert_null(aoidc_jwks_kty(jwks, 4));
    assert_int_equal(aoidc_jwks_count(NULL), 0);
}

/* JWK pieces from jwks.json, for building variants. */
typedef struct {
    const char *n, *e, *x, *y, *ed_x;
} jwk_parts_t;

static jwk_parts_t jwk_parts(apr_pool_t *p)
{
    apr_size_t len;
    const char *doc = read_vector(p, "jwks.json", &len);
    json_t *all = json_loadb(doc, len, 0, NULL);
    json_t *keys = json_object_get(all, "keys");
    jwk_parts_t parts;
#define PART(i, m) apr_pstrdup(p, json_string_value(json_object_get(json_array_get(keys, i), m)))
    parts.n = PART(0, "n");
    parts.e = PART(0, "e");
    parts.x = PART(1, "x");
    parts.y = PART(1, "y");
    parts.ed_x = PART(2, "x");
#undef PART
    json_decref(all);
    return parts;
}

static void test_jwks_errors(void **state)
{
    apr_pool_t *p = *state;
    jwk_parts_t k = jwk_parts(p);
    const char *rsa = apr_psprintf(p, "{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\",\"e\":\"%s\"}", k.n, k.e);
    const char *ec =
        apr_psprintf(p, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", k.x, k.y);
    /* flip a bit in y: no longer on the curve */
    char *bad_y = apr_pstrdup(p, k.y);
    bad_y[10] = (char)(bad_y[10] == 'A' ? 'B' : 'A');
    /* 1024-bit odd modulus */
    unsigned char small[128];
    memset(small, 0xc3, sizeof(small));
    const char *small_n = aoidc_b64url_encode(p, small, sizeof(small));
    /* 65 keys */
    const char *many = "{\"kty\":\"oct\"}";
    for (int i = 0; i < AOIDC_JWKS_MAX_KEYS; i++) {
        many = apr_pstrcat(p, many, ",{\"kty\":\"oct\"}", NULL);
    }

    const struct {
        const char *name;
        const char *doc;
        apr_status_t want;
        int count;       /* usable keys on success */
        const char *err; /* substring of *err, or NULL for none */
    } rows[] = {
        {"not JSON", "this is not JSON", APR_EINVAL, 0, "invalid JSON"},
        {"truncated", "{\"keys\":[", APR_EINVAL, 0, "invalid JSON"},
        {"array root", "[]", APR_EINVAL, 0, "keys"},
        {"no keys", "{}", APR_EINVAL, 0, "keys"},
        {"keys not array", "{\"keys\":{}}", APR_EINVAL, 0, "keys"},
        {"keys null", "{\"keys\":null}", APR_EINVAL, 0, "keys"},
        {"duplicate keys member", "{\"keys\":[],\"keys\":[]}", APR_EINVAL, 0, "invalid JSON"},
        {"empty keys", "{\"keys\":[]}", APR_ENOENT, 0, "no usable"},
        {"too many keys", apr_pstrcat(p, "{\"keys\":[", many, "]}", NULL), APR_EINVAL, 0, "too many"},
        {"only oct", "{\"keys\":[{\"kty\":\"oct\",\"use\":\"sig\"}]}", APR_ENOENT, 0, "no usable"},
        {"bad base64 in n",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s!\",\"e\":\"AQAB\"}]}", k.n), APR_ENOENT, 0,
         "\"n\" is not valid base64url"},
        {"n not a string", "{\"keys\":[{\"kty\":\"RSA\",\"n\":12345,\"e\":\"AQAB\"}]}", APR_ENOENT, 0,
         "\"n\""},
        {"n missing", "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", APR_ENOENT, 0, "\"n\""},
        {"e missing", apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\"}]}", k.n), APR_ENOENT, 0,
         "\"e\""},
        {"n too long",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s%s%s%s%s%s\",\"e\":\"AQAB\"}]}", k.n, k.n,
                      k.n, k.n, k.n, k.n),
         APR_ENOENT, 0, "too long"},
        {"RSA 1024", apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", small_n),
         APR_ENOENT, 0, "2048"},
        {"RSA e=1", apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQ\"}]}", k.n),
         APR_ENOENT, 0, "invalid"},
        {"RSA private",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\",\"d\":\"AQAB\"}]}", k.n, k.e),
         APR_ENOENT, 0, "private"},
        {"kty missing", "{\"keys\":[{\"n\":\"AQAB\"}]}", APR_ENOENT, 0, "kty"},
        {"key not object", "{\"keys\":[\"RSA\"]}", APR_ENOENT, 0, "object"},
        {"kid not string",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":1,\"n\":\"%s\",\"e\":\"%s\"}]}", k.n, k.e),
         APR_ENOENT, 0, "kid"},
        {"EC not on curve",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", k.x,
                      bad_y),
         APR_ENOENT, 0, "EC"},
        {"EC short x",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"%s\"}]}", k.y),
         APR_ENOENT, 0, "32 bytes"},
        {"EC P-384 skipped",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}]}", k.x,
                      k.y),
         APR_ENOENT, 0, "no usable"},
        {"EC no crv", apr_psprintf(p, "{\"keys\":[{\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}]}", k.x, k.y),
         APR_ENOENT, 0, "no usable"},
        {"Ed448 skipped",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"%s\"}]}", k.ed_x), APR_ENOENT,
         0, "no usable"},
        {"Ed25519 short", "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AQAB\"}]}", APR_ENOENT, 0,
         "32 bytes"},
        {"use enc only",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"}]}", k.n,
                      k.e),
         APR_ENOENT, 0, "no usable"},
        {"key_ops encrypt",
         apr_psprintf(p,
                      "{\"keys\":[{\"kty\":\"RSA\",\"key_ops\":[\"encrypt\"],\"n\":\"%s\","
                      "\"e\":\"%s\"}]}",
                      k.n, k.e),
         APR_ENOENT, 0, "no usable"},
        {"key_ops verify",
         apr_psprintf(p,
                      "{\"keys\":[{\"kty\":\"RSA\",\"key_ops\":[\"verify\"],\"n\":\"%s\","
                      "\"e\":\"%s\"}]}",
                      k.n, k.e),
         APR_SUCCESS, 1, NULL},
        {"rsa and ec", apr_psprintf(p, "{\"keys\":[%s,%s]}", rsa, ec), APR_SUCCESS, 2, NULL},
        {"one bad, one good",
         apr_psprintf(p, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!!\",\"e\":\"AQAB\"},%s]}", rsa), APR_SUCCESS,
         1, "key 0 skipped"},
        {"unknown members ignored",
         apr_psprintf(p,
                      "{\"keys\":[{\"kty\":\"RSA\",\"x5c\":[\"MII\"],\"n\":\"%s\","
                      "\"e\":\"%s\",\"ext\":true}],\"extra\":1}",
                      k.n, k.e),
         APR_SUCCESS, 1, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        aoidc_jwks_t *jwks = (aoidc_jwks_t *)1;
        const char *err = "unset";
        apr_status_t rv = aoidc_jwks_parse(p, rows[i].doc, strlen(rows[i].doc), &jwks, &err);
        if (rv != rows[i].want) {
            fail_msg("jwks row \"%s\": got status %d, want %d (err %s)", rows[i].name, rv, rows[i].want,
                     err ? err : "(null)");
        }
        if (rows[i].err == NULL ? err != NULL : (err == NULL || strstr(err, rows[i].err) == NULL)) {
            fail_msg("jwks row \"%s\": err \"%s\", want \"%s\"", rows[i].name, err ? err : "(null)",
                     rows[i].err ? rows[i].err : "(null)");
        }
        if (rv == APR_SUCCESS) {
            assert_int_equal(aoidc_jwks_count(jwks), rows[i].count);
        }
        else {
            assert_null(jwks);
        }
    }
}

static void test_jwks_size_limit(void **state)
{
    apr_pool_t *p = *state;
    apr_size_t len;
    const char *doc = read_vector(p, "jwks.json", &len);
    /* the real document padded with whitespace to exactly the limit parses */
    char *buf = apr_palloc(p, AOIDC_JWKS_MAX_LEN + 2);
    memcpy(buf, doc, len);
    memset(buf + len, ' ', AOIDC_JWKS_MAX_LEN + 1 - len);
    buf[AOIDC_JWKS_MAX_LEN + 1] = '\0';
    aoidc_jwks_t *jwks;
    const char *err;
    assert_int_equal(aoidc_jwks_parse(p, buf, AOIDC_JWKS_MAX_LEN, &jwks, &err), APR_SUCCESS);
    assert_int_equal(aoidc_jwks_count(jwks), 4);
    /* one byte more is refused without parsing */
    assert_int_equal(aoidc_jwks_parse(p, buf, AOIDC_JWKS_MAX_LEN + 1, &jwks, &err), APR_EINVAL);
    assert_non_null(strstr(err, "too large"));
    assert_null(jwks);
    /* empty and NULL input */
    assert_int_equal(aoidc_jwks_parse(p, "", 0, &jwks, &err), APR_EINVAL);
    assert_int_equal(aoidc_jwks_parse(p, NULL, 10, &jwks, NULL), APR_EINVAL);
    /* len is honoured: a NUL-free prefix of a valid document is invalid */
    assert_int_equal(aoidc_jwks_parse(p, doc, len - 1, &jwks, &err), APR_EINVAL);
}

static void test_result_str(void **state)
{
    (void)state;
    for (int r = AOIDC_JOSE_OK; r <= AOIDC_JOSE_MISSING_CLAIM; r++) {
        const char *s = aoidc_jose_result_str((aoidc_jose_result_t)r);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown");
        for (int q = AOIDC_JOSE_OK; q < r; q++) {
            assert_string_not_equal(s, aoidc_jose_result_str((aoidc_jose_result_t)q));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_vectors, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_alg_not_allowed, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_tampered_signature, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_verify_refusals, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_key_type_must_match_alg, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_header_alg_variants, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_parse_malformed, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_parse_length_limit, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_parse_fields, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_claims, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_claims_expect_required, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_aud_contains, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_jwks_good, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_jwks_errors, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_jwks_size_limit, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_result_str, setup_pool, teardown_pool),
    };
    apr_initialize();
    int failed = cmocka_run_group_tests_name("aoidc_jose", tests, NULL, NULL);
    apr_terminate();
    return failed;
}
