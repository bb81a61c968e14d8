/* libFuzzer target for aoidc_jose.c.
 *
 * Input: either a compact JWT, which is also tried as a JWKS document, or
 * "<JWKS document>\0<JWT>". Every JWT that parses is verified against the
 * built-in JWKS (the keys of tests/unit/data/jose/jwks.json, so mutated seed
 * tokens reach the signature code) and against the fuzzed JWKS when that
 * parsed, then its claims are validated. Nothing may crash, leak or trip
 * ASan/UBSan; results are ignored.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Imod_src \
 *          tests/fuzz/fuzz_jose.c mod_src/aoidc_jose.c mod_src/aoidc_util.c \
 *          $(pkg-config --cflags --libs apr-1 apr-util-1 jansson openssl)
 * Run:   ./fuzz_jose -max_total_time=60 tests/fuzz/corpus/jose */
#include <apr_general.h>
#include <apr_pools.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aoidc_jose.h"

/* rsa-1, ec-1 and ed-1 from tests/unit/data/jose/jwks.json
 * (gen_jose_vectors.py prints the full document) */
static const char builtin_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"use\":\"sig\",\"n\":\"2vqxfeWMxLLllV_K7qWtPmFOI8"
    "cKniVfSXl9j66xhtLRFuYbWSzU-hVNH67OPw0xJw0fGGsIHnhnsAzK7JOVPshgK9Y1AUPyR2HA7CFXRIQLkR8KMCRtgp-W99"
    "b-Bd4yrlvmCFm1mT9y8-aAwo16UQyd8jai0PaRQ4qxFpfdbzWko5qXba0uow5D3_s14UbVvSXqClYj8FgRGjbBUrXNw-dok9"
    "P21qdc9rgV-kh-dMsf4gKGrLp2WdmXN6mIaHr69ni6Pjc899RYIbhcfl2ARSWrOJ0n7QSOoaB-FM9iMs98Wm4a23W15JhD8k"
    "zIGpzkDBmmbPok10JxdYhHSb5aKQ\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"ec-1\",\"use\":\"sig\","
    "\"crv\":\"P-256\",\"x\":\"bErpijF3L7gdBnevHaIfUNmE7rrM47pBgqGiIRWrl9o\",\"y\":\"UPEMXwifnmiTMH2p"
    "G0Sp9-LQVjcy0n3qXM0PR4vK8xg\"},{\"kty\":\"OKP\",\"kid\":\"ed-1\",\"use\":\"sig\",\"crv\":\"Ed255"
    "19\",\"x\":\"tt06_sN82W5K9DkF8viUyLDr3YFPk5JnmpDMGbOe1vQ\"}]}";

static const char *const all_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                       "ES256", "EdDSA", "none", "HS256", NULL};

/* The built-in set is parsed again for every input, in that input's pool:
 * APR may take pool memory from mmap, which LeakSanitizer does not scan, so
 * keys kept in a long-lived pool would be reported as leaks. */
static apr_pool_t *global_pool;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Idempotent, and also called from the first input, so that a plain replay
 * driver that never calls LLVMFuzzerInitialize works too. */
static void init_once(void)
{
    if (global_pool == NULL &&
        (apr_initialize() != APR_SUCCESS || apr_pool_create(&global_pool, NULL) != APR_SUCCESS)) {
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    init_once();
    return 0;
}

static void exercise_jwt(apr_pool_t *p, const char *compact, const aoidc_jwks_t *fuzzed_jwks)
{
    static const char *const extra[] = {"https://api.example.com", NULL};
    aoidc_jwt_t *jwt;
    aoidc_jwks_t *builtin;
    const char *err;
    if (aoidc_jwt_parse(p, compact, &jwt, &err) != AOIDC_JOSE_OK) {
        return;
    }
    if (aoidc_jwks_parse(p, builtin_jwks, sizeof(builtin_jwks) - 1, &builtin, &err) != APR_SUCCESS ||
        aoidc_jwks_count(builtin) != 3) {
        abort();
    }
    aoidc_jwt_verify(jwt, builtin, all_algs);
    if (fuzzed_jwks != NULL) {
        aoidc_jwt_verify(jwt, fuzzed_jwks, all_algs);
    }
    aoidc_jwt_expect_t ex = {
        .issuer = "https://op.example.com",
        .audience = "client-1",
        .extra_audiences = extra,
        .require_azp_if_multi = 1,
        .nonce = "n-0S6_WzA2Mj",
        .typ = (compact[0] & 1) ? "at+jwt" : NULL,
        .now = apr_time_from_sec(1700000100),
        .skew = 60,
        .require_iat = 1,
        .max_iat_age = 300,
    };
    aoidc_jwt_validate(jwt, &ex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    aoidc_jwks_t *jwks = NULL;
    const char *err;
    init_once();
    if (apr_pool_create(&p, global_pool) != APR_SUCCESS) {
        abort();
    }
    const uint8_t *nul = memchr(data, '\0', size);
    if (nul != NULL) {
        /* JWKS, NUL, JWT */
        size_t jwks_len = (size_t)(nul - data);
        /* the JWKS parser takes a length: give it an exact-size heap copy
         * so ASan sees any read past it */
        char *doc = malloc(jwks_len ? jwks_len : 1);
        memcpy(doc, data, jwks_len);
        if (aoidc_jwks_parse(p, doc, jwks_len, &jwks, &err) != APR_SUCCESS) {
            jwks = NULL;
        }
        size_t jwt_len = size - jwks_len - 1;
        char *compact = malloc(jwt_len + 1);
        memcpy(compact, nul + 1, jwt_len);
        compact[jwt_len] = '\0';
        exercise_jwt(p, compact, jwks);
        free(compact);
        free(doc);
    }
    else {
        char *doc = malloc(size ? size : 1);
        memcpy(doc, data, size);
        if (aoidc_jwks_parse(p, doc, size, &jwks, &err) == APR_SUCCESS) {
            for (int i = 0; i < aoidc_jwks_count(jwks); i++) {
                (void)aoidc_jwks_kid(jwks, i);
                (void)aoidc_jwks_kty(jwks, i);
            }
        }
        free(doc);
        char *compact = malloc(size + 1);
        memcpy(compact, data, size);
        compact[size] = '\0';
        exercise_jwt(p, compact, NULL);
        free(compact);
    }
    apr_pool_destroy(p);
    return 0;
}
