/* Node configuration snapshots: each node publishes a redacted view of its
 * runtime configuration (no secrets) to the store, for oidc-console. */
#ifndef AOIDC_NODE_H
#define AOIDC_NODE_H
#endif
