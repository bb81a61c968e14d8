/* Command line parsing: argv -> ocon_cli_t, nothing else (unit tested). */
#include "console.h"

#include <apr_strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ocon_usage(FILE *out)
{
    fputs("usage: oidc-console [--config FILE] [--json] COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  sessions [FILTER] [--page N] [--per-page N] [--all]   list live sessions\n"
          "  show HANDLE                                          one session in detail\n"
          "  revoke HANDLE...                                     end these sessions\n"
          "  revoke FILTER                                        end every matching session\n"
          "                                                       (--provider alone needs --yes)\n"
          "  providers                                            providers and their configuration\n"
          "  nodes                                                node snapshots, differences flagged\n"
          "  serve                                                run the web console\n"
          "  check-config                                         read the config and key, then exit\n"
          "\n"
          "FILTER: --user SUB --email ADDR --name NAME --provider NAME --sid SID --handle HANDLE\n"
          "        (sessions only) --search SUBSTRING --prefix PREFIX: bounded scans of every session\n"
          "\n"
          "exit codes: 0 ok, 1 usage, 2 config, 3 store unreachable, 4 not found, 5 failure\n"
          "config: " OCON_DEFAULT_CONFIG " unless --config FILE or $OIDC_CONSOLE_CONFIG\n",
          out);
}

int ocon_value_ok(const char *v)
{
    apr_size_t n = 0;
    if (!v || !*v) {
        return 0;
    }
    for (const unsigned char *c = (const unsigned char *)v; *c; c++, n++) {
        if (*c < 0x20 || *c == 0x7f || n >= OCON_ARG_MAX) {
            return 0;
        }
    }
    return 1;
}

int ocon_filter_empty(const ocon_filter_t *f)
{
    return !f->provider && !f->sub && !f->email && !f->name && !f->sid && !f->handle && !f->q && !f->prefix;
}

static int parse_int(const char *v, long min, long max, long *out)
{
    char *end;
    if (!v || !*v || *v == '-' || *v == '+' || *v == ' ') {
        return 0;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        return 0;
    }
    *out = n;
    return 1;
}

static const struct {
    const char *name;
    ocon_cmd_t cmd;
} COMMANDS[] = {
    {"sessions", OCON_CMD_SESSIONS}, {"list", OCON_CMD_SESSIONS}, {"show", OCON_CMD_SHOW},
    {"revoke", OCON_CMD_REVOKE},     {"providers", OCON_CMD_PROVIDERS}, {"nodes", OCON_CMD_NODES},
    {"serve", OCON_CMD_SERVE},       {"check-config", OCON_CMD_CHECK},  {"help", OCON_CMD_HELP},
};

/* Options taking a value, and where the value goes. */
static const char **value_slot(ocon_cli_t *c, const char *opt)
{
    if (!strcmp(opt, "--user") || !strcmp(opt, "--sub")) {
        return &c->f.sub;
    }
    if (!strcmp(opt, "--email")) {
        return &c->f.email;
    }
    if (!strcmp(opt, "--name")) {
        return &c->f.name;
    }
    if (!strcmp(opt, "--provider")) {
        return &c->f.provider;
    }
    if (!strcmp(opt, "--sid")) {
        return &c->f.sid;
    }
    if (!strcmp(opt, "--handle")) {
        return &c->f.handle;
    }
    if (!strcmp(opt, "--search")) {
        return &c->f.q;
    }
    if (!strcmp(opt, "--prefix")) {
        return &c->f.prefix;
    }
    return NULL;
}

int ocon_cli_parse(apr_pool_t *p, int argc, const char *const *argv, ocon_cli_t *c, const char **err)
{
    memset(c, 0, sizeof(*c));
    c->handles = apr_array_make(p, 4, sizeof(const char *));
    c->page = 1;
    apr_array_header_t *pos = apr_array_make(p, 4, sizeof(const char *));
    int opts_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char *opt = NULL;
        if (!opts_done && a[0] == '-' && a[1] == '-' && a[2] == '\0') {
            opts_done = 1;
            continue;
        }
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            APR_ARRAY_PUSH(pos, const char *) = a;
            continue;
        }
        /* --opt=value */
        const char *eq = strchr(a, '=');
        opt = eq ? apr_pstrmemdup(p, a, (apr_size_t)(eq - a)) : apr_pstrdup(p, a);
        if (eq) {
            val = eq + 1;
        }
#define NEED_VALUE()                                                                                         \
    do {                                                                                                     \
        if (!val) {                                                                                          \
            if (i + 1 >= argc) {                                                                             \
                *err = apr_psprintf(p, "%s needs a value", opt);                                             \
                return -1;                                                                                   \
            }                                                                                                \
            val = argv[++i];                                                                                 \
        }                                                                                                    \
    } while (0)
#define NO_VALUE()                                                                                           \
    do {                                                                                                     \
        if (val) {                                                                                           \
            *err = apr_psprintf(p, "%s takes no value", opt);                                                \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)
        const char **slot = value_slot(c, opt);
        long n;
        if (slot) {
            NEED_VALUE();
            if (*slot) {
                *err = apr_psprintf(p, "%s given twice", opt);
                return -1;
            }
            if (!ocon_value_ok(val)) {
                *err = apr_psprintf(p, "%s: empty, too long or has control characters", opt);
                return -1;
            }
            *slot = val;
        }
        else if (!strcmp(opt, "--config") || !strcmp(opt, "-c")) {
            NEED_VALUE();
            if (!*val) {
                *err = "--config: empty file name";
                return -1;
            }
            c->config = val;
        }
        else if (!strcmp(opt, "--json")) {
            NO_VALUE();
            c->json = 1;
        }
        else if (!strcmp(opt, "--all")) {
            NO_VALUE();
            c->all = 1;
        }
        else if (!strcmp(opt, "--yes")) {
            NO_VALUE();
            c->yes = 1;
        }
        else if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            c->cmd = OCON_CMD_HELP;
            return 0;
        }
        else if (!strcmp(opt, "--version")) {
            c->cmd = OCON_CMD_VERSION;
            return 0;
        }
        else if (!strcmp(opt, "--page")) {
            NEED_VALUE();
            if (!parse_int(val, 1, 1000000, &n)) {
                *err = "--page: a number from 1";
                return -1;
            }
            c->page = (int)n;
        }
        else if (!strcmp(opt, "--per-page")) {
            NEED_VALUE();
            if (!parse_int(val, 1, OCON_PER_PAGE_MAX, &n)) {
                *err = apr_psprintf(p, "--per-page: a number from 1 to %d", OCON_PER_PAGE_MAX);
                return -1;
            }
            c->per_page = (int)n;
        }
        else {
            *err = apr_psprintf(p, "unknown option %s", opt);
            return -1;
        }
#undef NEED_VALUE
#undef NO_VALUE
    }
    if (pos->nelts == 0) {
        *err = "no command given";
        return -1;
    }
    const char *name = APR_ARRAY_IDX(pos, 0, const char *);
    for (apr_size_t k = 0; k < sizeof(COMMANDS) / sizeof(COMMANDS[0]); k++) {
        if (!strcmp(COMMANDS[k].name, name)) {
            c->cmd = COMMANDS[k].cmd;
        }
    }
    if (c->cmd == OCON_CMD_NONE) {
        *err = apr_psprintf(p, "unknown command '%s'", name);
        return -1;
    }
    int npos = pos->nelts - 1;
    const char *const *args = (const char *const *)pos->elts + 1;
    int has_filter = !ocon_filter_empty(&c->f);
    switch (c->cmd) {
    case OCON_CMD_HELP:
        return 0;
    case OCON_CMD_SESSIONS:
        if (npos) {
            *err = "sessions takes no arguments (use --handle, --user, ...)";
            return -1;
        }
        return 0;
    case OCON_CMD_SHOW:
        if (npos != 1 || has_filter) {
            *err = "show takes exactly one HANDLE";
            return -1;
        }
        APR_ARRAY_PUSH(c->handles, const char *) = args[0];
        return 0;
    case OCON_CMD_REVOKE:
        if (npos && has_filter) {
            *err = "revoke takes HANDLEs or a filter, not both";
            return -1;
        }
        if (!npos && !has_filter) {
            *err = "revoke needs HANDLEs or a filter (--user, --provider, ...)";
            return -1;
        }
        if (c->f.q || c->f.prefix) {
            *err = "revoke: --search and --prefix are for listing only";
            return -1;
        }
        if (c->f.provider && !c->f.sub && !c->f.email && !c->f.name && !c->f.sid && !c->f.handle && !c->yes) {
            *err = "revoke --provider alone ends every session of that provider: add --yes";
            return -1;
        }
        for (int k = 0; k < npos; k++) {
            if (!ocon_value_ok(args[k])) {
                *err = "revoke: bad HANDLE";
                return -1;
            }
            APR_ARRAY_PUSH(c->handles, const char *) = args[k];
        }
        return 0;
    default:
        if (npos) {
            *err = apr_psprintf(p, "%s takes no arguments", name);
            return -1;
        }
        if (has_filter && c->cmd != OCON_CMD_PROVIDERS) {
            *err = apr_psprintf(p, "%s takes no filter", name);
            return -1;
        }
        return 0;
    }
}
