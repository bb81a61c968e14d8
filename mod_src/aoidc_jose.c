/* JOSE: JWK sets, JWS signature verification and JWT claim validation.
 *
 * Core file: APR, jansson and OpenSSL 3 (EVP and OSSL_PARAM only, nothing
 * deprecated). Everything a caller gets is allocated from its pool; json_t
 * and EVP_PKEY objects are released by cleanups registered on that pool.
 *
 * Security choices, so that nobody "fixes" them back:
 *  - the algorithm comes from the token header, but it must be one of the
 *    asymmetric algorithms below and in the caller's allowed list; "none"
 *    and HS* are never accepted, so a public key can never become an HMAC
 *    secret (the RS256/HS256 confusion attack);
 *  - keys are chosen from the configured JWKS only: the header members jku,
 *    jwk, x5u and x5c are never looked at, and "crit" is refused because we
 *    implement no extension;
 *  - the key type and the JWK "alg" member must agree with the token alg;
 *  - JSON with duplicate member names is refused (a second "alg" or "aud"
 *    read differently by another parser is a classic differential). */
#include "aoidc_jose.h"
#include "aoidc_util.h"

#include <apr_cstr.h>
#include <apr_strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <string.h>

/* Per-member limits for JWK values, checked on the base64url text before
 * decoding. 8192-bit RSA is the largest modulus we accept. */
#define JWK_RSA_N_MAX_B64   1366    /* ceil(1024 * 4 / 3) */
#define JWK_RSA_E_MAX_B64   11      /* 8 bytes */
#define JWK_RSA_MIN_BITS    2048
#define JWK_EC_COORD_LEN    32      /* P-256 */
#define JWK_ED25519_LEN     32
#define JWK_COORD_MAX_B64   44      /* generous for a 32-byte value */

typedef enum {
    KTY_RSA,
    KTY_EC,
    KTY_OKP
} kty_t;

typedef struct {
    const char *kid;    /* NULL when the JWK has none */
    const char *alg;    /* the JWK "alg" member or NULL */
    kty_t kty;
    EVP_PKEY *pkey;
} jwk_t;

struct aoidc_jwks {
    int nkeys;
    jwk_t *keys;
};

typedef struct {
    const char *name;
    kty_t kty;
    const char *md;     /* OpenSSL digest name, NULL for EdDSA */
    int pss;
} alg_t;

static const alg_t algs[] = {
    {"RS256", KTY_RSA, "SHA256", 0},
    {"RS384", KTY_RSA, "SHA384", 0},
    {"RS512", KTY_RSA, "SHA512", 0},
    {"PS256", KTY_RSA, "SHA256", 1},
    {"PS384", KTY_RSA, "SHA384", 1},
    {"PS512", KTY_RSA, "SHA512", 1},
    {"ES256", KTY_EC, "SHA256", 0},
    {"EdDSA", KTY_OKP, NULL, 0},
};

static const char *const kty_names[] = {"RSA", "EC", "OKP"};

const char *aoidc_jose_result_str(aoidc_jose_result_t r)
{
    switch (r) {
    case AOIDC_JOSE_OK: return "ok";
    case AOIDC_JOSE_MALFORMED: return "malformed";
    case AOIDC_JOSE_BAD_ALG: return "bad-alg";
    case AOIDC_JOSE_UNKNOWN_KID: return "unknown-kid";
    case AOIDC_JOSE_BAD_SIGNATURE: return "bad-signature";
    case AOIDC_JOSE_BAD_ISS: return "bad-iss";
    case AOIDC_JOSE_BAD_AUD: return "bad-aud";
    case AOIDC_JOSE_BAD_AZP: return "bad-azp";
    case AOIDC_JOSE_EXPIRED: return "expired";
    case AOIDC_JOSE_NOT_YET_VALID: return "not-yet-valid";
    case AOIDC_JOSE_BAD_IAT: return "bad-iat";
    case AOIDC_JOSE_BAD_NONCE: return "bad-nonce";
    case AOIDC_JOSE_BAD_TYP: return "bad-typ";
    case AOIDC_JOSE_MISSING_CLAIM: return "missing-claim";
    }
    return "unknown";
}

/* ---- pool cleanups for foreign objects ---- */

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

static apr_status_t pkey_cleanup(void *data)
{
    EVP_PKEY_free((EVP_PKEY *)data);
    return APR_SUCCESS;
}

/* Parse len bytes of JSON; the result is owned by a cleanup on p. Duplicate
 * member names are refused, as are NUL characters in strings (jansson's
 * default), so claim strings can be compared with strcmp. */
static json_t *json_load_pool(apr_pool_t *p, const char *buf, apr_size_t len, const char **err)
{
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        *err = apr_psprintf(p, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                            jerr.text);
        return NULL;
    }
    apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    return j;
}

/* ---- JWKS ---- */

/* Decode the base64url string member name of key into *out (from p), with
 * max_b64 checked first. Returns NULL on success or a reason. */
static const char *jwk_member(apr_pool_t *p, json_t *key, const char *name, apr_size_t max_b64,
                              unsigned char **out, apr_size_t *outlen)
{
    json_t *v = json_object_get(key, name);
    if (!json_is_string(v)) {
        return apr_psprintf(p, "\"%s\" missing or not a string", name);
    }
    apr_size_t len = json_string_length(v);
    apr_status_t rv = aoidc_b64url_decode(p, json_string_value(v), len, max_b64, out, outlen);
    if (rv == APR_ENOSPC) {
        return apr_psprintf(p, "\"%s\" too long", name);
    }
    if (rv != APR_SUCCESS || *outlen == 0) {
        return apr_psprintf(p, "\"%s\" is not valid base64url", name);
    }
    return NULL;
}

/* Build a public key of type keytype from params. Returns NULL on failure. */
static EVP_PKEY *pkey_fromdata(const char *keytype, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static const char *jwk_load_rsa(apr_pool_t *p, json_t *key, EVP_PKEY **out)
{
    unsigned char *n, *e;
    apr_size_t nlen, elen;
    const char *why;
    if ((why = jwk_member(p, key, "n", JWK_RSA_N_MAX_B64, &n, &nlen)) != NULL ||
        (why = jwk_member(p, key, "e", JWK_RSA_E_MAX_B64, &e, &elen)) != NULL) {
        return why;
    }
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    why = NULL;
    if (bn_n == NULL || bn_e == NULL || bld == NULL) {
        why = "out of memory";
    }
    else if (BN_num_bits(bn_n) < JWK_RSA_MIN_BITS) {
        why = "RSA modulus shorter than 2048 bits";
    }
    else if (!BN_is_odd(bn_n) || !BN_is_odd(bn_e) || BN_is_one(bn_e)) {
        /* e = 1 would make every padded digest its own signature */
        why = "RSA modulus or exponent invalid";
    }
    else if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
             !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
             (pkey = pkey_fromdata("RSA", bld)) == NULL) {
        why = "OpenSSL refused the RSA key";
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    *out = pkey;
    return why;
}

static const char *jwk_load_ec(apr_pool_t *p, json_t *key, EVP_PKEY **out)
{
    unsigned char *x, *y;
    apr_size_t xlen, ylen;
    const char *why;
    if ((why = jwk_member(p, key, "x", JWK_COORD_MAX_B64, &x, &xlen)) != NULL ||
        (why = jwk_member(p, key, "y", JWK_COORD_MAX_B64, &y, &ylen)) != NULL) {
        return why;
    }
    /* RFC 7518 6.2.1.2: the full coordinate length, no stripping */
    if (xlen != JWK_EC_COORD_LEN || ylen != JWK_EC_COORD_LEN) {
        return "P-256 coordinates must be 32 bytes";
    }
    unsigned char point[1 + 2 * JWK_EC_COORD_LEN];
    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy(point + 1, x, JWK_EC_COORD_LEN);
    memcpy(point + 1 + JWK_EC_COORD_LEN, y, JWK_EC_COORD_LEN);

    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
        (pkey = pkey_fromdata("EC", bld)) == NULL) {
        why = "OpenSSL refused the EC key";
    }
    OSSL_PARAM_BLD_free(bld);
    if (pkey != NULL) {
        /* fromdata decodes the point; check it is on the curve and not infinity
         * explicitly rather than rely on that (invalid-curve attacks) */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
            why = "EC point is not on the P-256 curve";
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    *out = pkey;
    return why;
}

static const char *jwk_load_ed25519(apr_pool_t *p, json_t *key, EVP_PKEY **out)
{
    unsigned char *x;
    apr_size_t xlen;
    const char *why;
    if ((why = jwk_member(p, key, "x", JWK_COORD_MAX_B64, &x, &xlen)) != NULL) {
        return why;
    }
    if (xlen != JWK_ED25519_LEN) {
        return "Ed25519 public key must be 32 bytes";
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld == NULL || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, x, xlen) ||
        (pkey = pkey_fromdata("ED25519", bld)) == NULL) {
        why = "OpenSSL refused the Ed25519 key";
    }
    OSSL_PARAM_BLD_free(bld);
    *out = pkey;
    return why;
}

/* Optional string member: 1 if absent (*out NULL) or a string, 0 otherwise. */
static int opt_string(json_t *obj, const char *name, const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL) {
        return 1;
    }
    if (!json_is_string(v)) {
        return 0;
    }
    *out = json_string_value(v);
    return 1;
}

/* Does key allow signature verification per "use" and "key_ops"? */
static int jwk_for_signing(json_t *key)
{
    const char *use;
    if (!opt_string(key, "use", &use) || (use != NULL && strcmp(use, "sig") != 0)) {
        return 0;
    }
    json_t *ops = json_object_get(key, "key_ops");
    if (ops != NULL) {
        size_t i;
        json_t *op;
        if (!json_is_array(ops)) {
            return 0;
        }
        json_array_foreach(ops, i, op) {
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0) {
                return 1;
            }
        }
        return 0;
    }
    return 1;
}

/* Load one JWK into *k. Returns 1 when usable, 0 when skipped on purpose
 * (not for signatures, a key type or curve we do not implement), -1 when
 * malformed or unsafe with *why set. */
static int jwk_load(apr_pool_t *p, json_t *key, jwk_t *k, const char **why)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};
    const char *kty, *crv;
    *why = NULL;
    if (!json_is_object(key)) {
        *why = "not a JSON object";
        return -1;
    }
    if (!opt_string(key, "kty", &kty) || kty == NULL) {
        *why = "\"kty\" missing or not a string";
        return -1;
    }
    if (!opt_string(key, "kid", &k->kid) || !opt_string(key, "alg", &k->alg) ||
        !opt_string(key, "crv", &crv)) {
        *why = "\"kid\", \"alg\" or \"crv\" is not a string";
        return -1;
    }
    if (!jwk_for_signing(key)) {
        return 0;
    }
    for (int i = 0; private_members[i] != NULL; i++) {
        if (json_object_get(key, private_members[i]) != NULL) {
            /* a published private key is compromised: never trust it */
            *why = "contains private key material";
            return -1;
        }
    }
    k->pkey = NULL;
    if (strcmp(kty, "RSA") == 0) {
        k->kty = KTY_RSA;
        *why = jwk_load_rsa(p, key, &k->pkey);
    }
    else if (strcmp(kty, "EC") == 0) {
        if (crv == NULL || strcmp(crv, "P-256") != 0) {
            return 0;
        }
        k->kty = KTY_EC;
        *why = jwk_load_ec(p, key, &k->pkey);
    }
    else if (strcmp(kty, "OKP") == 0) {
        if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
            return 0;
        }
        k->kty = KTY_OKP;
        *why = jwk_load_ed25519(p, key, &k->pkey);
    }
    else {
        return 0;
    }
    if (k->pkey == NULL) {
        return -1;
    }
    apr_pool_cleanup_register(p, k->pkey, pkey_cleanup, apr_pool_cleanup_null);
    return 1;
}

apr_status_t aoidc_jwks_parse(apr_pool_t *p, const char *json, apr_size_t len, aoidc_jwks_t **out,
                              const char **err)
{
    const char *dummy;
    if (err == NULL) {
        err = &dummy;
    }
    *err = NULL;
    *out = NULL;
    if (json == NULL || len == 0) {
        *err = "empty JWKS document";
        return APR_EINVAL;
    }
    if (len > AOIDC_JWKS_MAX_LEN) {
        *err = "JWKS document too large";
        return APR_EINVAL;
    }
    json_t *root = json_load_pool(p, json, len, err);
    if (root == NULL) {
        return APR_EINVAL;
    }
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(keys)) {
        *err = "JWKS has no \"keys\" array";
        return APR_EINVAL;
    }
    size_t n = json_array_size(keys);
    if (n > AOIDC_JWKS_MAX_KEYS) {
        *err = "JWKS has too many keys";
        return APR_EINVAL;
    }
    aoidc_jwks_t *jwks = apr_pcalloc(p, sizeof(*jwks));
    jwks->keys = apr_pcalloc(p, sizeof(jwk_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        jwk_t *k = &jwks->keys[jwks->nkeys];
        const char *why;
        int rc = jwk_load(p, json_array_get(keys, i), k, &why);
        if (rc > 0) {
            jwks->nkeys++;
        }
        else if (rc < 0 && *err == NULL) {
            *err = apr_psprintf(p, "key %d skipped: %s", (int)i, why);
        }
    }
    if (jwks->nkeys == 0) {
        if (*err == NULL) {
            *err = "JWKS has no usable signature key";
        }
        return APR_ENOENT;
    }
    *out = jwks;
    return APR_SUCCESS;
}

int aoidc_jwks_count(const aoidc_jwks_t *jwks)
{
    return jwks ? jwks->nkeys : 0;
}

const char *aoidc_jwks_kid(const aoidc_jwks_t *jwks, int i)
{
    return (jwks && i >= 0 && i < jwks->nkeys) ? jwks->keys[i].kid : NULL;
}

const char *aoidc_jwks_kty(const aoidc_jwks_t *jwks, int i)
{
    return (jwks && i >= 0 && i < jwks->nkeys) ? kty_names[jwks->keys[i].kty] : NULL;
}

/* ---- JWT parsing ---- */

/* Decode one base64url JSON object part of a compact JWS. */
static aoidc_jose_result_t decode_json_part(apr_pool_t *p, const char *b64, apr_size_t len,
                                            const char *what, json_t **out, const char **err)
{
    unsigned char *raw;
    apr_size_t rawlen;
    if (len == 0 || aoidc_b64url_decode(p, b64, len, AOIDC_JWT_MAX_LEN, &raw, &rawlen) != APR_SUCCESS) {
        *err = apr_psprintf(p, "JWT %s is not base64url", what);
        return AOIDC_JOSE_MALFORMED;
    }
    const char *jerr;
    json_t *j = json_load_pool(p, (const char *)raw, rawlen, &jerr);
    if (j == NULL || !json_is_object(j)) {
        *err = apr_psprintf(p, "JWT %s is not a JSON object", what);
        return AOIDC_JOSE_MALFORMED;
    }
    *out = j;
    return AOIDC_JOSE_OK;
}

aoidc_jose_result_t aoidc_jwt_parse(apr_pool_t *p, const char *compact, aoidc_jwt_t **out,
                                    const char **err)
{
    const char *dummy;
    if (err == NULL) {
        err = &dummy;
    }
    *err = NULL;
    *out = NULL;
    if (compact == NULL) {
        *err = "no JWT";
        return AOIDC_JOSE_MALFORMED;
    }
    /* the length limit first, reading at most one byte past it */
    apr_size_t len = 0;
    while (len <= AOIDC_JWT_MAX_LEN && compact[len] != '\0') {
        len++;
    }
    if (len > AOIDC_JWT_MAX_LEN) {
        *err = "JWT too long";
        return AOIDC_JOSE_MALFORMED;
    }
    apr_size_t dot1 = 0, dot2 = 0;
    int dots = 0;
    for (apr_size_t i = 0; i < len; i++) {
        if (compact[i] == '.') {
            if (++dots == 1) {
                dot1 = i;
            }
            else if (dots == 2) {
                dot2 = i;
            }
            else {
                *err = "JWT has more than three parts (JWE is not supported)";
                return AOIDC_JOSE_MALFORMED;
            }
        }
    }
    if (dots != 2) {
        *err = "JWT is not a compact JWS (three parts)";
        return AOIDC_JOSE_MALFORMED;
    }

    aoidc_jwt_t *jwt = apr_pcalloc(p, sizeof(*jwt));
    aoidc_jose_result_t r;
    if ((r = decode_json_part(p, compact, dot1, "header", &jwt->header, err)) != AOIDC_JOSE_OK ||
        (r = decode_json_part(p, compact + dot1 + 1, dot2 - dot1 - 1, "payload", &jwt->claims, err)) !=
            AOIDC_JOSE_OK) {
        return r;
    }
    /* the signature may be empty here so that verify can name alg "none" */
    if (aoidc_b64url_decode(p, compact + dot2 + 1, len - dot2 - 1, AOIDC_JWT_MAX_LEN, &jwt->sig,
                            &jwt->sig_len) != APR_SUCCESS) {
        *err = "JWT signature is not base64url";
        return AOIDC_JOSE_MALFORMED;
    }
    json_t *alg = json_object_get(jwt->header, "alg");
    if (!json_is_string(alg)) {
        *err = "JWT header has no \"alg\" string";
        return AOIDC_JOSE_MALFORMED;
    }
    jwt->alg = json_string_value(alg);
    if (!opt_string(jwt->header, "kid", &jwt->kid) || !opt_string(jwt->header, "typ", &jwt->typ)) {
        *err = "JWT header \"kid\" or \"typ\" is not a string";
        return AOIDC_JOSE_MALFORMED;
    }
    jwt->signing_input = apr_pstrmemdup(p, compact, dot2);
    jwt->signing_input_len = dot2;
    *out = jwt;
    return AOIDC_JOSE_OK;
}

/* ---- signature verification ---- */

/* JOSE ES256 R||S (RFC 7518 3.4) to the DER ECDSA-Sig-Value OpenSSL wants.
 * Returns the DER length, 0 on failure; *der is malloc'd by OpenSSL. */
static int es256_to_der(const unsigned char *sig, unsigned char **der)
{
    int derlen = 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, JWK_EC_COORD_LEN, NULL);
    BIGNUM *s = BN_bin2bn(sig + JWK_EC_COORD_LEN, JWK_EC_COORD_LEN, NULL);
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL;   /* owned by es now */
        *der = NULL;
        derlen = i2d_ECDSA_SIG(es, der);
        if (derlen < 0) {
            derlen = 0;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return derlen;
}

/* 1 when sig verifies over the signing input with key under alg, else 0. */
static int verify_with(const aoidc_jwt_t *jwt, const alg_t *alg, EVP_PKEY *pkey)
{
    const unsigned char *sig = jwt->sig;
    size_t sig_len = jwt->sig_len;
    unsigned char *der = NULL;
    int ok = 0;

    /* exact sizes, before handing anything to OpenSSL */
    if (alg->kty == KTY_RSA && sig_len != (size_t)EVP_PKEY_get_size(pkey)) {
        return 0;
    }
    if (alg->kty == KTY_EC) {
        if (sig_len != 2 * JWK_EC_COORD_LEN) {
            return 0;
        }
        int n = es256_to_der(jwt->sig, &der);
        if (n <= 0) {
            return 0;
        }
        sig = der;
        sig_len = (size_t)n;
    }
    if (alg->kty == KTY_OKP && sig_len != 64) {
        return 0;
    }

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (md != NULL && EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, pkey, NULL) == 1) {
        int setup = 1;
        if (alg->pss) {
            setup = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->md, NULL) > 0 &&
                    /* RFC 7518 3.5: salt as long as the hash */
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
        }
        else if (alg->kty == KTY_RSA) {
            setup = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
        }
        ok = setup && EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt->signing_input,
                                       jwt->signing_input_len) == 1;
    }
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

static int alg_allowed(const char *alg, const char *const *allowed)
{
    for (; allowed != NULL && *allowed != NULL; allowed++) {
        if (strcmp(*allowed, alg) == 0) {
            return 1;
        }
    }
    return 0;
}

aoidc_jose_result_t aoidc_jwt_verify(const aoidc_jwt_t *jwt, const aoidc_jwks_t *jwks,
                                     const char *const *allowed_algs)
{
    if (jwt == NULL || jwt->alg == NULL || jwt->header == NULL) {
        return AOIDC_JOSE_MALFORMED;
    }
    /* Only our asymmetric table can match, so "none", HS* and anything else
     * are refused here even when the caller's list names them. */
    const alg_t *alg = NULL;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(algs[i].name, jwt->alg) == 0) {
            alg = &algs[i];
            break;
        }
    }
    if (alg == NULL || !alg_allowed(jwt->alg, allowed_algs)) {
        return AOIDC_JOSE_BAD_ALG;
    }
    if (json_object_get(jwt->header, "crit") != NULL) {
        return AOIDC_JOSE_MALFORMED;
    }
    if (jwks == NULL) {
        return AOIDC_JOSE_UNKNOWN_KID;
    }

    int tried = 0, ok = 0;
    ERR_set_mark();
    for (int i = 0; i < jwks->nkeys && !ok; i++) {
        const jwk_t *k = &jwks->keys[i];
        if (k->kty != alg->kty || (k->alg != NULL && strcmp(k->alg, alg->name) != 0)) {
            continue;
        }
        if (jwt->kid != NULL && (k->kid == NULL || strcmp(k->kid, jwt->kid) != 0)) {
            continue;
        }
        tried++;
        ok = verify_with(jwt, alg, k->pkey);
    }
    /* leave no OpenSSL errors behind for other users of this thread (mod_ssl) */
    ERR_pop_to_mark();
    if (ok) {
        return AOIDC_JOSE_OK;
    }
    return tried ? AOIDC_JOSE_BAD_SIGNATURE : AOIDC_JOSE_UNKNOWN_KID;
}

/* ---- claim validation ---- */

static int str_in_list(const char *s, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++) {
        if (strcmp(*list, s) == 0) {
            return 1;
        }
    }
    return 0;
}

int aoidc_aud_contains(const json_t *aud, const char *want)
{
    if (want == NULL) {
        return 0;
    }
    size_t wlen = strlen(want);
    if (json_is_string(aud)) {
        return json_string_length(aud) == wlen && memcmp(json_string_value(aud), want, wlen) == 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (json_is_string(v) && json_string_length(v) == wlen && memcmp(json_string_value(v), want, wlen) == 0) {
            return 1;
        }
    }
    return 0;
}

/* aud must contain audience; every other value must be a string and, for
 * ID tokens, trusted. *count receives the number of values. */
static aoidc_jose_result_t check_aud(json_t *aud, const aoidc_jwt_expect_t *ex, size_t *count)
{
    *count = 0;
    if (json_is_string(aud)) {
        *count = 1;
        return aoidc_aud_contains(aud, ex->audience) ? AOIDC_JOSE_OK : AOIDC_JOSE_BAD_AUD;
    }
    if (!json_is_array(aud) || json_array_size(aud) == 0) {
        return AOIDC_JOSE_BAD_AUD;
    }
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) {
        if (!json_is_string(v)) {
            return AOIDC_JOSE_BAD_AUD;
        }
        if (!ex->access_token && !aoidc_aud_contains(v, ex->audience) &&
            !str_in_list(json_string_value(v), ex->extra_audiences)) {
            return AOIDC_JOSE_BAD_AUD;
        }
    }
    *count = json_array_size(aud);
    return aoidc_aud_contains(aud, ex->audience) ? AOIDC_JOSE_OK : AOIDC_JOSE_BAD_AUD;
}

/* Header typ against the expected one: case-insensitive, with an optional
 * "application/" prefix on either side (RFC 7515 4.1.9). */
static int typ_matches(const char *got, const char *want)
{
    static const char prefix[] = "application/";
    const apr_size_t plen = sizeof(prefix) - 1;
    if (got == NULL) {
        return 0;
    }
    if (apr_cstr_casecmpn(got, prefix, plen) == 0) {
        got += plen;
    }
    if (apr_cstr_casecmpn(want, prefix, plen) == 0) {
        want += plen;
    }
    return apr_cstr_casecmp(got, want) == 0;
}

aoidc_jose_result_t aoidc_jwt_validate(const aoidc_jwt_t *jwt, const aoidc_jwt_expect_t *ex)
{
    if (jwt == NULL || jwt->claims == NULL || ex == NULL) {
        return AOIDC_JOSE_MALFORMED;
    }
    json_t *c = jwt->claims;
    /* now <= 0 means "not set": fall back to the clock rather than accept
     * every token that expired after 1970 */
    double now = (double)apr_time_sec(ex->now > 0 ? ex->now : apr_time_now());
    double skew = ex->skew > 0 ? ex->skew : 0;

    if (ex->typ != NULL && !typ_matches(jwt->typ, ex->typ)) {
        return AOIDC_JOSE_BAD_TYP;
    }

    json_t *iss = json_object_get(c, "iss");
    if (ex->issuer == NULL || !json_is_string(iss) || strcmp(json_string_value(iss), ex->issuer) != 0) {
        return AOIDC_JOSE_BAD_ISS;
    }

    size_t naud;
    if (ex->audience == NULL) {
        return AOIDC_JOSE_BAD_AUD;
    }
    aoidc_jose_result_t r = check_aud(json_object_get(c, "aud"), ex, &naud);
    if (r != AOIDC_JOSE_OK) {
        return r;
    }

    /* an access token's azp names the client that asked for it, not us */
    json_t *azp = ex->access_token ? NULL : json_object_get(c, "azp");
    if (azp != NULL) {
        if (!json_is_string(azp) || strcmp(json_string_value(azp), ex->audience) != 0) {
            return AOIDC_JOSE_BAD_AZP;
        }
    }
    else if (naud > 1 && ex->require_azp_if_multi && !ex->access_token) {
        return AOIDC_JOSE_BAD_AZP;
    }

    json_t *exp = json_object_get(c, "exp");
    if (!json_is_number(exp) || json_number_value(exp) + skew <= now) {
        return AOIDC_JOSE_EXPIRED;
    }

    json_t *nbf = json_object_get(c, "nbf");
    if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) - skew > now)) {
        return AOIDC_JOSE_NOT_YET_VALID;
    }

    /* iat is also required when its age is limited: no iat, no age */
    json_t *iat = json_object_get(c, "iat");
    if (iat == NULL) {
        if (ex->require_iat || ex->max_iat_age > 0) {
            return AOIDC_JOSE_BAD_IAT;
        }
    }
    else {
        if (!json_is_number(iat)) {
            return AOIDC_JOSE_BAD_IAT;
        }
        double t = json_number_value(iat);
        if (t - skew > now) {
            return AOIDC_JOSE_BAD_IAT;
        }
        if (ex->max_iat_age > 0 && t < now - (double)ex->max_iat_age - skew) {
            return AOIDC_JOSE_BAD_IAT;
        }
    }

    /* a nonce marks an ID token (RFC 9068 access tokens have none): an ID
     * token is never accepted where an access token is expected */
    if (ex->access_token && json_object_get(c, "nonce") != NULL) {
        return AOIDC_JOSE_BAD_NONCE;
    }
    if (ex->nonce != NULL) {
        json_t *nonce = json_object_get(c, "nonce");
        if (!json_is_string(nonce) || strcmp(json_string_value(nonce), ex->nonce) != 0) {
            return AOIDC_JOSE_BAD_NONCE;
        }
    }

    json_t *sub = json_object_get(c, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        return AOIDC_JOSE_MISSING_CLAIM;
    }
    return AOIDC_JOSE_OK;
}
