/*
 * master_cf.h - the service table master.cf: parse, check, print.
 *
 * Format (Postfix): one service per logical line; a physical line that
 * starts with white space continues the previous one; a line whose first
 * non-blank character is '#' is a comment; blank lines are ignored. Columns:
 *
 *   service type private unpriv chroot wakeup maxproc command [args...]
 *
 *   service  unix: a socket name ([A-Za-z0-9._-], not starting with '.');
 *            inet: "port", "host:port" or "[ipv6]:port"; port is a number
 *            or a name from /etc/services (getservbyname).
 *   type     "inet" or "unix"; anything else is an error.
 *   private, unpriv, chroot   'y', 'n' or '-' (default), kept as written.
 *   wakeup   '-' or seconds, optionally followed by '?' ("only if used",
 *            accepted and treated the same); 0 means no wakeup.
 *   maxproc  '-' (default_process_limit) or a count; 0 means no limit.
 *   command  a program name in daemon_directory ([A-Za-z0-9._-], no '/').
 *   args     "-o name=value" (or "-oname=value", or "-o { name = value }")
 *            become options; every other argument is kept in order.
 *            An argument "{ text }" is one argument "text" (braces nest).
 *
 * Errors are reported as "FILE:LINE: message": too few columns, bad type,
 * bad flag, bad number, bad service name, duplicate service + type,
 * unbalanced braces, control characters, a file or line over the limits.
 *
 * Memory: a struct master_cf owns every entry and string in it;
 * master_cf_free() releases them all. The text given to master_cf_parse()
 * is not kept. master_cf_print() returns a string the caller frees.
 * Success convention: 0 ok, -1 error with err filled (cf left empty).
 */
#ifndef POSTERN_MASTER_CF_H
#define POSTERN_MASTER_CF_H

#include <stddef.h>

enum master_cf_type { MASTER_CF_INET, MASTER_CF_UNIX };

/* maxproc '-': use default_process_limit. */
#define MASTER_CF_LIMIT_DEFAULT (-1L)

#define MASTER_CF_SIZE_MAX   (1024 * 1024)  /* bytes per file */
#define MASTER_CF_LINE_MAX   (64 * 1024)    /* bytes per logical line */
#define MASTER_CF_ARGS_MAX   1000           /* arguments per service */
#define MASTER_CF_ENTRY_MAX  1000           /* services per file */
#define MASTER_CF_NAME_MAX   80             /* unix service / command name */
#define MASTER_CF_WAKEUP_MAX 604800L        /* one week */
#define MASTER_CF_PROC_MAX   100000L

struct master_cf_entry {
    char *service;          /* column 1 exactly as written */
    enum master_cf_type type;
    char *host;             /* inet: host without brackets, NULL = every address */
    int port;               /* inet: 1..65535; unix: 0 */
    char private_flag;      /* 'y', 'n' or '-' */
    char unpriv_flag;
    char chroot_flag;
    long wakeup;            /* seconds, 0 = none */
    int wakeup_if_used;     /* written with a '?' suffix */
    long maxproc;           /* MASTER_CF_LIMIT_DEFAULT, 0 = no limit, or N */
    char *command;
    char **options;         /* "name=value", name and value trimmed */
    size_t n_options;
    char **args;            /* other arguments, in order */
    size_t n_args;
    int line;               /* first line of the entry in the file */
};

struct master_cf {
    struct master_cf_entry *entries;
    size_t count;
};

/*
 * Parse `len` bytes of master.cf text; `filename` is used in messages only.
 * On success cf holds the services in file order. On error cf is empty and
 * err holds "FILENAME:LINE: problem".
 */
int master_cf_parse(struct master_cf *cf, const char *filename,
                    const char *text, size_t len, char *err, size_t errlen);

/* Read and parse a file (at most MASTER_CF_SIZE_MAX bytes). */
int master_cf_load(struct master_cf *cf, const char *path, char *err, size_t errlen);

/* Release everything cf owns; cf is left empty and may be reused. */
void master_cf_free(struct master_cf *cf);

/* Print in master.cf format; parsing the result gives the same table. */
char *master_cf_print(const struct master_cf *cf);

/* The entry for service + type, or NULL. `service` is compared as written. */
const struct master_cf_entry *master_cf_find(const struct master_cf *cf,
                                             const char *service,
                                             enum master_cf_type type);

/* "inet" / "unix". */
const char *master_cf_type_name(enum master_cf_type type);

/* Resolve a flag column: 'y' -> 1, 'n' -> 0, '-' -> def. */
int master_cf_flag(char flag, int def);

/*
 * Value of option `name` given with -o for this entry (the last one wins),
 * or NULL when the entry does not set it.
 */
const char *master_cf_option(const struct master_cf_entry *entry, const char *name);

#endif
