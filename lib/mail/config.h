/*
 * config.h - main.cf: parameters declared once, parsed, expanded, checked.
 *
 * Every parameter Postern knows is declared in one table (params.c): its
 * name, kind, default text and bounds, and the global variable that holds its
 * value. config_load() reads `main.cf` from a configuration directory, applies
 * "-o name=value" overrides, expands $name and ${name} references, checks
 * kinds and bounds, and stores the results in the var_* globals. A name that
 * is not in the table is an error (with file and line), never silence.
 *
 * Format (Postfix): "name = value" lines; a line starting with white space
 * continues the previous one; '#' at the start of a line begins a comment;
 * blank lines are ignored. Time values take an optional unit suffix
 * s, m, h, d, w (default given per parameter); sizes are plain byte counts.
 *
 * Success convention for lib/: functions return 0 on success and -1 on
 * failure, filling `err` (caller-supplied buffer) with a message that names
 * the file and line.
 * Memory: the var_* strings are owned by this module and stay valid until the
 * next config_load() (which replaces them all).
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stddef.h>

enum param_kind { PARAM_STR, PARAM_INT, PARAM_BOOL, PARAM_TIME, PARAM_SIZE };

struct param_def {
    const char *name;
    enum param_kind kind;
    const char *def;        /* default text, may contain $name */
    long min, max;          /* bounds for numbers (inclusive) */
    char time_unit;         /* default unit for PARAM_TIME: 's', 'm', 'h', 'd' */
    void *var;              /* char ** for STR, long * otherwise (seconds for TIME) */
    const char *doc;        /* one-line description for docs and -h */
};

extern const struct param_def param_table[];
extern const size_t param_table_len;

#define CONFIG_ERR_MAX 512

/* Resolve the config directory: explicit (-c) > $MAIL_CONFIG > built-in. */
const char *config_dir_choose(const char *explicit_dir);

/*
 * Load DIR/main.cf plus overrides ("name=value" strings, may be NULL/0).
 * Returns 0, or -1 with err filled.
 */
int config_load(const char *dir, char *const *overrides, size_t n_overrides,
                char *err, size_t errlen);

/* The expanded value of a parameter by name, or NULL if unknown. */
const char *config_get(const char *name);
/* The raw (unexpanded) value as written in main.cf or the default. */
const char *config_get_raw(const char *name);
/* Was the parameter set explicitly in main.cf or by an override? */
int config_is_set(const char *name);

/* Parse "30s", "5m", "2h", "1d", "1w" (unit defaults to `unit`). */
int config_parse_time(const char *text, char unit, long *seconds);
/* Parse a boolean "yes"/"no". */
int config_parse_bool(const char *text, long *value);

#endif
