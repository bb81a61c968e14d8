/* The CLI commands. Each returns an exit code (console.h OCON_EXIT_*). */
#include "console.h"

#include "aoidc_directory.h"

#include <apr_strings.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    apr_pool_t *p;
    const ocon_cli_t *cli;
    ocon_ctx_t ctx;
} run_t;

static int fail(const run_t *r, int code, const char *msg)
{
    fprintf(stderr, "oidc-console: %s\n", msg);
    if (r->cli->json) {
        json_t *j = json_pack("{s:s, s:i}", "error", msg, "exit", code);
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(j);
    }
    return code;
}

static int fail_rc(const run_t *r, ocon_rc_t rc)
{
    return fail(r, ocon_rc_exit(rc), ocon_rc_str(rc));
}

static void print_json(json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(j);
}

static const char *cli_admin(apr_pool_t *p)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    const char *me = pw ? pw->pw_name : apr_psprintf(p, "uid%" APR_INT64_T_FMT, (apr_int64_t)getuid());
    return sudo && ocon_value_ok(sudo) ? apr_pstrcat(p, me, "(sudo:", sudo, ")", NULL) : me;
}

static int cmd_sessions(run_t *r)
{
    const ocon_cli_t *c = r->cli;
    ocon_page_t pg;
    int per_page = c->all ? 0 : (c->per_page ? c->per_page : r->ctx.cfg->per_page);
    ocon_rc_t rc = ocon_sessions_find(&r->ctx, r->p, &c->f, c->all ? 1 : c->page, per_page, &pg);
    if (rc != OCON_OK) {
        return fail_rc(r, rc);
    }
    if (c->json) {
        print_json(ocon_page_json(&pg));
    }
    else {
        ocon_print_sessions_text(stdout, &pg);
    }
    /* a filter that matches nothing is "not found"; an empty cluster is not */
    return pg.total == 0 && pg.sessions->nelts == 0 && !ocon_filter_empty(&c->f) ? OCON_EXIT_NOT_FOUND
                                                                                 : OCON_EXIT_OK;
}

static int cmd_show(run_t *r)
{
    ocon_filter_t f = {0};
    ocon_page_t pg;
    f.handle = APR_ARRAY_IDX(r->cli->handles, 0, const char *);
    ocon_rc_t rc = ocon_sessions_find(&r->ctx, r->p, &f, 1, 1, &pg);
    if (rc == OCON_BAD_INPUT) {
        return fail(r, OCON_EXIT_USAGE, "malformed handle");
    }
    if (rc != OCON_OK) {
        return fail_rc(r, rc);
    }
    if (pg.sessions->nelts == 0) {
        return fail(r, OCON_EXIT_NOT_FOUND, "no such session");
    }
    ocon_session_t *s = &APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t);
    if (r->cli->json) {
        print_json(ocon_session_json(s, 1));
    }
    else {
        ocon_print_session_text(stdout, s);
    }
    return OCON_EXIT_OK;
}

static int cmd_revoke(run_t *r)
{
    const ocon_cli_t *c = r->cli;
    const char *err;
    apr_array_header_t *found = apr_array_make(r->p, 8, sizeof(ocon_session_t));
    const char *target;
    ocon_rc_t rc;
    ocon_page_t pg;
    if (ocon_audit_check(r->p, r->ctx.cfg->audit_log, &err) != APR_SUCCESS) {
        return fail(r, OCON_EXIT_CONFIG, apr_psprintf(r->p, "%s (revocations are audited)", err));
    }
    if (c->handles->nelts) {
        target = "handle=";
        for (int i = 0; i < c->handles->nelts; i++) {
            ocon_filter_t f = {0};
            f.handle = APR_ARRAY_IDX(c->handles, i, const char *);
            rc = ocon_sessions_find(&r->ctx, r->p, &f, 1, 1, &pg);
            if (rc == OCON_BAD_INPUT) {
                return fail(r, OCON_EXIT_USAGE, apr_psprintf(r->p, "malformed handle '%s'", f.handle));
            }
            if (rc != OCON_OK) {
                return fail_rc(r, rc);
            }
            if (pg.sessions->nelts) {
                APR_ARRAY_PUSH(found, ocon_session_t) = APR_ARRAY_IDX(pg.sessions, 0, ocon_session_t);
            }
            target = apr_pstrcat(r->p, target, i ? "," : "", f.handle, NULL);
        }
    }
    else {
        rc = ocon_revoke_epochs(&r->ctx, r->p, &c->f);
        if (rc == OCON_OK) {
            rc = ocon_sessions_find(&r->ctx, r->p, &c->f, 1, 0, &pg);
        }
        if (rc != OCON_OK) {
            return fail_rc(r, rc);
        }
        found = pg.sessions;
        target = ocon_filter_describe(r->p, &c->f);
    }
    int count = 0;
    rc = ocon_sessions_revoke(&r->ctx, r->p, found, &count);
    const char *action = c->handles->nelts ? "revoke-session"
                         : (c->f.sub || c->f.email || c->f.name) ? "revoke-user"
                         : (c->f.provider && !c->f.sid)          ? "revoke-provider"
                                                                 : "revoke-filter";
    apr_status_t arv = ocon_audit(r->p, r->ctx.cfg->audit_log, cli_admin(r->p), action, target, count, "cli", "-");
    if (arv != APR_SUCCESS) {
        fprintf(stderr, "oidc-console: could not write the audit log %s\n", r->ctx.cfg->audit_log);
    }
    if (rc != OCON_OK) {
        return fail_rc(r, rc);
    }
    if (c->json) {
        json_t *h = json_array();
        for (int i = 0; i < found->nelts; i++) {
            json_array_append_new(h, json_string(APR_ARRAY_IDX(found, i, ocon_session_t).handle));
        }
        print_json(json_pack("{s:i, s:i, s:o}", "revoked", count, "matched", found->nelts, "handles", h));
    }
    else {
        printf("revoked %d session%s\n", count, count == 1 ? "" : "s");
    }
    if (found->nelts == 0) {
        return OCON_EXIT_NOT_FOUND;
    }
    return arv == APR_SUCCESS ? OCON_EXIT_OK : OCON_EXIT_FAILURE;
}

static void print_flat_table(json_t *nodes, json_t *differing, const char *member)
{
    size_t i, k;
    json_t *n, *path;
    json_array_foreach(differing, k, path)
    {
        printf("  ! %s\n", json_string_value(path));
        json_array_foreach(nodes, i, n)
        {
            json_t *flat = json_object_get(n, member);
            json_t *v = json_object_get(flat, json_string_value(path));
            printf("      %-16s %s\n", json_string_value(json_object_get(n, "node")),
                   v ? json_string_value(v) : "(absent)");
        }
    }
}

static int cmd_nodes(run_t *r)
{
    json_t *nodes;
    ocon_rc_t rc = ocon_nodes_load(&r->ctx, r->p, &nodes);
    if (rc != OCON_OK) {
        return fail_rc(r, rc);
    }
    json_t *arr = json_object_get(nodes, "nodes"), *n;
    size_t i;
    if (r->cli->json) {
        json_array_foreach(arr, i, n)
        {
            json_object_del(n, "flat");
        }
        print_json(nodes);
        return OCON_EXIT_OK;
    }
    json_t *diff = json_object_get(nodes, "differing");
    printf("%zu node%s, %zu differing setting%s\n", json_array_size(arr), json_array_size(arr) == 1 ? "" : "s",
           json_array_size(diff), json_array_size(diff) == 1 ? "" : "s");
    json_array_foreach(arr, i, n)
    {
        printf("  %-20s %s\n", json_string_value(json_object_get(n, "node")),
               json_is_true(json_object_get(n, "readable")) ? "snapshot ok" : "no readable snapshot");
    }
    print_flat_table(arr, diff, "flat");
    json_decref(nodes);
    return OCON_EXIT_OK;
}

/* issue 13: the display name and the locations that use a provider, on which
 * nodes: one line when every node lists the same ones, else a line per node. */
static void print_locations(apr_pool_t *p, const char *on, json_t *locs)
{
    json_t *l;
    size_t k;
    printf("  locations %s:%s", on, json_array_size(locs) ? "" : " none");
    json_array_foreach(locs, k, l)
    {
        printf("%s %s", k ? "," : "", ocon_term_safe(p, json_string_value(l)));
    }
    printf("\n");
}

static void print_usage_text(apr_pool_t *p, json_t *pv)
{
    json_t *by = json_object_get(pv, "locations"), *locs;
    const char *node;
    printf("  display name: %s\n", ocon_term_safe(p, json_string_value(json_object_get(pv, "display_name"))));
    if (json_object_size(by) == 0) {
        return;
    }
    if (json_is_true(json_object_get(pv, "locations_same"))) {
        const char *nodes = NULL;
        json_t *first = NULL;
        json_object_foreach(by, node, locs)
        {
            nodes = nodes ? apr_pstrcat(p, nodes, ", ", node, NULL) : node;
            first = first ? first : locs;
        }
        print_locations(p, apr_pstrcat(p, "(", nodes, ")", NULL), first);
        return;
    }
    json_object_foreach(by, node, locs)
    {
        print_locations(p, apr_pstrcat(p, "on ", node, NULL), locs);
    }
}

static int cmd_providers(run_t *r)
{
    json_t *nodes;
    ocon_rc_t rc = ocon_nodes_load(&r->ctx, r->p, &nodes);
    if (rc != OCON_OK) {
        return fail_rc(r, rc);
    }
    json_t *provs = ocon_providers_from_nodes(&r->ctx, r->p, nodes, 1);
    json_decref(nodes);
    json_t *arr = json_object_get(provs, "providers"), *pv;
    size_t i;
    if (r->cli->f.provider) {
        json_t *one = NULL;
        json_array_foreach(arr, i, pv)
        {
            if (!strcmp(json_string_value(json_object_get(pv, "name")), r->cli->f.provider)) {
                one = json_incref(pv);
            }
        }
        json_decref(provs);
        if (!one) {
            return fail(r, OCON_EXIT_NOT_FOUND, "no such provider");
        }
        provs = json_pack("{s:[o]}", "providers", one);
        arr = json_object_get(provs, "providers");
    }
    if (r->cli->json) {
        print_json(provs);
        return OCON_EXIT_OK;
    }
    json_array_foreach(arr, i, pv)
    {
        json_t *nodes_of = json_object_get(pv, "nodes"), *cfg;
        const char *node;
        json_t *issuer = NULL;
        json_object_foreach(nodes_of, node, cfg)
        {
            if (!issuer) {
                issuer = json_object_get(cfg, "issuer");
            }
        }
        printf("%-16s issuer %s, %lld session(s), on %zu node(s)%s\n", json_string_value(json_object_get(pv, "name")),
               json_is_string(issuer) ? json_string_value(issuer) : "?",
               (long long)json_integer_value(json_object_get(pv, "sessions")), json_object_size(nodes_of),
               json_array_size(json_object_get(pv, "differing")) || json_array_size(json_object_get(pv, "missing_on"))
                   ? "  ! configuration differs between nodes"
                   : "");
        print_usage_text(r->p, pv);
        json_t *diff = json_object_get(pv, "differing"), *path;
        size_t k;
        json_array_foreach(diff, k, path)
        {
            printf("  ! %s\n", json_string_value(path));
            json_object_foreach(nodes_of, node, cfg)
            {
                json_t *flat = ocon_flatten(cfg);
                json_t *v = json_object_get(flat, json_string_value(path));
                printf("      %-16s %s\n", node, v ? json_string_value(v) : "(absent)");
                json_decref(flat);
            }
        }
        json_t *miss = json_object_get(pv, "missing_on"), *m;
        json_array_foreach(miss, k, m)
        {
            printf("  ! not configured on %s\n", json_string_value(m));
        }
    }
    json_decref(provs);
    return OCON_EXIT_OK;
}

int ocon_run(apr_pool_t *p, const ocon_cli_t *cli)
{
    run_t r = {p, cli, {0}};
    const char *err;
    ocon_config_t *cfg = apr_pcalloc(p, sizeof(*cfg));
    const char *path = cli->config ? cli->config : getenv("OIDC_CONSOLE_CONFIG");
    if (!path || !*path) {
        path = OCON_DEFAULT_CONFIG;
    }
    if (ocon_config_load(p, path, cfg, &err) != APR_SUCCESS) {
        return fail(&r, OCON_EXIT_CONFIG, err);
    }
    if (cli->cmd == OCON_CMD_SERVE) {
        const char *serr = ocon_config_check_serve(p, cfg);
        if (serr) {
            return fail(&r, OCON_EXIT_CONFIG, serr);
        }
    }
    if (cli->cmd == OCON_CMD_SERVE || cli->cmd == OCON_CMD_CHECK) {
        const char *terr = ocon_config_check_tls(p, cfg, NULL, NULL);
        if (terr) {
            return fail(&r, OCON_EXIT_CONFIG, terr);
        }
    }
    int rc = ocon_ctx_open(p, cfg, cli->cmd == OCON_CMD_SERVE ? 16 : 1, &r.ctx, &err);
    if (rc != OCON_EXIT_OK) {
        return fail(&r, rc, err);
    }
    if (ocon_store_probe(&r.ctx, p) == OCON_DOWN) {
        if (cli->cmd != OCON_CMD_SERVE) {
            return fail(&r, OCON_EXIT_STORE, apr_psprintf(p, "session store unreachable (%s)", cfg->store_servers));
        }
        fprintf(stderr, "oidc-console: warning: session store unreachable (%s); serving anyway\n",
                cfg->store_servers);
    }
    switch (cli->cmd) {
    case OCON_CMD_SESSIONS:
        return cmd_sessions(&r);
    case OCON_CMD_SHOW:
        return cmd_show(&r);
    case OCON_CMD_REVOKE:
        return cmd_revoke(&r);
    case OCON_CMD_NODES:
        return cmd_nodes(&r);
    case OCON_CMD_PROVIDERS:
        return cmd_providers(&r);
    case OCON_CMD_CHECK:
        if (cli->json) {
            print_json(json_pack("{s:s, s:b}", "config", path, "store_reachable", 1));
        }
        else {
            printf("%s: ok; session store reachable\n", path);
        }
        return OCON_EXIT_OK;
    case OCON_CMD_SERVE:
        return ocon_serve(&r.ctx, p);
    default:
        return fail(&r, OCON_EXIT_USAGE, "no command");
    }
}
