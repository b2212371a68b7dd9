/*
 * planted_ub_child.c — the check that tests/san/reports.sh sees undefined
 * behaviour in any process: a forked child overflows a signed int, its
 * stderr goes nowhere and its exit status is ignored; the program itself
 * exits 0. Built as the sanitized suite is (ASan and UBSan, UBSan fatal),
 * and run under reports.sh, it must fail (mk/c.mk, test-asan).
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argv;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        volatile int x = INT_MAX;
        x += argc; /* the planted signed overflow */
        _exit(0);
    }
    waitpid(pid, NULL, 0); /* status ignored, as a careless test would */
    return 0;
}
