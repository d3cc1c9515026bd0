/*
 * test_queue_dir.c - queue IDs, hashed paths, creating the tree, moving,
 * finding and walking messages in a scratch queue directory.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "queue_dir.h"

static void test_state_names(void)
{
    for (int s = 0; s < QUEUE_STATE_COUNT; s++)
        CHECK_LONG(queue_state_name((enum queue_state)s),
                   queue_state_from_name(queue_state_name((enum queue_state)s)), s);
    CHECK_STR("deferred name", queue_state_name(QUEUE_DEFERRED), "deferred");
    CHECK_LONG("unknown name", queue_state_from_name("maildrop"), -1);
    CHECK_LONG("NULL name", queue_state_from_name(NULL), -1);
}

static void test_id_make(void)
{
    static const struct {
        long sec, usec;
        unsigned long long inode;
        const char *want;
    } cases[] = {
        {0x12345678, 0xABCDE, 0x42, "012345678ABCDE000042"},
        {0, 0, 0, "0000000000000000000"  "0"},
        {1700000000, 999999, 0xABCDEF, "06553F100F423FABCDEF"},
        {1700000000, 1, 0x1234567, "06553F100000011234567"},
        {1, 2, 0x1234567890ABCDEFULL, "000000001000021234567890ABCDEF"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct timeval tv = {.tv_sec = cases[i].sec, .tv_usec = cases[i].usec};
        struct timeval back;
        char id[QUEUE_ID_MAX + 1];

        queue_id_make(id, sizeof(id), &tv, (ino_t)cases[i].inode);
        CHECK_STR("queue_id_make", id, cases[i].want);
        CHECK_TRUE("made ID is valid", queue_id_valid(id));
        CHECK_LONG("queue_id_time rc", queue_id_time(id, &back), 0);
        CHECK_LONG("time round trip sec", back.tv_sec, cases[i].sec);
        CHECK_LONG("time round trip usec", back.tv_usec, cases[i].usec);
    }
}

static void test_id_valid(void)
{
    static const struct {
        const char *id;
        int want;
    } cases[] = {
        {"012345678ABCDE000042", 1},
        {"012345678ABCDE0000420000000000000000000A", 1},     /* 40 */
        {"012345678ABCDE0000420000000000000000000AB", 0},    /* 41 */
        {"012345678ABCDE00004", 0},                          /* 19 */
        {"012345678abcde000042", 0},                         /* lower case */
        {"012345678ABCDE00004G", 0},
        {"012345678F4240000042", 0},                         /* usec 1000000 */
        {"012345678F423F000042", 1},                         /* usec 999999 */
        {"../../../../etc/passwd", 0},
        {"012345678ABCDE/00042", 0},
        {"", 0},
        {NULL, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char what[80];
        snprintf(what, sizeof(what), "queue_id_valid(%s)", cases[i].id ? cases[i].id : "NULL");
        CHECK_LONG(what, queue_id_valid(cases[i].id), cases[i].want);
    }
    {
        struct timeval tv;
        CHECK_LONG("queue_id_time on bad ID", queue_id_time("XYZ", &tv), -1);
    }
}

/* IDs made in arrival order compare in that order, whatever the inode. */
static void test_id_order(void)
{
    static const struct {
        long sec, usec;
        unsigned long long inode;
    } arrivals[] = {
        {1700000000, 5, 0xFFFFFFFFFULL},
        {1700000000, 6, 0x1},
        {1700000000, 999999, 0xABC},
        {1700000001, 0, 0x10000000},
        {1700000016, 0, 0x2},
        {2000000000, 12, 0x3},
    };
    char prev[QUEUE_ID_MAX + 1] = "";

    for (size_t i = 0; i < sizeof(arrivals) / sizeof(arrivals[0]); i++) {
        struct timeval tv = {.tv_sec = arrivals[i].sec, .tv_usec = arrivals[i].usec};
        char id[QUEUE_ID_MAX + 1];

        queue_id_make(id, sizeof(id), &tv, (ino_t)arrivals[i].inode);
        if (i > 0)
            CHECK_TRUE("later arrival sorts later", strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof(prev));
    }
}

static void test_paths(void)
{
    char buf[QUEUE_PATH_MAX];

    queue_path(buf, sizeof(buf), QUEUE_DEFERRED, "012345678ABCDE00003F");
    CHECK_STR("queue_path", buf, "deferred/3/F/012345678ABCDE00003F");
    queue_leaf_dir(buf, sizeof(buf), QUEUE_DEFERRED, "012345678ABCDE00003F");
    CHECK_STR("queue_leaf_dir", buf, "deferred/3/F");
    queue_path(buf, sizeof(buf), QUEUE_INCOMING, "012345678ABCDE1234567");
    CHECK_STR("queue_path incoming", buf, "incoming/6/7/012345678ABCDE1234567");
    queue_path(buf, sizeof(buf), QUEUE_HOLD, "../../etc/passwd");
    CHECK_STR("queue_path of a bad ID is empty", buf, "");
    queue_leaf_dir(buf, sizeof(buf), QUEUE_HOLD, "short");
    CHECK_STR("queue_leaf_dir of a bad ID is empty", buf, "");
    queue_path(buf, sizeof(buf), (enum queue_state)99, "012345678ABCDE00003F");
    CHECK_STR("queue_path of a bad state is empty", buf, "");
}

/* --- the filesystem part --- */

static int touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static long mode_of(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return -1;
    return (long)(st.st_mode & 07777);
}

static void test_create(void)
{
    static const char *const dirs[] = {
        "incoming/0/0", "active/F/F", "deferred/A/5", "hold/9/C", "corrupt/F/0",
    };

    CHECK_LONG("queue_dir_create", queue_dir_create((uid_t)-1, (gid_t)-1), 0);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        CHECK_LONG(dirs[i], mode_of(dirs[i]), 0700);
    CHECK_LONG("tmp mode", mode_of("tmp"), 0700);
    CHECK_LONG("private mode", mode_of("private"), 0700);
    CHECK_LONG("public mode", mode_of("public"), 0711);
    CHECK_LONG("pid mode", mode_of("pid"), 0700);
    CHECK_LONG("queue_dir_create again keeps the tree",
               queue_dir_create((uid_t)-1, (gid_t)-1), 0);
    {
        /* A file where a directory should be is an error. */
        CHECK_LONG("touch", touch("pid/x"), 0);
        CHECK_LONG("rename", rename("pid", "pid.saved"), 0);
        CHECK_LONG("touch pid", touch("pid"), 0);
        CHECK_LONG("create over a file fails", queue_dir_create((uid_t)-1, (gid_t)-1), -1);
        unlink("pid");
        rename("pid.saved", "pid");
    }
}

static void test_move_find(void)
{
    const char *id = "06553F100F423FABCDEF";
    char path[QUEUE_PATH_MAX];
    enum queue_state state = QUEUE_CORRUPT;

    CHECK_LONG("not found yet", queue_find(id, &state), -1);
    CHECK_LONG("errno ENOENT", errno, ENOENT);
    queue_path(path, sizeof(path), QUEUE_INCOMING, id);
    CHECK_LONG("create message", touch(path), 0);
    CHECK_LONG("find in incoming", queue_find(id, &state), 0);
    CHECK_STR("state incoming", queue_state_name(state), "incoming");
    CHECK_LONG("move to active", queue_move(id, QUEUE_INCOMING, QUEUE_ACTIVE), 0);
    CHECK_LONG("find in active", queue_find(id, &state), 0);
    CHECK_STR("state active", queue_state_name(state), "active");
    CHECK_LONG("move from wrong state", queue_move(id, QUEUE_INCOMING, QUEUE_HOLD), -1);
    CHECK_LONG("errno ENOENT", errno, ENOENT);
    CHECK_LONG("move to deferred", queue_move(id, QUEUE_ACTIVE, QUEUE_DEFERRED), 0);
    queue_path(path, sizeof(path), QUEUE_DEFERRED, id);
    CHECK_LONG("file at deferred path", access(path, F_OK), 0);
    CHECK_LONG("sync parent", queue_sync_parent(path), 0);
    CHECK_LONG("sync parent of a missing dir", queue_sync_parent("nowhere/x"), -1);
    CHECK_LONG("sync parent of a bare name", queue_sync_parent("x"), 0);
    CHECK_LONG("find bad ID", queue_find("../../etc/passwd", &state), -1);
    CHECK_LONG("errno EINVAL", errno, EINVAL);
    CHECK_LONG("move bad ID", queue_move("nope", QUEUE_ACTIVE, QUEUE_HOLD), -1);
    /* A directory with an ID's name is not a message. */
    queue_path(path, sizeof(path), QUEUE_HOLD, "06553F100F423F000001");
    CHECK_LONG("mkdir", mkdir(path, 0700), 0);
    CHECK_LONG("directory not found as message",
               queue_find("06553F100F423F000001", &state), -1);
    rmdir(path);
}

struct walk_ctx {
    int good, bad, stop_after;
    char last_bad[256];
};

static int walk_fn(const char *id, void *ctx)
{
    struct walk_ctx *w = ctx;

    if (!queue_id_valid(id))
        return -99;
    w->good++;
    return w->stop_after && w->good >= w->stop_after ? 7 : 0;
}

static void bad_fn(const char *path, void *ctx)
{
    struct walk_ctx *w = ctx;

    w->bad++;
    snprintf(w->last_bad, sizeof(w->last_bad), "%s", path);
}

static void test_walk(void)
{
    static const char *const ids[] = {
        "06553F100F423F000000", "06553F100F423F0000A1", "06553F100F423F00FFFF",
    };
    char path[QUEUE_PATH_MAX];
    struct walk_ctx w = {0};

    /* deferred already holds one message from test_move_find */
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        queue_path(path, sizeof(path), QUEUE_DEFERRED, ids[i]);
        CHECK_LONG(path, touch(path), 0);
    }
    CHECK_LONG("junk file", touch("deferred/0/0/junk"), 0);
    CHECK_LONG("dot file", touch("deferred/0/0/.nfs0001"), 0);
    CHECK_LONG("wrong leaf", touch("deferred/1/2/06553F100F423F000000"), 0);
    CHECK_LONG("walk", queue_walk(QUEUE_DEFERRED, walk_fn, bad_fn, &w), 0);
    CHECK_LONG("walk found", w.good, 4);
    CHECK_LONG("walk bad", w.bad, 2);

    memset(&w, 0, sizeof(w));
    CHECK_LONG("walk without bad_fn", queue_walk(QUEUE_DEFERRED, walk_fn, NULL, &w), 0);
    CHECK_LONG("walk found", w.good, 4);

    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    CHECK_LONG("walk stops with fn's value",
               queue_walk(QUEUE_DEFERRED, walk_fn, bad_fn, &w), 7);
    CHECK_LONG("walk stopped after", w.good, 2);

    memset(&w, 0, sizeof(w));
    CHECK_LONG("walk empty state", queue_walk(QUEUE_HOLD, walk_fn, bad_fn, &w), 0);
    CHECK_LONG("nothing in hold", w.good + w.bad, 0);
    CHECK_LONG("walk bad state", queue_walk((enum queue_state)42, walk_fn, NULL, &w), -1);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    char template[] = "/tmp/test_queue_dir.XXXXXX";
    char *top;

    test_state_names();
    test_id_make();
    test_id_valid();
    test_id_order();
    test_paths();

    umask(077);                 /* public/ must still come out 0711 */
    top = mkdtemp(template);
    if (top == NULL || chdir(top) < 0) {
        perror("mkdtemp/chdir");
        return 1;
    }
    test_create();
    test_move_find();
    test_walk();
    if (chdir("/") == 0)
        nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_finish("test_queue_dir");
}
