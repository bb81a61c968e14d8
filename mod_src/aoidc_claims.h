/* Claims held by a session: flattened once at login into (name, value)
 * pairs so that a request never parses JSON. An array claim becomes one pair
 * per element (groups=staff, groups=admins); a nested object or a number
 * becomes its compact JSON text; booleans become "true"/"false".
 *
 * Nested claims are reached by a dotted path: the members of an object
 * claim are flattened too, under "parent.member" (Keycloak's
 * realm_access.roles, resource_access.<client>.roles), down to
 * AOIDC_CLAIM_DEPTH levels. A dot inside one claim's own name is written
 * "\." in a path (a top-level claim "a.b" is "a\.b"), so it stays
 * reachable and never collides with the member b of a. */
#ifndef AOIDC_CLAIMS_H
#define AOIDC_CLAIMS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#define AOIDC_CLAIMS_MAX 64          /* pairs kept per session */
#define AOIDC_CLAIM_VALUE_MAX 1024   /* longer values are dropped */
#define AOIDC_CLAIM_NAME_MAX 64
#define AOIDC_CLAIM_PATH_MAX 128     /* longest dotted path, escapes included */
#define AOIDC_CLAIM_DEPTH 4          /* levels of nested objects flattened */
/* The one protocol claim a session keeps (AuthOIDCMaxAuthAge): appended by
 * the login after flattening, never passed to the backend. */
#define AOIDC_CLAIM_AUTH_TIME "auth_time"

typedef struct {
    const char *name;
    const char *value;
} aoidc_claim_t;

/* Flatten the members of a JSON object (nested ones by path) into an array of
 * aoidc_claim_t allocated from p. Protocol claims (iss aud exp iat nbf nonce
 * at_hash c_hash azp jti auth_time sid) are left out: they describe the token,
 * not the user. Members whose names are not [A-Za-z0-9_.:-]+ and values over
 * the limits are dropped (counted in *dropped when non-NULL). The values of
 * one claim are adjacent in the result (the request path relies on it). */
apr_array_header_t *aoidc_claims_flatten(apr_pool_t *p, json_t *obj, int *dropped);

/* A compiled `Require oidc-claim NAME:VALUE` argument. */
typedef struct {
    const char *name;
    const char *value;
} aoidc_claim_req_t;

/* Parse "NAME:VALUE" (the first colon splits; NAME non-empty and valid,
 * VALUE may be empty only if written as NAME:). Returns NULL and sets *err on
 * error. */
aoidc_claim_req_t *aoidc_claim_req_parse(apr_pool_t *p, const char *arg, const char **err);

/* 1 when any pair has the required name and exactly the required value. */
int aoidc_claims_match(const aoidc_claim_t *claims, int n, const aoidc_claim_req_t *req);

/* The values of a claim joined with sep, or NULL when absent. */
const char *aoidc_claims_get(apr_pool_t *p, const aoidc_claim_t *claims, int n, const char *name,
                             const char *sep);

/* Is name acceptable as a claim name (and thus a header suffix)? */
int aoidc_claim_name_ok(const char *name);

/* Is path a claim path: 1 to AOIDC_CLAIM_PATH_MAX bytes of claim-name
 * characters and backslash escapes ("\." and nothing else), no empty
 * segment (no leading, trailing or doubled unescaped dot)? */
int aoidc_claim_path_ok(const char *path);

/* The path with its escapes removed, for the backend's header and variable
 * names ("a\.b" -> "a.b"). Returns path itself when it has none. */
const char *aoidc_claim_path_plain(apr_pool_t *p, const char *path);

#endif
