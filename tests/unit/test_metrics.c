/* aoidc_metrics: counters, outcome classes, the latency histogram, the
 * counting store wrapper, the Prometheus text rendering, and counts of
 * several processes adding up in shared memory. The counter block is a plain
 * malloc'd buffer of the exact size (ASan sees any access past it). */
#include "unit.h"
#include "aoidc_metrics.h"
#include "mem_store.h"

#include <apr_shm.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *fresh_block(void)
{
    void *mem = calloc(1, aoidc_metrics_size());
    assert_non_null(mem);
    assert_int_equal(aoidc_metrics_use(mem, aoidc_metrics_size(), apr_time_from_sec(1700000000)), 0);
    return mem;
}

static void test_not_counting_is_harmless(void **state)
{
    aoidc_metrics_forget();
    aoidc_metric_inc(AOIDC_M_LOGIN_STARTED);
    assert_int_equal(aoidc_metric_get(AOIDC_M_LOGIN_STARTED), 0);
    assert_int_equal(aoidc_metric_login_outcome(302), 302);
    assert_non_null(strstr(aoidc_metrics_render(*state), "no counters"));
    char small[16];
    assert_int_equal(aoidc_metrics_use(small, sizeof(small), 0), -1);
    aoidc_metric_inc(AOIDC_M_LOGIN_STARTED);
    assert_int_equal(aoidc_metric_get(AOIDC_M_LOGIN_STARTED), 0);
}

/* a graceful restart hands the same block to the next generation: kept */
static void test_counters_kept_across_use(void **state)
{
    (void)state;
    void *mem = fresh_block();
    aoidc_metric_inc(AOIDC_M_SESSION_VALID);
    aoidc_metric_add(AOIDC_M_BACKCHANNEL_LOGOUT, 3);
    assert_int_equal(aoidc_metrics_use(mem, aoidc_metrics_size(), apr_time_from_sec(1800000000)), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_SESSION_VALID), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_BACKCHANNEL_LOGOUT), 3);
    /* a block of another layout (older module) starts from zero */
    ((uint32_t *)mem)[1] ^= 0xffu;
    assert_int_equal(aoidc_metrics_use(mem, aoidc_metrics_size(), 0), 0);
    assert_int_equal(aoidc_metric_get(AOIDC_M_SESSION_VALID), 0);
    aoidc_metrics_forget();
    free(mem);
}

static void test_outcome_classes(void **state)
{
    (void)state;
    void *mem = fresh_block();
    static const struct {
        int status;
        aoidc_metric_t id;
    } login[] = {{302, AOIDC_M_LOGIN_COMPLETED},       {400, AOIDC_M_LOGIN_FAILED_CLIENT},
                 {401, AOIDC_M_LOGIN_FAILED_REJECTED}, {403, AOIDC_M_LOGIN_FAILED_FORBIDDEN},
                 {502, AOIDC_M_LOGIN_FAILED_PROVIDER}, {503, AOIDC_M_LOGIN_FAILED_STORE},
                 {500, AOIDC_M_LOGIN_FAILED_INTERNAL}, {0, AOIDC_M_LOGIN_FAILED_INTERNAL}},
      bearer[] = {{0, AOIDC_M_BEARER_ACCEPTED},      {400, AOIDC_M_BEARER_MALFORMED},
                  {401, AOIDC_M_BEARER_INVALID},     {403, AOIDC_M_BEARER_FORBIDDEN},
                  {503, AOIDC_M_BEARER_UNAVAILABLE}, {500, AOIDC_M_BEARER_INTERNAL}};
    for (size_t i = 0; i < sizeof(login) / sizeof(login[0]); i++) {
        uint64_t before = aoidc_metric_get(login[i].id);
        assert_int_equal(aoidc_metric_login_outcome(login[i].status), login[i].status);
        assert_int_equal(aoidc_metric_get(login[i].id), before + 1);
    }
    for (size_t i = 0; i < sizeof(bearer) / sizeof(bearer[0]); i++) {
        assert_int_equal(aoidc_metric_bearer_outcome(bearer[i].status), bearer[i].status);
        assert_int_equal(aoidc_metric_get(bearer[i].id), 1);
    }
    aoidc_metric_fetch(AOIDC_M_FETCH_JWKS, APR_SUCCESS);
    aoidc_metric_fetch(AOIDC_M_FETCH_JWKS, APR_EGENERAL);
    aoidc_metric_fetch(AOIDC_M_FETCH_DISCOVERY, APR_EGENERAL);
    assert_int_equal(aoidc_metric_get(AOIDC_M_FETCH_JWKS), 2);
    assert_int_equal(aoidc_metric_get(AOIDC_M_FETCH_JWKS_FAILED), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_FETCH_DISCOVERY), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_FETCH_DISCOVERY_FAILED), 1);
    aoidc_metrics_forget();
    free(mem);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    void *mem = fresh_block();
    aoidc_metrics_observe_store_us(0);
    aoidc_metrics_observe_store_us(250);     /* le 0.00025 includes its bound */
    aoidc_metrics_observe_store_us(251);     /* next bucket */
    aoidc_metrics_observe_store_us(1000000); /* le 1 */
    aoidc_metrics_observe_store_us(1000001); /* +Inf */
    aoidc_metrics_observe_store_us(-5);      /* clock stepped back: 0 */
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_B0), 3);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_B0 + 1), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_B0 + 10), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_LAST), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_SUM_US), 250 + 251 + 1000000 + 1000001);
    aoidc_metrics_forget();
    free(mem);
}

static void test_store_wrapper_counts(void **state)
{
    apr_pool_t *p = *state;
    void *mem = fresh_block();
    aoidc_store_t *inner = mem_store_create(p, 1000);
    aoidc_store_t *st = aoidc_metrics_store_wrap(p, inner);
    char *val;
    apr_size_t len;
    uint64_t cas = 0;
    assert_string_equal(st->name, inner->name);
    assert_int_equal(st->get(st, p, "k", &val, &len, &cas), AOIDC_STORE_MISSING);
    assert_int_equal(st->add(st, "k", "v1", 2, 60), AOIDC_STORE_OK);
    assert_int_equal(st->get(st, p, "k", &val, &len, &cas), AOIDC_STORE_OK);
    assert_string_equal(val, "v1");
    assert_int_equal(st->cas(st, "k", "v2", 2, 60, cas), AOIDC_STORE_OK);
    assert_int_equal(st->set(st, "k", "v3", 2, 60), AOIDC_STORE_OK);
    mem_store_set_down(inner, 1);
    assert_int_equal(st->get(st, p, "k", &val, &len, NULL), AOIDC_STORE_DOWN);
    assert_int_equal(st->del(st, "k"), AOIDC_STORE_DOWN);
    mem_store_set_down(inner, 0);
    mem_store_fail_writes(inner, "k");
    assert_int_equal(st->set(st, "k", "v4", 2, 60), AOIDC_STORE_ERROR);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET), 3);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_ADD), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_CAS), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_SET), 2);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_DEL), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET_DOWN), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_DEL_DOWN), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_SET_ERROR), 1);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET_ERROR), 0);
    uint64_t observed = 0;
    for (int b = AOIDC_M_STORE_LAT_B0; b <= AOIDC_M_STORE_LAT_LAST; b++) {
        observed += aoidc_metric_get(b);
    }
    assert_int_equal(observed, 8); /* every operation timed once */
    /* the inner store did the work (its own per-process stats moved) */
    assert_int_equal(inner->stats.gets, 3);
    /* a multi-get: one get per key (here through the inner store's per-key
     * fallback), one latency observation */
    mem_store_fail_writes(inner, NULL);
    assert_int_equal(st->set(st, "k", "v5", 2, 60), AOIDC_STORE_OK);
    assert_non_null(st->mget);
    aoidc_store_item_t items[3] = {{"k", AOIDC_STORE_ERROR, NULL, 0}, {"nope", AOIDC_STORE_ERROR, NULL, 0},
                                   {"k", AOIDC_STORE_ERROR, NULL, 0}};
    aoidc_store_mget(st, p, items, 3);
    assert_int_equal(items[0].rc, AOIDC_STORE_OK);
    assert_string_equal(items[0].val, "v5");
    assert_int_equal(items[1].rc, AOIDC_STORE_MISSING);
    assert_int_equal(items[2].rc, AOIDC_STORE_OK);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET), 6);
    mem_store_set_down(inner, 1);
    aoidc_store_mget(st, p, items, 2);
    mem_store_set_down(inner, 0);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET), 8);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_GET_DOWN), 3);
    observed = 0;
    for (int b = AOIDC_M_STORE_LAT_B0; b <= AOIDC_M_STORE_LAT_LAST; b++) {
        observed += aoidc_metric_get(b);
    }
    assert_int_equal(observed, 8 + 1 + 2);
    assert_int_equal(inner->stats.gets, 8);
    aoidc_metrics_forget();
    free(mem);
}

/* every line of the text format 0.0.4: a comment or `name{labels} value` */
static void test_render_text_format(void **state)
{
    apr_pool_t *p = *state;
    void *mem = fresh_block();
    aoidc_metric_inc(AOIDC_M_LOGIN_STARTED);
    aoidc_metric_login_outcome(400);
    aoidc_metric_login_outcome(400);
    aoidc_metric_inc(AOIDC_M_SESSION_REVOKED);
    aoidc_metric_inc(AOIDC_M_REFRESH_OK);
    aoidc_metric_inc(AOIDC_M_REFRESH_FAILED);
    aoidc_metric_inc(AOIDC_M_REFRESH_FAILED);
    aoidc_metrics_observe_store_us(300);
    aoidc_metrics_observe_store_us(2000000);
    char *text = aoidc_metrics_render(p);

    const char *expect[] = {
        "# HELP aoidc_logins_started_total Logins sent to a provider.\n"
        "# TYPE aoidc_logins_started_total counter\n"
        "aoidc_logins_started_total 1\n",
        "\naoidc_logins_failed_total{reason=\"client\"} 2\n",
        "\naoidc_logins_failed_total{reason=\"store\"} 0\n",
        "\naoidc_sessions_refused_total{reason=\"revoked\"} 1\n",
        "\naoidc_revocations_applied_total{via=\"epoch\"} 1\n",
        "# TYPE aoidc_refreshes_total counter\n"
        "aoidc_refreshes_total{result=\"ok\"} 1\n"
        "aoidc_refreshes_total{result=\"refused\"} 0\n"
        "aoidc_refreshes_total{result=\"failed\"} 2\n",
        "\naoidc_store_errors_total{op=\"get\",kind=\"down\"} 0\n",
        "# TYPE aoidc_store_latency_seconds histogram\n",
        "\naoidc_store_latency_seconds_bucket{le=\"0.00025\"} 0\n"
        "aoidc_store_latency_seconds_bucket{le=\"0.0005\"} 1\n",
        "\naoidc_store_latency_seconds_bucket{le=\"1\"} 1\n"
        "aoidc_store_latency_seconds_bucket{le=\"+Inf\"} 2\n"
        "aoidc_store_latency_seconds_sum 2.000300\n"
        "aoidc_store_latency_seconds_count 2\n",
        "\naoidc_metrics_reset_time_seconds 1700000000\n",
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        if (!strstr(text, expect[i])) {
            fprintf(stderr, "%s", text);
            fail_msg("missing:\n%s", expect[i]);
        }
    }
    /* line grammar; each family typed once, before its samples */
    regex_t sample, comment;
    assert_int_equal(regcomp(&sample,
                             "^([a-z_]+)(\\{[a-z_]+=\"[^\"\\\\\n]*\"(,[a-z_]+=\"[^\"\\\\\n]*\")*\\})? "
                             "[0-9]+(\\.[0-9]+)?$",
                             REG_EXTENDED),
                     0);
    assert_int_equal(regcomp(&comment, "^# (HELP|TYPE) ([a-z_]+) .+$", REG_EXTENDED), 0);
    assert_true(text[strlen(text) - 1] == '\n');
    char *save = NULL, *typed = NULL;
    int samples = 0, types = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[3];
        if (regexec(&comment, line, 3, m, 0) == 0) {
            if (strncmp(line, "# TYPE", 6) == 0) {
                char *name = apr_pstrndup(p, line + m[2].rm_so, m[2].rm_eo - m[2].rm_so);
                assert_true(!typed || strcmp(typed, name) != 0);
                typed = name;
                types++;
            }
            continue;
        }
        if (regexec(&sample, line, 2, m, 0) != 0) {
            fail_msg("not a sample line: '%s'", line);
        }
        assert_non_null(typed);
        assert_true(strncmp(line, typed, strlen(typed)) == 0); /* belongs to the family just typed */
        samples++;
    }
    assert_int_equal(types, 17);
    assert_true(samples > 50);
    regfree(&sample);
    regfree(&comment);
    aoidc_metrics_forget();
    free(mem);
}

/* the way the module uses it: anonymous shared memory mapped before fork,
 * children add concurrently, the sums are exact */
static void test_processes_add_up(void **state)
{
    apr_pool_t *p = *state;
    apr_shm_t *shm, *gate;
    assert_int_equal(apr_shm_create(&shm, aoidc_metrics_size(), NULL, p), APR_SUCCESS);
    assert_int_equal(apr_shm_create(&gate, sizeof(atomic_int), NULL, p), APR_SUCCESS);
    memset(apr_shm_baseaddr_get(shm), 0, apr_shm_size_get(shm));
    atomic_int *ready = apr_shm_baseaddr_get(gate);
    atomic_init(ready, 0);
    assert_int_equal(aoidc_metrics_use(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), 0), 0);
    enum { KIDS = 3, N = 1000000 };
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            /* start together, so that the adds really race */
            atomic_fetch_add(ready, 1);
            while (atomic_load(ready) < KIDS) {
            }
            for (int i = 0; i < N; i++) {
                aoidc_metric_inc(AOIDC_M_SESSION_VALID);
                aoidc_metrics_observe_store_us(k);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < KIDS; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(aoidc_metric_get(AOIDC_M_SESSION_VALID), (uint64_t)KIDS * N);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_B0), (uint64_t)KIDS * N);
    assert_int_equal(aoidc_metric_get(AOIDC_M_STORE_LAT_SUM_US), (uint64_t)N * (0 + 1 + 2));
    aoidc_metrics_forget();
    apr_shm_destroy(gate);
    apr_shm_destroy(shm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        UNIT_TEST(test_not_counting_is_harmless), UNIT_TEST(test_counters_kept_across_use),
        UNIT_TEST(test_outcome_classes),          UNIT_TEST(test_histogram_buckets),
        UNIT_TEST(test_store_wrapper_counts),     UNIT_TEST(test_render_text_format),
        UNIT_TEST(test_processes_add_up),
    };
    return UNIT_RUN("metrics", tests);
}
