/* Shared set-up for the cmocka unit tests: a fresh APR pool per test. */
#ifndef AOIDC_UNIT_H
#define AOIDC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

static inline int unit_setup(void **state)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return -1;
    }
    *state = p;
    return 0;
}

static inline int unit_teardown(void **state)
{
    apr_pool_destroy(*state);
    return 0;
}

static inline int unit_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
    apr_initialize();
    int rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    apr_terminate();
    return rc;
}

/* A malloc'd copy of the n bytes at s, without a NUL after them: a parser
 * given it that reads past n trips ASan (a pool would hide that). Free it. */
#include <stdlib.h>
#include <string.h>
static inline char *unit_exact_copy(const char *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c) {
        memcpy(c, s, n);
    }
    return c;
}

#define UNIT_TEST(f) cmocka_unit_test_setup_teardown(f, unit_setup, unit_teardown)
#define UNIT_RUN(name, tests) unit_run(name, tests, sizeof(tests) / sizeof(tests[0]))

#endif
