/*
 * planted_child.c — the check of tests/san/reports.sh: a forked child
 * overflows a heap block, its stderr goes nowhere and its exit status is
 * ignored; the program itself exits 0. Run under reports.sh it must fail
 * (mk/c.mk, test-asan).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        volatile char *p = malloc(8);
        p[8] = 1; /* the planted heap-buffer-overflow */
        free((void *)p);
        _exit(0);
    }
    waitpid(pid, NULL, 0); /* status ignored, as a careless test would */
    return 0;
}
