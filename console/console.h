/* oidc-console: shared types. The console is a separate program that reads
 * and revokes the sessions mod_auth_oidc keeps in memcached, through the
 * session directory of libaoidc (aoidc_directory.h), and shows the node
 * configuration snapshots the module publishes (aoidc:n:index, aoidc:n:<node>).
 *
 * Layers, each in its own file:
 *   config.c   the console's config file          cli.c      argv -> ocon_cli_t
 *   query.c    directory queries and revocation   nodes.c    node snapshots
 *   output.c   sessions/nodes as JSON and text    audit.c    the audit log
 *   cmd.c      the CLI commands                   ua.c       User-Agent summaries
 *   admin_store.c  console logins kept in the store
 *   web_*.c    the web console (libmicrohttpd is used by web_server.c only;
 *              web_input.c and web_client.c parse what clients send)
 */
#ifndef OCON_CONSOLE_H
#define OCON_CONSOLE_H

#include "aoidc_crypto.h"
#include "aoidc_session.h"
#include "aoidc_store.h"

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include <stdio.h>

#define OCON_VERSION "0.1.0"
#define OCON_DEFAULT_CONFIG "/etc/oidc-console/console.conf"
#define OCON_DEFAULT_LISTEN "127.0.0.1:8089"
#define OCON_CONFIG_MAX (64 * 1024)   /* bytes of config file */
#define OCON_ARG_MAX 512              /* any single filter value */
#define OCON_PER_PAGE_MAX 500

/* Exit codes (documented in oidc-console.1). */
enum {
    OCON_EXIT_OK = 0,
    OCON_EXIT_USAGE = 1,
    OCON_EXIT_CONFIG = 2,
    OCON_EXIT_STORE = 3,
    OCON_EXIT_NOT_FOUND = 4,
    OCON_EXIT_FAILURE = 5
};

/* Results of console operations; mapped to exit codes and HTTP statuses in
 * one place each (ocon_rc_exit, web_server.c:rc_status). */
typedef enum {
    OCON_OK = 0,
    OCON_BAD_INPUT,  /* malformed handle, filter, page */
    OCON_NOT_FOUND,  /* no such session / user / node */
    OCON_DOWN,       /* store unreachable */
    OCON_FAILED      /* store error, partial revocation, audit log unwritable */
} ocon_rc_t;

int ocon_rc_exit(ocon_rc_t rc);
const char *ocon_rc_str(ocon_rc_t rc);

/* ---------------------------------------------------------------- config */

typedef struct {
    const char *path;
    const char *store_servers;  /* "host[:port] ..." as AuthOIDCSessionStore */
    int store_timeout_ms;
    const char *crypto_key_file;
    const char *previous_crypto_key_file; /* optional: as the second AuthOIDCCryptoKeyFile argument */
    const char *admin_htpasswd; /* bcrypt entries only */
    const char *listen;         /* host:port, default 127.0.0.1:8089 */
    int allow_remote;           /* a non-loopback listen address needs this */
    const char *tls_cert, *tls_key;
    const char *audit_log;
    const char *providers;      /* optional, space separated: used when no node snapshot names them */
    int session_window;         /* seconds of time buckets scanned (the module's max lifetime) */
    int per_page;
    int login_idle;             /* console session idle timeout, seconds */
    int login_max;              /* console session absolute lifetime */
    int login_fail_max;         /* failed logins per client per login_fail_window before 429 */
    int login_fail_window;
    const char *trusted_proxies;  /* reverse proxies whose X-Forwarded-For names the client */
    apr_array_header_t *proxies;  /* the same, parsed (ocon_addr_t, web.h) */
    const char *metrics_url;      /* optional: http(s) URL of each node's metrics, {node} = its name */
} ocon_config_t;

/* Parse config text (key = value lines, '#' comments). Unknown keys, bad
 * values and duplicates are errors; *err names the line. Defaults for unset
 * keys. Required: store_servers, crypto_key_file. */
apr_status_t ocon_config_parse(apr_pool_t *p, const char *text, apr_size_t len, const char *path,
                               ocon_config_t *cfg, const char **err);
/* Read (at most OCON_CONFIG_MAX bytes) and parse. */
apr_status_t ocon_config_load(apr_pool_t *p, const char *path, ocon_config_t *cfg, const char **err);
/* Checks needed only by `serve`: htpasswd set, TLS pair complete, listen
 * address loopback unless allow_remote. */
const char *ocon_config_check_serve(apr_pool_t *p, const ocon_config_t *cfg);
/* When tls_cert/tls_key are set: both files readable, non-empty, at most
 * 1 MB, and PEM (a CERTIFICATE, a PRIVATE KEY). NULL when fine (and, when
 * cert/key are not NULL, their text there), else a message naming the
 * setting and the file. Used by check-config and serve. */
const char *ocon_config_check_tls(apr_pool_t *p, const ocon_config_t *cfg, const char **cert, const char **key);
/* Split "host:port" / "[v6]:port"; NULL on success, else a message. */
const char *ocon_split_listen(apr_pool_t *p, const char *listen, const char **host, int *port);
int ocon_host_is_loopback(const char *host);

/* ---------------------------------------------------------------- cli */

typedef enum {
    OCON_CMD_NONE = 0,
    OCON_CMD_HELP,
    OCON_CMD_VERSION,
    OCON_CMD_SESSIONS,
    OCON_CMD_SHOW,
    OCON_CMD_REVOKE,
    OCON_CMD_PROVIDERS,
    OCON_CMD_NODES,
    OCON_CMD_SERVE,
    OCON_CMD_CHECK
} ocon_cmd_t;

typedef struct {
    const char *provider;
    const char *sub;
    const char *email;
    const char *name;
    const char *sid;
    const char *handle;
    const char *q;      /* free text: substring of user, sub, email or name (a bounded scan) */
    const char *prefix; /* start of user, sub, email or a word of name (the search index) */
} ocon_filter_t;

typedef struct {
    ocon_cmd_t cmd;
    const char *config;
    int json;
    int all;            /* sessions: every page */
    int yes;            /* revoke --provider: confirmed */
    int page, per_page;
    ocon_filter_t f;
    apr_array_header_t *handles; /* revoke/show: positional handles */
} ocon_cli_t;

/* Parse argv (argv[0] is the program). Returns 0 and fills cli, or -1 with
 * *err set (a usage error). */
int ocon_cli_parse(apr_pool_t *p, int argc, const char *const *argv, ocon_cli_t *cli, const char **err);
void ocon_usage(FILE *out);

/* Validate a filter value: 1..OCON_ARG_MAX bytes, no control characters. */
int ocon_value_ok(const char *v);
int ocon_filter_empty(const ocon_filter_t *f);

/* ---------------------------------------------------------------- context */

typedef struct ocon_index ocon_index_t;

typedef struct {
    apr_pool_t *pool;
    const ocon_config_t *cfg;
    aoidc_store_t *store;
    aoidc_keys_t keys;
    ocon_index_t *index; /* the prefix search index (serve only), or NULL */
} ocon_ctx_t;

/* Connect (lazily: libmemcached connects at first use) and load keys.
 * Returns OCON_EXIT_OK or OCON_EXIT_CONFIG with *err. */
int ocon_ctx_open(apr_pool_t *p, const ocon_config_t *cfg, int max_conns, ocon_ctx_t *ctx, const char **err);
/* One cheap read to tell an unreachable store (OCON_DOWN) from a working one. */
ocon_rc_t ocon_store_probe(ocon_ctx_t *ctx, apr_pool_t *p);

/* ---------------------------------------------------------------- query */

typedef struct {
    const char *handle;
    aoidc_session_t s;
    const char *email; /* from the claims, or NULL */
    const char *name;
} ocon_session_t;

/* The order of a listing, newest first: by expiry (the directory's own
 * order: only the page is decoded), by last seen or by creation (every
 * candidate, at most OCON_SORT_MAX, is decoded to sort them). */
typedef enum { OCON_SORT_EXPIRES = 0, OCON_SORT_LAST_SEEN, OCON_SORT_CREATED } ocon_sort_t;
#define OCON_SORT_MAX 5000

typedef struct {
    apr_array_header_t *sessions; /* ocon_session_t, newest first */
    int page, per_page;
    int total;      /* matching directory entries (sessions that vanished since are still counted) */
    int more;       /* another page exists */
    ocon_sort_t sort;
    int capped;     /* sorted among the OCON_SORT_MAX candidates that expire last only */
    int partial;    /* a scan stopped at OCON_SCAN_SECONDS / OCON_SCAN_HITS_MAX, or the index
                       matched more than OCON_INDEX_HITS_MAX: refine the search */
    int via_index;  /* a prefix answered by the search index (else by a scan) */
} ocon_page_t;

#define OCON_SCAN_SECONDS 5       /* a scan of decoded records stops after this */
#define OCON_SCAN_HITS_MAX 10000  /* and after this many matches */

/* Find sessions matching f; page is 1-based; per_page 0 = every match on one
 * page. Uses the most selective directory list (handle > sid > user > email >
 * name > provider buckets > all buckets) and checks the other filters on the
 * decoded records. */
ocon_rc_t ocon_sessions_find(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f, int page, int per_page,
                             ocon_page_t *out);
/* The same in another order (ocon_sort_t). */
ocon_rc_t ocon_sessions_find_sorted(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f, ocon_sort_t sort,
                                    int page, int per_page, ocon_page_t *out);
/* Does the user, sub, email or a word of the name of s start with prefix
 * (ASCII case-insensitive)? */
int ocon_prefix_matches(const ocon_session_t *s, const char *prefix);
/* Every live session of the newest `newest` time buckets (0: the session
 * window), decoded chunk by chunk in a scratch pool: fn(baton, NULL, handle)
 * first says whether a handle is known already (1: skip it), then
 * fn(baton, s, NULL) gets each decoded session (valid during the call only). */
typedef int (*ocon_walk_fn)(void *baton, const ocon_session_t *s, const char *handle);
ocon_rc_t ocon_sessions_walk(ocon_ctx_t *ctx, apr_pool_t *p, int newest, ocon_walk_fn fn, void *baton);

/* ---------------------------------------------------------------- search index
 * (search_index.c) A sorted in-memory index of the lowercased user, sub,
 * email and name words of every live session, so that a prefix search
 * answers without decoding every record. Built by a thread of `serve` at
 * start and rebuilt every OCON_INDEX_REBUILD seconds (dropping ended
 * sessions); each search first adds the sessions it does not know yet of the
 * time buckets since the build began (plus OCON_INDEX_RECENT). */
#define OCON_INDEX_REBUILD 600
#define OCON_INDEX_HITS_MAX 5000  /* sessions one prefix search returns at most */
#define OCON_INDEX_RECENT 3       /* time buckets read at each search beyond those since the build */
ocon_index_t *ocon_index_create(apr_pool_t *p);
/* Walk every session of the window into a new index, then swap it in. */
ocon_rc_t ocon_index_rebuild(ocon_index_t *ix, ocon_ctx_t *ctx);
/* 1 when built: *out (aoidc_dir_entry_t: handle, expires; from p) the
 * sessions matching prefix, newest expiry first, at most OCON_INDEX_HITS_MAX
 * (*truncated set when more matched); 0 when not built yet. */
int ocon_index_find(ocon_index_t *ix, ocon_ctx_t *ctx, apr_pool_t *p, const char *prefix,
                    apr_array_header_t **out, int *truncated);
int ocon_index_ready(ocon_index_t *ix);
/* A thread that builds the index, then rebuilds it every OCON_INDEX_REBUILD s. */
apr_status_t ocon_index_start(ocon_index_t *ix, ocon_ctx_t *ctx);
void ocon_index_stop(ocon_index_t *ix);
/* Stop the thread and free the index (its own pools). */
void ocon_index_destroy(ocon_index_t *ix);

/* "last_seen", "created", "expires" -> *out; 1 when known. */
int ocon_sort_parse(const char *name, ocon_sort_t *out);
const char *ocon_sort_name(ocon_sort_t sort);

/* Revoke the given sessions (ocon_session_t). *count: records deleted. */
ocon_rc_t ocon_sessions_revoke(ocon_ctx_t *ctx, apr_pool_t *p, const apr_array_header_t *sessions, int *count);
/* Before revoking a whole user (provider + sub) or a whole provider: raise
 * its revocation epoch (aoidc_dir_revoke_epoch_set), which also ends the
 * sessions the directory lost, at their next touch. Other filters: nothing.
 * Call before finding the sessions (a login racing the revocation then
 * sees the epoch). */
ocon_rc_t ocon_revoke_epochs(ocon_ctx_t *ctx, apr_pool_t *p, const ocon_filter_t *f);

/* Provider names to try when a filter needs one (user, sid) and none was
 * given: from the node snapshots, then the config's `providers`. */
apr_array_header_t *ocon_known_providers(ocon_ctx_t *ctx, apr_pool_t *p);

/* Count live directory entries per provider over the session window. */
int ocon_provider_session_count(ocon_ctx_t *ctx, apr_pool_t *p, const char *provider);

/* ---------------------------------------------------------------- nodes */

/* Read a value that is JSON, sealed (AES-GCM, session key, AAD = key) or
 * plain. *out NULL when missing. */
ocon_rc_t ocon_read_json(ocon_ctx_t *ctx, apr_pool_t *p, const char *key, json_t **out);

/* Node snapshots: a JSON object {"nodes": [{"node": name, "snapshot": {...}|null}],
 * "differing": [paths]} (new reference). */
ocon_rc_t ocon_nodes_load(ocon_ctx_t *ctx, apr_pool_t *p, json_t **out);
/* The metrics URL of a node: tmpl (metrics_url, checked at load) with each
 * {node} replaced by node; NULL when tmpl is NULL or node is not a
 * well-formed node name. From p. */
const char *ocon_metrics_url(apr_pool_t *p, const char *tmpl, const char *node);
/* NULL when tmpl is a usable metrics_url (http:// or https://, no blanks,
 * quotes or angle brackets, braces only in {node}), else why not. */
const char *ocon_metrics_url_check(const char *tmpl);
/* From the result of ocon_nodes_load: {"providers": [{"name", "nodes": {node: cfg},
 * "differing": [paths], "missing_on": [nodes], "sessions": n, and the members of
 * ocon_provider_usage}]} (new reference). */
json_t *ocon_providers_from_nodes(ocon_ctx_t *ctx, apr_pool_t *p, json_t *nodes, int count_sessions);

/* Pure helpers (unit tested). */
json_t *ocon_index_names(json_t *index); /* array of node names from any index shape */
/* Flatten into {"a.b[0]": "value as text"}; volatile keys (timestamps, pid) left out. */
json_t *ocon_flatten(json_t *v);
/* Paths whose values differ between the flattened objects of an array. */
json_t *ocon_differing(json_t *flats);
json_t *ocon_snapshot_providers(json_t *snapshot); /* {name: cfg} */
/* Sets entry's "display_name" (the first node's, else name), "locations"
 * ({node: [location, ...]} of the nodes whose cfg has "locations") and
 * "locations_same" (every such node lists the same ones). */
void ocon_provider_usage(json_t *entry, const char *name, json_t *pnodes);

/* ---------------------------------------------------------------- admin sessions */

/* A console login kept in the store (admin_store.c), keyed by a hash of the
 * cookie value sid, sealed with the session key. */
typedef struct {
    const char *admin;
    apr_int64_t created, last;
} ocon_admin_rec_t;
apr_status_t ocon_admin_put(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid, const ocon_admin_rec_t *rec, long ttl);
/* 1 and *rec (from p), 0 when there is none (or it is not ours), -1 store error. */
int ocon_admin_get(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid, ocon_admin_rec_t *rec);
void ocon_admin_del(ocon_ctx_t *ctx, apr_pool_t *p, const char *sid);

/* ---------------------------------------------------------------- output */

json_t *ocon_session_json(const ocon_session_t *s, int detail);
json_t *ocon_page_json(const ocon_page_t *pg);
void ocon_print_sessions_text(FILE *out, const ocon_page_t *pg);
void ocon_print_session_text(FILE *out, const ocon_session_t *s);
/* Text from a provider or node made safe to print on a terminal: control
 * characters (C0, DEL, C1), bidi overrides and isolates and backslashes
 * become \xNN, \u00NN, \uNNNN, \\; anything else is kept. From p. */
const char *ocon_term_safe(apr_pool_t *p, const char *s);
const char *ocon_time_iso(apr_pool_t *p, apr_int64_t t);
/* How long ago t was, seen at now: "just now", "12 s ago", "5 min ago",
 * "3 h ago", "2 d ago"; "in 5 min" for the future; "never" for t <= 0. */
const char *ocon_age_text(apr_pool_t *p, apr_int64_t t, apr_int64_t now);
/* A short, printable summary of a User-Agent ("Firefox 121 on Linux",
 * "curl 7", or the first 48 characters with anything but printable ASCII as
 * '?'); "" for NULL or "". From p. (ua.c) */
const char *ocon_ua_summary(apr_pool_t *p, const char *ua);

/* ---------------------------------------------------------------- audit */

/* Append one line "time admin=.. action=.. target=.. count=.. via=.. client=.."
 * to the audit log (one write(2), O_APPEND). Values are quoted and escaped.
 * Returns APR_SUCCESS or the open/write error. */
apr_status_t ocon_audit(apr_pool_t *p, const char *path, const char *admin, const char *action,
                        const char *target, int count, const char *via, const char *client);
/* Can the audit log be opened for appending? Checked before any revocation. */
apr_status_t ocon_audit_check(apr_pool_t *p, const char *path, const char **err);
const char *ocon_audit_quote(apr_pool_t *p, const char *v);
/* A description of a filter for the audit log ("provider=main sub=alice"). */
const char *ocon_filter_describe(apr_pool_t *p, const ocon_filter_t *f);

/* ---------------------------------------------------------------- commands */

int ocon_run(apr_pool_t *p, const ocon_cli_t *cli);
int ocon_serve(ocon_ctx_t *ctx, apr_pool_t *p);

#endif
