#!/bin/sh
# Build Postern, install it under a demo directory and run a demo instance in
# the foreground: SMTP on 127.0.0.1:2525, relaying everything to a loopback
# sink on 127.0.0.1:2526 that stores each message as a file you can open.
# Usage: scripts/demo.sh            (as root on Debian 12, or as a user with
#                                    the build dependencies installed)
# Environment: DEMO_DIR (default ./demo, or /var/tmp/postern-demo when the
# unprivileged mail_owner cannot reach ./demo), SMTP_PORT, SINK_PORT.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
smtp_port=${SMTP_PORT:-2525}
sink_port=${SINK_PORT:-2526}

if [ "$(id -u)" = 0 ]; then
    scripts/install-deps.sh build
    owner=postern
else
    owner=$(id -un)
fi

demo=${DEMO_DIR:-$top/demo}
if [ "$(id -u)" = 0 ] && [ -z "${DEMO_DIR:-}" ] \
   && ! setpriv --reuid=postern --regid=postern --clear-groups test -x "$top" 2>/dev/null; then
    demo=/var/tmp/postern-demo   # the daemons could not reach ./demo
fi
mkdir -p "$demo"

echo "== building and installing into $demo/install"
meson setup "$demo/build" --prefix="$demo/install" --buildtype=debugoptimized >/dev/null
ninja -C "$demo/build" >/dev/null
meson install -C "$demo/build" --quiet >/dev/null

conf=$demo/etc
mkdir -p "$conf" "$demo/received"
cat > "$conf/main.cf" <<CONF
# Demo instance written by scripts/demo.sh
queue_directory = $demo/queue
data_directory = $demo/data
daemon_directory = $demo/install/libexec/postern
command_directory = $demo/install/sbin
mail_owner = $owner
syslog_name = postern-demo
maillog_file = /dev/stderr
myhostname = demo.postern.test
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$sink_port
minimal_backoff_time = 10s
maximal_backoff_time = 60s
queue_run_delay = 10s
CONF
cat > "$conf/master.cf" <<CONF
# service             type private unpriv chroot wakeup maxproc command
127.0.0.1:$smtp_port  inet n       -      n      -      -       smtpd
cleanup               unix -       -      n      -      0       cleanup
qmgr                  unix -       -      n      10     1       qmgr
smtp                  unix -       -      n      -      -       smtp
showq                 unix n       -      n      -      -       showq
CONF
mkdir -p "$demo/queue" "$demo/data"
chown -R "$owner" "$demo/queue" "$demo/data" "$demo/received" 2>/dev/null || true

/usr/bin/python3 "$top/tests/sink/sink.py" --port "$sink_port" --dir "$demo/received" &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null || true' EXIT INT TERM

cat <<MSG

== Postern demo: SMTP on 127.0.0.1:$smtp_port, relaying to a sink on 127.0.0.1:$sink_port
Send a test message (from another terminal):
    swaks --server 127.0.0.1:$smtp_port --from me@example.com --to you@example.net
  or
    /usr/bin/python3 -c 'import smtplib; smtplib.SMTP("127.0.0.1", $smtp_port).sendmail("me@example.com", ["you@example.net"], b"Subject: hi\r\n\r\nhello\r\n")'
See what arrived:      ls -l $demo/received/   (each .eml is the message as delivered)
Look at the queue:     $demo/install/sbin/postqueue -c $conf -p      (-R: a report, -n: a count)
Look at one message:   $demo/install/sbin/postcat -c $conf -q QUEUE_ID
Check the config:      $demo/install/libexec/postern/master -c $conf -t
Stop: Ctrl-C (master stops every daemon cleanly).

MSG
"$demo/install/libexec/postern/master" -c "$conf"
