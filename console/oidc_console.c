/* oidc-console: list and revoke mod_auth_oidc sessions, show the nodes'
 * configuration; as a CLI or a web console (`serve`). main() only parses the
 * command line and hands over to the command table in cmd.c. */
#include "console.h"

#include <apr_general.h>
#include <stdlib.h>

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    ocon_cli_t cli;
    const char *err = NULL;
    int rc;
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        fputs("oidc-console: APR initialisation failed\n", stderr);
        return OCON_EXIT_FAILURE;
    }
    atexit(apr_terminate);
    if (ocon_cli_parse(p, argc, argv, &cli, &err) != 0) {
        fprintf(stderr, "oidc-console: %s\n", err);
        ocon_usage(stderr);
        return OCON_EXIT_USAGE;
    }
    switch (cli.cmd) {
    case OCON_CMD_HELP:
        ocon_usage(stdout);
        return OCON_EXIT_OK;
    case OCON_CMD_VERSION:
        printf("oidc-console %s\n", OCON_VERSION);
        return OCON_EXIT_OK;
    default:
        break;
    }
    rc = ocon_run(p, &cli);
    fflush(stdout);
    apr_pool_destroy(p);
    return rc;
}
