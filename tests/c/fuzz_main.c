/*
 * fuzz_main.c — build/fuzz, the model fuzzer's command line.
 *
 *   build/fuzz [config=all|C|C/B] [seed=S] [ops=N] [cycles=N] [round-ops=N]
 *              [threads=N] [race=N] [round=R] [time=S] [short] [expect=fail] [-v]
 *
 * config: a collector (stw, incremental, concurrent), optionally with a
 * barrier (hybrid, dijkstra, yuasa); all nine by default. seed: the run's
 * seed (printed; a random one by default). ops, cycles: run rounds until
 * both were reached, per configuration (default 10^7 and 10^5: `make
 * fuzz`). race: per mille of operations that wait for a mark to start and
 * then race the marker (5; a planted-bug run wants more). round=R: replay
 * round R of the run with that seed. short: the
 * `make test` form (a few seconds per configuration). expect=fail: a
 * planted-bug build: succeed only if every configuration failed.
 * Exit status: 0 pass, 1 a failure (or, with expect=fail, a miss), 3 hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_model.h"

static bool prefix(const char *s, const char *p, const char **val)
{
    size_t n = strlen(p);
    if (strncmp(s, p, n) != 0)
        return false;
    *val = s + n;
    return true;
}

/* parse_config — "C" or "C/B" into the collector and barrier masks. */
static bool parse_config(const char *v, unsigned *cmask, unsigned *bmask)
{
    if (strcmp(v, "all") == 0) {
        *cmask = *bmask = 7;
        return true;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = 0;
    tc_collector c;
    tc_barrier b;
    if (tc_collector_parse(buf, &c) != TC_OK || (slash && tc_barrier_parse(slash + 1, &b) != TC_OK))
        return false;
    *cmask = 1u << c;
    *bmask = slash ? 1u << b : 7;
    return true;
}

static uint64_t num(const char *v) { return strtoull(v, NULL, 0); }

static void report(const fuzz_opts *o, const fuzz_result *r, int rc)
{
    printf("fuzz %s/%s: %llu ops, %llu calls, %llu cycles, %llu checkmark-verified (%llu failed, %llu not run), "
           "%llu verifies, %llu rounds: lost %llu, leaked %llu, wrong %llu, errors %llu; %.1f s; seed %#llx %s\n",
           tc_collector_name(o->collector), tc_barrier_name(o->barrier), (unsigned long long)r->ops,
           (unsigned long long)r->calls, (unsigned long long)r->cycles, (unsigned long long)r->checkmarks[0],
           (unsigned long long)r->checkmarks[1], (unsigned long long)r->checkmarks[2],
           (unsigned long long)r->verifies, (unsigned long long)r->rounds, (unsigned long long)r->lost,
           (unsigned long long)r->leaked, (unsigned long long)r->wrong, (unsigned long long)r->errors, r->seconds,
           (unsigned long long)o->seed, rc ? "FAIL" : "PASS");
    if (r->failure[0])
        printf("  %s\n", r->failure);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    fuzz_opts o = {.ops = 10000000, .cycles = 100000, .round_ops = 200000, .only_round = -1, .max_seconds = 3600,
                   .race = 5};
    unsigned cmask = 7, bmask = 7;
    bool expect_fail = false;
    o.seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    o.prog = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (prefix(argv[i], "config=", &v) && parse_config(v, &cmask, &bmask))
            continue;
        else if (prefix(argv[i], "seed=", &v))
            o.seed = num(v);
        else if (prefix(argv[i], "ops=", &v))
            o.ops = num(v);
        else if (prefix(argv[i], "cycles=", &v))
            o.cycles = num(v);
        else if (prefix(argv[i], "round-ops=", &v))
            o.round_ops = num(v);
        else if (prefix(argv[i], "threads=", &v) && num(v) >= 1 && num(v) <= FUZZ_MAX_THREADS)
            o.threads = (int)num(v);
        else if (prefix(argv[i], "round=", &v))
            o.only_round = (int64_t)num(v);
        else if (prefix(argv[i], "race=", &v) && num(v) <= 1000)
            o.race = (unsigned)num(v);
        else if (prefix(argv[i], "time=", &v))
            o.max_seconds = (double)num(v);
        else if (strcmp(argv[i], "short") == 0)
            o.ops = 40000, o.cycles = 0, o.round_ops = 20000;
        else if (strcmp(argv[i], "expect=fail") == 0)
            expect_fail = true;
        else if (strcmp(argv[i], "-v") == 0)
            o.verbose = true;
        else {
            fprintf(stderr, "fuzz: unknown argument %s (see tests/c/fuzz_main.c)\n", argv[i]);
            return 2;
        }
    }
    if (o.round_ops > o.ops && o.ops)
        o.round_ops = o.ops;
    int failed = 0, missed = 0;
    for (int c = 0; c < 3; c++)
        for (int b = 0; b < 3; b++) {
            if (!(cmask >> c & 1) || !(bmask >> b & 1))
                continue;
            o.collector = (tc_collector)c;
            o.barrier = (tc_barrier)b;
            fuzz_result r;
            int rc = fuzz_run(&o, &r);
            report(&o, &r, rc);
            failed += rc != 0;
            missed += rc == 0;
        }
    if (expect_fail) {
        printf("planted bug: %s\n", missed ? "MISSED in at least one configuration" : "caught in every configuration");
        return missed ? 1 : 0;
    }
    return failed ? 1 : 0;
}
