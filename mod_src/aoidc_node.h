/* Node configuration snapshots: each node publishes a redacted view of its
 * runtime configuration to the store, for oidc-console.
 *
 * Keys: aoidc:n:<node> holds the snapshot, aoidc:n:index the node names
 * with their last publication time. Both are plain JSON, not encrypted:
 * they hold nothing secret (no client secret, no key material, no session
 * data), an operator can read them with memccat, and a node whose crypto key
 * differs can still be listed, which is what makes that mistake visible
 * (key_id, a one-way fingerprint of the derived keys, differs). They expire
 * after AOIDC_NODE_TTL; a node republishes at start-up, at each graceful
 * restart and after a discovery or JWKS fetch that changed what it knows
 * (endpoints, keys, errors; fetch times alone are refreshed at most hourly).
 *
 * Snapshot (aoidc:n:<node>):
 *   {"node", "version", "published", "pid", "key_id",
 *    "session": {"store", "cookie_name", "cookie_secure", "cookie_samesite",
 *                "inactivity", "max_lifetime", "touch_interval", "clock_skew"},
 *    "uris": {"redirect", "logout", "backchannel_logout"},
 *    "providers": [{"name", "issuer", "client_id", "scope", "token_auth",
 *                   "id_token_algs": [..], "userinfo",
 *                   "endpoints": {"authorization", "token", "userinfo",
 *                                 "end_session", "jwks", "introspection"},
 *                   "keys": [{"kid", "kty"}],
 *                   "discovery": {"fetched", "tried", "error"},
 *                   "jwks": {"fetched", "tried", "error"},
 *                   "display_name", "userinfo_mode": "auto"|"on"|"off",
 *                   "locations": ["<Location /x>", ..] (no file: it differs between nodes)}]}
 * Times are seconds since the epoch, 0 for never. Index (aoidc:n:index):
 *   {"nodes": {"<node>": <published>, ...}} updated with get + CAS, at most
 *   AOIDC_NODE_INDEX_MAX names (the longest silent go first). */
#ifndef AOIDC_NODE_H
#define AOIDC_NODE_H

#include "aoidc_crypto.h"
#include "aoidc_provider.h"
#include "aoidc_store.h"

#include <apr_pools.h>
#include <apr_tables.h>

#define AOIDC_NODE_INDEX_KEY "aoidc:n:index"
#define AOIDC_NODE_TTL (30 * 86400)
#define AOIDC_NODE_INDEX_MAX 256
#define AOIDC_NODE_NAME_MAX 128

/* What a node says about itself; the glue fills it from its config. */
typedef struct {
    const char *node;
    const char *version;
    apr_int64_t published;
    int pid;
    const char *key_id;
    const char *store;
    const char *cookie_name, *cookie_samesite;
    int cookie_secure, inactivity, max_lifetime, touch_interval, clock_skew;
    const char *redirect_uri, *logout_uri, *backchannel_uri;
    apr_array_header_t *providers; /* aoidc_provider_t *; runtime read under its lock */
} aoidc_node_info_t;

/* aoidc:n:<node>, or NULL when the name is empty, too long or not of
 * letters, digits, '-', '_', '.'. From p. */
const char *aoidc_node_key(apr_pool_t *p, const char *node);

/* A fingerprint of the keys (16 hex digits): equal on nodes that share
 * AuthOIDCCryptoKeyFile, useless for recovering it. From p. */
const char *aoidc_node_key_id(apr_pool_t *p, const aoidc_keys_t *keys);

/* The snapshot as JSON text (from p). */
const char *aoidc_node_snapshot_json(apr_pool_t *p, const aoidc_node_info_t *in);

/* Store the snapshot (1 set) and add or refresh the node in the index
 * (get + cas/add, retried). Returns APR_EINVAL for a bad node name,
 * APR_EGENERAL when the store failed, APR_EAGAIN after too many lost races. */
apr_status_t aoidc_node_publish(aoidc_store_t *st, apr_pool_t *p, const aoidc_node_info_t *in);

/* Publish unless the stored snapshot says the same thing (times and pid
 * aside) and is younger than max_age seconds: what a child calls after a
 * fetch, so that every child's first fetch does not rewrite the same
 * snapshot (1 get when unchanged). *written says whether it wrote. */
apr_status_t aoidc_node_publish_if_changed(aoidc_store_t *st, apr_pool_t *p, const aoidc_node_info_t *in,
                                           apr_int64_t max_age, int *written);

/* The index: names (const char *) and times (apr_int64_t) in the same
 * order, sorted by name. A missing or unreadable index is empty. */
apr_status_t aoidc_node_read_index(aoidc_store_t *st, apr_pool_t *p, apr_array_header_t **names,
                                   apr_array_header_t **published);

/* A node's snapshot text (from p); APR_NOTFOUND when absent. */
apr_status_t aoidc_node_read(aoidc_store_t *st, apr_pool_t *p, const char *node, const char **json);

#endif
