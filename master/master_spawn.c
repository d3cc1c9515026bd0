/*
 * master_spawn.c - start one process of a service: fork, arrange, exec.
 *
 * The parent prepares everything that allocates (argv, environment, the
 * status pipe) before fork(). The child then only:
 *   1. restores default signal handling and an empty signal mask;
 *   2. reads standard input from /dev/null;
 *   3. as root: setgroups, setgid, setuid to mail_owner, each checked, and
 *      checks that root cannot be regained;
 *   4. moves the status pipe to fd 3 and the listeners to fd 4.., clearing
 *      close-on-exec on exactly those, and closes every other descriptor
 *      above 2;
 *   5. execve(daemon_directory/COMMAND) with
 *      COMMAND -c DIR -n SERVICE -t TYPE [-o name=value]... [-v]
 *      and POSTERN_LISTEN_FDS=N in the environment. No shell, ever.
 * A child that fails a step exits 127 (master logs it and throttles).
 * Memory: nothing survives a call except the new struct master_child.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

#include "alloc.h"
#include "mail_proto.h"
#include "master.h"
#include "msg.h"

#define FD_CLOSE_FALLBACK_MAX 65536

extern char **environ;

static char **build_argv(const struct master_serv *serv)
{
    const struct master_cf_entry *e = serv->ent;
    size_t n = 7 + 2 * e->n_options + e->n_args + 2;
    char **argv = xcalloc(n, sizeof(char *));
    size_t i = 0;

    argv[i++] = e->command;
    argv[i++] = "-c";
    argv[i++] = master_state.conf->params.config_dir;
    argv[i++] = "-n";
    argv[i++] = e->service;
    argv[i++] = "-t";
    argv[i++] = (char *)master_cf_type_name(e->type);
    for (size_t j = 0; j < e->n_options; j++) {
        argv[i++] = "-o";
        argv[i++] = e->options[j];
    }
    for (size_t j = 0; j < e->n_args; j++)
        if (!(master_state.verbose && strcmp(e->args[j], "-v") == 0))
            argv[i++] = e->args[j];
    if (master_state.verbose)
        argv[i++] = "-v";
    argv[i] = NULL;
    return argv;
}

/* Our environment without POSTERN_LISTEN_FDS, plus POSTERN_LISTEN_FDS=N. */
static char **build_envp(size_t n_listeners, char **listen_var)
{
    size_t count = 0, i = 0;
    size_t prefix = strlen(MASTER_ENV_LISTEN_FDS);
    char **envp;

    while (environ[count])
        count++;
    envp = xcalloc(count + 2, sizeof(char *));
    for (size_t j = 0; j < count; j++) {
        if (strncmp(environ[j], MASTER_ENV_LISTEN_FDS, prefix) == 0
            && environ[j][prefix] == '=')
            continue;
        envp[i++] = environ[j];
    }
    *listen_var = xasprintf("%s=%zu", MASTER_ENV_LISTEN_FDS, n_listeners);
    envp[i++] = *listen_var;
    envp[i] = NULL;
    return envp;
}

/* In the child: a message on stderr, then exit 127. */
static void child_fail(const char *what, const char *path) __attribute__((noreturn));

static void child_fail(const char *what, const char *path)
{
    char line[512];
    int len = snprintf(line, sizeof(line), "master: child for %s: %s: %s\n",
                       path, what, strerror(errno));

    if (len > 0 && (size_t)len >= sizeof(line))
        len = (int)sizeof(line) - 1;
    if (len > 0 && write(2, line, (size_t)len) < 0)
        _exit(127);
    _exit(127);
}

static void child_signals(void)
{
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_privileges(const char *path)
{
    gid_t gid = master_state.gid;

    if (!master_state.is_root)
        return;
    if (setgroups(1, &gid) < 0)
        child_fail("setgroups", path);
    if (setgid(master_state.gid) < 0)
        child_fail("setgid", path);
    if (setuid(master_state.uid) < 0)
        child_fail("setuid", path);
    if (getuid() == 0 || geteuid() == 0 || setuid(0) == 0) {
        errno = EPERM;
        child_fail("privileges were not dropped", path);
    }
}

/*
 * fd 3 = status, fd 4.. = listeners. Every source is first copied above
 * the target range so that no dup2 overwrites a source still needed.
 */
static void child_descriptors(const struct master_serv *serv, int status_fd, const char *path)
{
    int high = MASTER_LISTEN_FD + (int)serv->n_listeners;
    int tmp[MASTER_LISTEN_MAX + 1];
    int null_fd = open("/dev/null", O_RDONLY);

    if (null_fd < 0 || dup2(null_fd, 0) < 0)
        child_fail("/dev/null", path);
    if (null_fd != 0)
        close(null_fd);
    tmp[0] = fcntl(status_fd, F_DUPFD, high);
    if (tmp[0] < 0)
        child_fail("dup", path);
    for (size_t i = 0; i < serv->n_listeners; i++) {
        tmp[i + 1] = fcntl(serv->listeners[i].fd, F_DUPFD, high);
        if (tmp[i + 1] < 0)
            child_fail("dup", path);
    }
    if (dup2(tmp[0], MASTER_STATUS_FD) < 0)
        child_fail("dup2", path);
    for (size_t i = 0; i < serv->n_listeners; i++)
        if (dup2(tmp[i + 1], MASTER_LISTEN_FD + (int)i) < 0)
            child_fail("dup2", path);
    if (close_range((unsigned)high, ~0U, 0) < 0) {
        for (int fd = high; fd < FD_CLOSE_FALLBACK_MAX; fd++)
            close(fd);
    }
}

static void child_exec(const struct master_serv *serv, int status_fd, char **argv,
                       char **envp) __attribute__((noreturn));

static void child_exec(const struct master_serv *serv, int status_fd, char **argv, char **envp)
{
    child_signals();
    child_privileges(serv->path);
    child_descriptors(serv, status_fd, serv->path);
    execve(serv->path, argv, envp);
    child_fail("execve", serv->path);
}

int master_spawn(struct master_serv *serv)
{
    int pipefd[2];
    char **argv, **envp;
    char *listen_var;
    sigset_t all, saved;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        msg_warn("service %s: cannot create a status pipe: %s", serv->label, strerror(errno));
        master_throttle(serv);
        return -1;
    }
    argv = build_argv(serv);
    envp = build_envp(serv->n_listeners, &listen_var);
    /*
     * Until the child has reset its signal handlers it runs master's, and
     * libevent's handler would write a signal the child gets (a SIGTERM
     * from a reload that comes right after the fork) into the pipe master
     * shares with it: master would take it for its own and stop. So no
     * signal is delivered to either side around the fork; the child resets
     * its handlers to the default before it unblocks them.
     */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &saved);
    pid = fork();
    if (pid == 0)
        child_exec(serv, pipefd[1], argv, envp);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    close(pipefd[1]);
    xfree(argv);
    xfree(envp);
    xfree(listen_var);
    if (pid < 0) {
        msg_warn("service %s: fork: %s", serv->label, strerror(errno));
        close(pipefd[0]);
        master_throttle(serv);
        return -1;
    }
    if (fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0)
        msg_warn("service %s: status pipe: %s", serv->label, strerror(errno));
    msg_debug("service %s: started %s pid %ld", serv->label, serv->path, (long)pid);
    master_child_add(serv, pid, pipefd[0]);
    return 0;
}
