/* JOSE: JWK sets, JWS signature verification and JWT claim validation.
 * Core file: APR, jansson and OpenSSL 3 only; no httpd headers.
 *
 * Ownership: every object is allocated from the pool passed in; jansson
 * values held by them are released by a cleanup on that pool. A parsed
 * aoidc_jwks_t is immutable and may be shared read-only by threads. */
#ifndef AOIDC_JOSE_H
#define AOIDC_JOSE_H

#include <apr_pools.h>
#include <apr_errno.h>
#include <apr_time.h>
#include <jansson.h>

/* Limits checked before any decoding. */
#define AOIDC_JWT_MAX_LEN   16384   /* compact serialization of one JWT */
#define AOIDC_JWKS_MAX_LEN  131072  /* a JWKS document */
#define AOIDC_JWKS_MAX_KEYS 64

typedef enum {
    AOIDC_JOSE_OK = 0,
    AOIDC_JOSE_MALFORMED,       /* not a compact JWS, bad base64url, bad JSON, too long */
    AOIDC_JOSE_BAD_ALG,         /* alg missing, "none", HMAC, or not in the allowed list */
    AOIDC_JOSE_UNKNOWN_KID,     /* no key in the set matches kid (and alg/kty/use) */
    AOIDC_JOSE_BAD_SIGNATURE,
    AOIDC_JOSE_BAD_ISS,
    AOIDC_JOSE_BAD_AUD,         /* aud missing, or no match, or untrusted extra audiences */
    AOIDC_JOSE_BAD_AZP,
    AOIDC_JOSE_EXPIRED,         /* exp missing or exp + skew <= now */
    AOIDC_JOSE_NOT_YET_VALID,   /* nbf - skew > now */
    AOIDC_JOSE_BAD_IAT,         /* iat missing, not a number, or iat - skew > now */
    AOIDC_JOSE_BAD_NONCE,
    AOIDC_JOSE_BAD_TYP,
    AOIDC_JOSE_MISSING_CLAIM    /* sub missing or not a string, ... */
} aoidc_jose_result_t;

/* A short constant string naming r, for log lines. */
const char *aoidc_jose_result_str(aoidc_jose_result_t r);

typedef struct aoidc_jwks aoidc_jwks_t;

/* Parse a JWKS document (RFC 7517). Keys of kty RSA (n, e), EC P-256 (crv,
 * x, y) and OKP Ed25519 (crv, x) are loaded into OpenSSL EVP_PKEYs (freed by
 * a pool cleanup); keys with "use" other than "sig", unknown kty/crv, or
 * private parts are skipped (private members are ignored, never used).
 * Returns APR_SUCCESS, or APR_EINVAL with *err set (static or from p) for
 * malformed JSON / no "keys" array / too large / more than
 * AOIDC_JWKS_MAX_KEYS entries, APR_ENOENT if no usable key.
 * A key of a supported type that is malformed or unsafe (bad base64url,
 * wrong coordinate length, point not on the curve, RSA under 2048 bits,
 * published private members) is skipped too, so one bad key cannot take the
 * others down; *err then names the first such key, also on APR_SUCCESS (for a
 * warning), and is NULL otherwise. */
apr_status_t aoidc_jwks_parse(apr_pool_t *p, const char *json, apr_size_t len,
                              aoidc_jwks_t **out, const char **err);

/* Number of usable keys, and the kid/kty of key i (kid may be NULL), for
 * reporting (the console's provider snapshot). */
int aoidc_jwks_count(const aoidc_jwks_t *jwks);
const char *aoidc_jwks_kid(const aoidc_jwks_t *jwks, int i);
const char *aoidc_jwks_kty(const aoidc_jwks_t *jwks, int i);

typedef struct {
    const char *alg;       /* header alg */
    const char *kid;       /* header kid or NULL */
    const char *typ;       /* header typ or NULL */
    json_t *header;        /* borrowed by the pool cleanup, do not decref */
    json_t *claims;        /* payload object; same ownership */
    const char *signing_input;  /* "b64header.b64payload" */
    apr_size_t signing_input_len;
    unsigned char *sig;    /* decoded signature */
    apr_size_t sig_len;
} aoidc_jwt_t;

/* Split and decode a compact JWS whose payload is a JSON object. Checks the
 * length limit first, exactly three parts, base64url, both JSON objects,
 * and that "alg" is a string. Does not verify anything. */
aoidc_jose_result_t aoidc_jwt_parse(apr_pool_t *p, const char *compact, aoidc_jwt_t **out,
                                    const char **err);

/* Verify the signature of jwt against jwks. allowed_algs is a
 * NULL-terminated list drawn from RS256 RS384 RS512 PS256 PS384 PS512 ES256
 * EdDSA; "none" and HS* are always refused (AOIDC_JOSE_BAD_ALG) whatever the
 * list says. Key selection: by kid when the header has one (no match ->
 * AOIDC_JOSE_UNKNOWN_KID), otherwise every key of a matching kty is tried.
 * The key type must match the alg (an RSA key never verifies ES256, ...).
 * ES256 signatures are the 64-byte R||S form of RFC 7518 3.4.
 * Keys come only from jwks: header jku/jwk/x5u/x5c are ignored. A header
 * with "crit" is refused (AOIDC_JOSE_MALFORMED): no extension is supported.
 * A JWK "alg" member must equal the token alg. */
aoidc_jose_result_t aoidc_jwt_verify(const aoidc_jwt_t *jwt, const aoidc_jwks_t *jwks,
                                     const char *const *allowed_algs);

/* Does an "aud" value (a string, or an array of strings) contain want?
 * The one audience test of the module: ID and access tokens (through
 * aoidc_jwt_validate), introspection answers, back-channel logout tokens.
 * Exact, length-aware comparison (a value with an embedded NUL never
 * matches); non-string array elements are skipped (callers that must refuse
 * them check the shape themselves); NULL aud, NULL want or any other type: 0. */
int aoidc_aud_contains(const json_t *aud, const char *want);

/* What an ID token / access token must satisfy. NULL fields are not checked
 * unless said otherwise. */
typedef struct {
    const char *issuer;        /* required: iss must equal it exactly */
    const char *audience;      /* required: aud (string or array) must contain it */
    const char *const *extra_audiences; /* NULL-terminated; other aud values must be in here */
    int require_azp_if_multi;  /* ID tokens: several audiences need azp == audience */
    const char *nonce;         /* if set: nonce claim must equal it */
    const char *typ;           /* if set: header typ must equal it, case-insensitive,
                                  "application/" prefix allowed (RFC 9068 at+jwt) */
    apr_time_t now;            /* apr_time_now() normally; tests pass a fixed time */
    int skew;                  /* seconds of clock skew tolerated */
    int require_iat;           /* 1 for ID tokens */
    int max_iat_age;           /* if > 0: iat older than now - max_iat_age - skew refused */
    int access_token;          /* RFC 9068 access token: aud must contain audience but may
                                  name other resources too; azp (the requesting client)
                                  is not compared with audience; a token with a nonce
                                  (an ID token) is refused with AOIDC_JOSE_BAD_NONCE */
} aoidc_jwt_expect_t;

/* Validate the claims of jwt (exp required; nbf honoured; iat per expect;
 * iss, aud, azp, nonce, typ; "sub" must be a non-empty string). Call it only
 * after aoidc_jwt_verify returned AOIDC_JOSE_OK. expect->now <= 0 means the
 * current time; max_iat_age > 0 makes iat required; a negative skew counts
 * as 0. Returns the first failed check, in the order typ, iss, aud, azp,
 * exp, nbf, iat, nonce, sub. */
aoidc_jose_result_t aoidc_jwt_validate(const aoidc_jwt_t *jwt, const aoidc_jwt_expect_t *expect);

#endif
