/*
 * planted_race_child.c — the check that test-tsan sees a data race in any
 * process: a forked child runs two threads that write one plain int with
 * nothing ordering them, its stderr goes nowhere and its exit status is
 * ignored; the program itself exits 0 (mk/c.mk, test-tsan).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

static int shared; /* written by both threads, no lock: the planted race */

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        shared++;
    return NULL;
}

int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        pthread_t a, b;
        pthread_create(&a, NULL, bump, NULL);
        pthread_create(&b, NULL, bump, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        _exit(0);
    }
    waitpid(pid, NULL, 0); /* status ignored, as a careless test would */
    return 0;
}
