/*
 * privs.c - give up root for good (see privs.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "errtext.h"
#include "privs.h"

int privs_become_ids(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (uid == 0) {
        errtext_set(err, errlen, "refusing to run as root (uid 0)");
        return -1;
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        errtext_set(err, errlen, "cannot switch to uid %ld gid %ld: %s",
                    (long)uid, (long)gid, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || getuid() == 0 || geteuid() == 0 || getegid() != gid) {
        errtext_set(err, errlen, "privileges were not dropped");
        return -1;
    }
    return 0;
}

int privs_become(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);

    if (pw == NULL) {
        errtext_set(err, errlen, "mail_owner \"%s\": no such user", user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        errtext_set(err, errlen, "mail_owner \"%s\" must not be root", user);
        return -1;
    }
    return privs_become_ids(pw->pw_uid, pw->pw_gid, err, errlen);
}
