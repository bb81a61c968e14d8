/* Behind a reverse proxy or TLS-terminating load balancer: the scheme and
 * host the browser used, from the headers a trusted proxy sends
 * (Forwarded, RFC 7239; X-Forwarded-Proto, X-Forwarded-Host). Only the
 * glue decides whether the peer is trusted (AuthOIDCTrustedProxies); this
 * file parses, bounded and without httpd. Fuzzed by tests/fuzz/fuzz_chooser.c. */
#ifndef AOIDC_FORWARDED_H
#define AOIDC_FORWARDED_H

#include <apr_pools.h>

#define AOIDC_FORWARDED_MAX 4096 /* longer headers are ignored */
#define AOIDC_HOST_MAX 255

typedef struct {
    const char *proto; /* "http" or "https"; NULL when absent or invalid */
    const char *host;  /* host[:port], checked by aoidc_forwarded_host_ok; NULL when absent or invalid */
} aoidc_fwd_t;

/* The scheme and host from the headers (each may be NULL). Of several
 * values the last counts (the one the trusted proxy, the last hop, added;
 * earlier ones came from further away, possibly the client). Forwarded
 * wins over X-Forwarded-* for each of proto and host it carries. Invalid
 * values are ignored, never repaired. Strings are copies from p. */
void aoidc_forwarded_parse(apr_pool_t *p, const char *forwarded, const char *xf_proto, const char *xf_host,
                           aoidc_fwd_t *out);

/* Is host a host[:port] fit for a URL: a DNS name or IPv4 address
 * (letters, digits, '-', '.'), or an IPv6 literal in brackets; an optional
 * port of 1 to 5 digits, 1-65535; at most AOIDC_HOST_MAX bytes. */
int aoidc_forwarded_host_ok(const char *host);

#endif
