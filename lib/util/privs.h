/*
 * privs.h - giving up root for good.
 *
 * privs_become_ids() sets the supplementary groups to just `gid`, then the
 * group and user IDs (real, effective, saved), and checks that root cannot be
 * regained. It only makes system calls, so master's child may use it
 * between fork() and exec(). privs_become() looks the account up first and
 * refuses an account with uid 0. Every daemon (lib/mail/server.c) and every tool
 * started as root (postqueue, postsuper, postroute) gives up root through
 * these two functions and nothing else.
 * Success convention: 0 ok, -1 with err filled (errno kept where relevant).
 * No memory is owned.
 */
#ifndef POSTERN_PRIVS_H
#define POSTERN_PRIVS_H

#include <stddef.h>
#include <sys/types.h>

int privs_become_ids(uid_t uid, gid_t gid, char *err, size_t errlen);
int privs_become(const char *user, char *err, size_t errlen);

#endif
