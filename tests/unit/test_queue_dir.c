/*
 * test_queue_dir.c - queue IDs, hashed paths, leaf directories, creating
 * the tree, moving, finding and walking messages (and what is not a
 * message) in a scratch queue directory.
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
    queue_path(buf, sizeof(buf), QUEUE_INCOMING, "012345678ABCDE1234567");
    CHECK_STR("queue_path incoming", buf, "incoming/6/7/012345678ABCDE1234567");
    queue_path(buf, sizeof(buf), QUEUE_HOLD, "../../etc/passwd");
    CHECK_STR("queue_path of a bad ID is empty", buf, "");
    queue_path(buf, sizeof(buf), (enum queue_state)99, "012345678ABCDE00003F");
    CHECK_STR("queue_path of a bad state is empty", buf, "");
}

static void test_leaf_at(void)
{
    static const struct {
        int state, index, rc;
        const char *path, *parent;
    } cases[] = {
        {QUEUE_DEFERRED, 0, 0, "deferred/0/0", "deferred/0"},
        {QUEUE_DEFERRED, 0x3F, 0, "deferred/3/F", "deferred/3"},
        {QUEUE_INCOMING, 16, 0, "incoming/1/0", "incoming/1"},
        {QUEUE_HOLD, 255, 0, "hold/F/F", "hold/F"},
        {QUEUE_CORRUPT, 0xA5, 0, "corrupt/A/5", "corrupt/A"},
        {QUEUE_DEFERRED, -1, -1, "", ""},
        {QUEUE_DEFERRED, QUEUE_LEAF_COUNT, -1, "", ""},
        {QUEUE_DEFERRED, 1 << 30, -1, "", ""},
        {42, 0, -1, "", ""},
        {-1, 0, -1, "", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct queue_leaf leaf;
        char parent[QUEUE_PATH_MAX], what[80];

        snprintf(what, sizeof(what), "queue_leaf_at(%d, %d)", cases[i].state, cases[i].index);
        CHECK_LONG(what, queue_leaf_at(&leaf, (enum queue_state)cases[i].state,
                                       cases[i].index), cases[i].rc);
        CHECK_STR(what, leaf.path, cases[i].path);
        queue_leaf_parent(&leaf, parent, sizeof(parent));
        CHECK_STR("queue_leaf_parent", parent, cases[i].parent);
        if (cases[i].rc < 0) {
            CHECK_LONG("errno EINVAL", errno, EINVAL);
            CHECK_LONG("a bad leaf holds nothing",
                       queue_leaf_holds(&leaf, "012345678ABCDE000000"), 0);
        }
    }
}

static void test_leaf_of(void)
{
    static const struct {
        const char *what;
        const char *id;
        int index;
        const char *path;       /* in deferred/ */
    } cases[] = {
        {"last digits 3F", "012345678ABCDE00003F", 0x3F, "deferred/3/F"},
        {"last digits 00", "012345678ABCDE000000", 0, "deferred/0/0"},
        {"last digits FF", "06553F100F423F00FFFF", 255, "deferred/F/F"},
        {"a long inode part", "000000001000021234567890ABCDEF", 0xEF, "deferred/E/F"},
        {"lower case", "012345678abcde00003f", -1, ""},
        {"too short", "short", -1, ""},
        {"a path", "../../etc/passwd/3F", -1, ""},
        {"empty", "", -1, ""},
        {"NULL", NULL, -1, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct queue_leaf leaf;

        CHECK_LONG(cases[i].what, queue_leaf_index(cases[i].id), cases[i].index);
        CHECK_LONG(cases[i].what, queue_leaf_of(&leaf, QUEUE_DEFERRED, cases[i].id),
                   cases[i].index < 0 ? -1 : 0);
        CHECK_STR(cases[i].what, leaf.path, cases[i].path);
        CHECK_LONG(cases[i].what, leaf.index, cases[i].index);
    }
    {
        struct queue_leaf leaf;
        CHECK_LONG("queue_leaf_of a bad state",
                   queue_leaf_of(&leaf, (enum queue_state)9, "012345678ABCDE00003F"), -1);
        CHECK_STR("queue_leaf_of a bad state: no path", leaf.path, "");
    }
}

static void test_leaf_holds(void)
{
    static const struct {
        const char *what;
        const char *name;
        int want;
    } cases[] = {
        {"an ID of the leaf", "012345678ABCDE00003F", 1},
        {"another ID of the leaf", "06553F100F423F12343F", 1},
        {"an ID of the next leaf", "012345678ABCDE000040", 0},
        {"an ID of the mirror leaf", "012345678ABCDE0000F3", 0},
        {"lower-case digits", "012345678ABCDE00003f", 0},
        {"not an ID", "junk3F", 0},
        {"an NFS temporary", ".nfs00000000003F", 0},
        {"dot", ".", 0},
        {"dot dot", "..", 0},
        {"empty", "", 0},
        {"41 characters", "012345678ABCDE000000000000000000000000003F", 0},
    };
    struct queue_leaf leaf;

    queue_leaf_at(&leaf, QUEUE_ACTIVE, 0x3F);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_LONG(cases[i].what, queue_leaf_holds(&leaf, cases[i].name), cases[i].want);
}

/* Every leaf: its own path, the path queue_path gives its messages, the
 * same leaf back from an ID; siblings are consecutive. */
static void test_leaf_all(void)
{
    char prev_parent[QUEUE_PATH_MAX] = "", seen[QUEUE_LEAF_COUNT] = {0};
    int bad = 0, parents = 0;

    for (int i = 0; i < QUEUE_LEAF_COUNT; i++) {
        static const char hex[] = "0123456789ABCDEF";
        char id[] = "012345678ABCDE0000XX", path[QUEUE_PATH_MAX], want[QUEUE_PATH_MAX * 2];
        char parent[QUEUE_PATH_MAX];
        struct queue_leaf leaf, back;

        id[18] = hex[i / 16];
        id[19] = hex[i % 16];
        if (queue_leaf_at(&leaf, QUEUE_HOLD, i) < 0 || queue_leaf_of(&back, QUEUE_HOLD, id) < 0)
            bad++;
        queue_path(path, sizeof(path), QUEUE_HOLD, id);
        snprintf(want, sizeof(want), "%s/%s", leaf.path, id);
        if (strcmp(path, want) != 0 || back.index != i || strcmp(back.path, leaf.path) != 0
            || !queue_leaf_holds(&leaf, id))
            bad++;
        queue_leaf_parent(&leaf, parent, sizeof(parent));
        if (strcmp(parent, prev_parent) != 0) {
            parents++;
            snprintf(prev_parent, sizeof(prev_parent), "%s", parent);
        }
        if (seen[queue_leaf_index(id)]++)
            bad++;
    }
    CHECK_LONG("every leaf agrees with queue_path and queue_leaf_of", bad, 0);
    CHECK_LONG("leaves of one parent are consecutive", parents, 16);
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

struct strays {
    int count;
    char paths[8][64];
};

static void stray_fn(const char *path, void *ctx)
{
    struct strays *st = ctx;

    if (st->count < 8)
        snprintf(st->paths[st->count], sizeof(st->paths[0]), "%s", path);
    st->count++;
}

static int stray_seen(const struct strays *st, const char *path)
{
    for (int i = 0; i < st->count && i < 8; i++)
        if (strcmp(st->paths[i], path) == 0)
            return 1;
    return 0;
}

static void test_walk_strays(void)
{
    static const char *const want[] = {
        "hold/junk", "hold/.hidden", "hold/3/junk", "hold/G", "hold/AB", "hold/3/link",
    };
    struct strays st = {0};

    /* hold/ is empty: the tree itself is not reported. */
    CHECK_LONG("strays of a clean tree", queue_walk_strays(QUEUE_HOLD, stray_fn, &st), 0);
    CHECK_LONG("none", st.count, 0);

    CHECK_LONG("file at the top", touch("hold/junk"), 0);
    CHECK_LONG("dot file at the top", touch("hold/.hidden"), 0);
    CHECK_LONG("file beside leaves", touch("hold/3/junk"), 0);
    CHECK_LONG("directory not of the tree", mkdir("hold/G", 0700), 0);
    CHECK_LONG("two-digit directory", mkdir("hold/AB", 0700), 0);
    CHECK_LONG("symbolic link beside leaves", symlink("/tmp", "hold/3/link"), 0);
    CHECK_LONG("message in a leaf", touch("hold/3/F/06553F100F423F00003F"), 0);
    CHECK_LONG("strays", queue_walk_strays(QUEUE_HOLD, stray_fn, &st), 0);
    CHECK_LONG("strays found", st.count, 6);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        CHECK_TRUE(want[i], stray_seen(&st, want[i]));

    memset(&st, 0, sizeof(st));
    CHECK_LONG("rename a state away", rename("corrupt", "corrupt.saved"), 0);
    CHECK_LONG("missing state dir is empty", queue_walk_strays(QUEUE_CORRUPT, stray_fn, &st), 0);
    CHECK_LONG("nothing reported", st.count, 0);
    rename("corrupt.saved", "corrupt");
    CHECK_LONG("bad state", queue_walk_strays((enum queue_state)42, stray_fn, &st), -1);
    CHECK_LONG("errno EINVAL", errno, EINVAL);
    CHECK_LONG("no bad_fn", queue_walk_strays(QUEUE_HOLD, NULL, &st), -1);
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
    test_leaf_at();
    test_leaf_of();
    test_leaf_holds();
    test_leaf_all();

    umask(077);                 /* public/ must still come out 0711 */
    top = mkdtemp(template);
    if (top == NULL || chdir(top) < 0) {
        perror("mkdtemp/chdir");
        return 1;
    }
    test_create();
    test_move_find();
    test_walk();
    test_walk_strays();
    if (chdir("/") == 0)
        nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_finish("test_queue_dir");
}
