/* Client binding of a session (AuthOIDCSessionBinding): the User-Agent and,
 * optionally, the network prefix of the client address recorded at login
 * must be those of the request. A cookie copied to another browser or
 * network is then refused. A hint, not a proof: both can be forged by a
 * thief who knows them, and both change legitimately (browser updates,
 * mobile networks). */
#ifndef AOIDC_BINDING_H
#define AOIDC_BINDING_H

#include <apr_pools.h>

#define AOIDC_BINDING_UA_MAX 200 /* bytes of the User-Agent kept at login */

typedef enum { AOIDC_BIND_NONE = 0, AOIDC_BIND_UA = 1, AOIDC_BIND_UA_IP = 2 } aoidc_bind_mode_t;

typedef enum { AOIDC_BIND_OK = 0, AOIDC_BIND_UA_CHANGED, AOIDC_BIND_IP_CHANGED } aoidc_bind_verdict_t;

/* Compare what login recorded (stored_ua: at most AOIDC_BINDING_UA_MAX
 * bytes, stored_ip) with the request (ua, ip; any may be NULL, which counts
 * as ""). The request's User-Agent is compared on its first
 * AOIDC_BINDING_UA_MAX bytes, as stored. Addresses are compared on their
 * /24 (IPv4) or /64 (IPv6) prefix; an address that does not parse equals
 * only the same text. */
aoidc_bind_verdict_t aoidc_binding_check(aoidc_bind_mode_t mode, const char *stored_ua, const char *stored_ip,
                                         const char *ua, const char *ip);

/* 1 when two client addresses (text) share their /24 or /64 prefix. */
int aoidc_binding_same_net(const char *a, const char *b);

#endif
