/*
 * master_conf.c - read and check an instance's configuration for master.
 *
 * master_conf_load() reads main.cf (config_load), master.cf
 * (master_cf_load) and checks each service the way master will use it: the
 * -o options must load on top of main.cf, the command must be an executable
 * file in daemon_directory, and the columns Postern does not implement
 * (unpriv n, chroot y, wakeup on inet, arguments other than -o and -v) are
 * errors with file and line. The main.cf values master needs are copied
 * into struct master_params, so a later failed reload cannot change them.
 * Memory: the returned master_conf owns everything in it.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "alloc.h"
#include "config.h"
#include "master.h"
#include "params.h"

static void params_snapshot(struct master_params *p)
{
    p->config_dir = xstrdup(var_config_dir);
    p->daemon_dir = xstrdup(var_daemon_dir);
    p->queue_dir = xstrdup(var_queue_dir);
    p->mail_owner = xstrdup(var_mail_owner);
    p->syslog_name = xstrdup(var_syslog_name);
    p->syslog_facility = xstrdup(var_syslog_facility);
    p->maillog_file = xstrdup(var_maillog_file);
    p->default_process_limit = var_default_process_limit;
    p->service_throttle_time = var_service_throttle_time;
    p->shutdown_timeout = var_shutdown_timeout;
}

static void params_free(struct master_params *p)
{
    xfree(p->config_dir);
    xfree(p->daemon_dir);
    xfree(p->queue_dir);
    xfree(p->mail_owner);
    xfree(p->syslog_name);
    xfree(p->syslog_facility);
    xfree(p->maillog_file);
    memset(p, 0, sizeof(*p));
}

void master_conf_free(struct master_conf *conf)
{
    if (conf == NULL)
        return;
    params_free(&conf->params);
    master_cf_free(&conf->cf);
    xfree(conf->master_cf_path);
    xfree(conf);
}

/* Columns and arguments that Postern does not implement. */
static int check_columns(const struct master_conf *conf, const struct master_cf_entry *e,
                         char *err, size_t errlen)
{
    const char *file = conf->master_cf_path;

    if (master_cf_flag(e->unpriv_flag, 1) == 0) {
        snprintf(err, errlen, "%s:%d: service %s: unpriv 'n' is not supported "
                 "(every daemon runs as mail_owner)", file, e->line, e->service);
        return -1;
    }
    if (master_cf_flag(e->chroot_flag, 0) == 1) {
        snprintf(err, errlen, "%s:%d: service %s: chroot 'y' is not supported",
                 file, e->line, e->service);
        return -1;
    }
    if (e->wakeup > 0 && e->type != MASTER_CF_UNIX) {
        snprintf(err, errlen, "%s:%d: service %s: wakeup is supported for unix services only",
                 file, e->line, e->service);
        return -1;
    }
    for (size_t i = 0; i < e->n_args; i++) {
        if (strcmp(e->args[i], "-v") != 0) {
            snprintf(err, errlen, "%s:%d: service %s: unsupported argument \"%.60s\" "
                     "(use -o name=value or -v)", file, e->line, e->service, e->args[i]);
            return -1;
        }
    }
    return 0;
}

/* The command must be an executable regular file in daemon_directory. */
static int check_command(const struct master_conf *conf, const struct master_cf_entry *e,
                         char *err, size_t errlen)
{
    char *path = xasprintf("%s/%s", conf->params.daemon_dir, e->command);
    struct stat st;
    int rc = -1;

    if (stat(path, &st) < 0)
        snprintf(err, errlen, "%s:%d: service %s: command %s: %s", conf->master_cf_path,
                 e->line, e->service, path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(err, errlen, "%s:%d: service %s: command %s is not a regular file",
                 conf->master_cf_path, e->line, e->service, path);
    else if (access(path, X_OK) < 0 || (st.st_mode & 0111) == 0)
        snprintf(err, errlen, "%s:%d: service %s: command %s is not executable",
                 conf->master_cf_path, e->line, e->service, path);
    else
        rc = 0;
    xfree(path);
    return rc;
}

/* The -o options must be known parameters with valid values. */
static int check_options(const struct master_conf *conf, const char *dir,
                         const struct master_cf_entry *e, char *err, size_t errlen)
{
    char cerr[CONFIG_ERR_MAX];

    if (e->n_options == 0)
        return 0;
    size_t n = 0;
    int skip = 0;

    if (config_load(dir, e->options, e->n_options, cerr, sizeof(cerr)) == 0)
        return 0;
    /* config.c names the culprit "override #N": name the option instead. */
    if (sscanf(cerr, "override #%zu: %n", &n, &skip) == 1 && skip > 0
        && n >= 1 && n <= e->n_options) {
        snprintf(err, errlen, "%s:%d: service %s: -o %s: %s", conf->master_cf_path,
                 e->line, e->service, e->options[n - 1], cerr + skip);
        return -1;
    }
    snprintf(err, errlen, "%s:%d: service %s: -o options: %s", conf->master_cf_path,
             e->line, e->service, cerr);
    return -1;
}

static int check_paths(const struct master_params *p, char *err, size_t errlen)
{
    if (p->queue_dir[0] != '/') {
        snprintf(err, errlen, "queue_directory must be an absolute path, not \"%s\"",
                 p->queue_dir);
        return -1;
    }
    if (p->daemon_dir[0] != '/') {
        snprintf(err, errlen, "daemon_directory must be an absolute path, not \"%s\"",
                 p->daemon_dir);
        return -1;
    }
    return 0;
}

struct master_conf *master_conf_load(const char *config_dir, char *err, size_t errlen)
{
    struct master_conf *conf = xcalloc(1, sizeof(*conf));
    char cerr[CONFIG_ERR_MAX];
    int failed = 0;

    conf->master_cf_path = xasprintf("%s/master.cf", config_dir);
    if (config_load(config_dir, NULL, 0, cerr, sizeof(cerr)) < 0) {
        snprintf(err, errlen, "%s", cerr);
        master_conf_free(conf);
        return NULL;
    }
    if (master_cf_load(&conf->cf, conf->master_cf_path, err, errlen) < 0) {
        master_conf_free(conf);
        return NULL;
    }
    /* Per-service -o checks load main.cf with overrides; reload it plain after. */
    for (size_t i = 0; i < conf->cf.count && !failed; i++)
        failed = check_options(conf, config_dir, &conf->cf.entries[i], err, errlen) < 0;
    if (config_load(config_dir, NULL, 0, cerr, sizeof(cerr)) < 0) {
        if (!failed)
            snprintf(err, errlen, "%s", cerr);
        master_conf_free(conf);
        return NULL;
    }
    if (failed) {
        master_conf_free(conf);
        return NULL;
    }
    params_snapshot(&conf->params);
    if (check_paths(&conf->params, err, errlen) < 0) {
        master_conf_free(conf);
        return NULL;
    }
    for (size_t i = 0; i < conf->cf.count; i++) {
        const struct master_cf_entry *e = &conf->cf.entries[i];
        if (check_columns(conf, e, err, errlen) < 0 || check_command(conf, e, err, errlen) < 0) {
            master_conf_free(conf);
            return NULL;
        }
    }
    return conf;
}

int master_owner_lookup(const char *name, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct passwd *pw;

    errno = 0;
    pw = getpwnam(name);
    if (pw == NULL) {
        snprintf(err, errlen, "mail_owner \"%s\": %s", name,
                 errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "mail_owner must not be root (mail_owner = %s)", name);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* An existing queue directory must be ours to use; a missing one creatable. */
static int check_queue_dir(const char *queue_dir, char *err, size_t errlen)
{
    char parent[PATH_MAX];
    struct stat st;
    char *slash;
    int found;

    if (stat(queue_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "queue_directory %s is not a directory", queue_dir);
            return -1;
        }
        if (access(queue_dir, R_OK | W_OK | X_OK) < 0) {
            snprintf(err, errlen, "queue_directory %s: %s", queue_dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "queue_directory %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    /* Find the nearest existing parent: master will create the rest. */
    snprintf(parent, sizeof(parent), "%s", queue_dir);
    found = 0;
    while (!found && (slash = strrchr(parent, '/')) != NULL) {
        *(slash == parent ? slash + 1 : slash) = '\0';
        found = stat(parent, &st) == 0;
        if (slash == parent)
            break;
    }
    if (!found || !S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) < 0) {
        snprintf(err, errlen, "queue_directory %s does not exist and cannot be created in %s",
                 queue_dir, parent);
        return -1;
    }
    return 0;
}

int master_conf_check_env(const struct master_conf *conf, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;

    if (geteuid() == 0
        && master_owner_lookup(conf->params.mail_owner, &uid, &gid, err, errlen) < 0)
        return -1;
    return check_queue_dir(conf->params.queue_dir, err, errlen);
}
