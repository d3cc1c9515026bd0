"""qmgr against a fake smtp delivery agent (no master, no real smtp).

Each test makes a private queue directory, writes queue files itself (format
version 1, see lib/mail/queue_file.h), starts the qmgr binary with a listening
socket on private/qmgr passed as fd 4 (as master would), and answers the
req=deliver requests on private/smtp from a Python thread with chosen
statuses. What is checked is what an operator would see: where the file is,
its recipient marks and delay records, its mtime, and the maillog lines.

Recipient addresses choose the fake agent's answer by their local part:
ok* -> sent, defer* -> deferred, bounce* -> bounced, drop* -> the agent closes
the connection without answering, hang* -> no answer at all.
"""

import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time

import pytest

import postern

STATES = ("incoming", "active", "deferred", "hold", "corrupt")
HEX = "0123456789ABCDEF"


# --------------------------------------------------------------------------
# Queue files

def queue_id(sec, usec, inode):
    return "%09X%05X%06X" % (sec & 0xFFFFFFFFF, usec, inode)


def queue_path(state, qid):
    return os.path.join(state, qid[-2], qid[-1], qid)


def queue_file_bytes(sender, rcpts, content, arrival):
    sec, usec = arrival
    out = b"POSTERN-QUEUE 1\n"
    out += b"Z %012d %012d\n" % (len(content), 0)
    out += b"T %d.%06d\n" % (sec, usec)
    out += b"S " + sender.encode() + b"\n"
    out += b"N localhost\nA 127.0.0.1\nH localhost\nP ESMTP\nB 7BIT\nI <x@test>\n"
    for state, addr in rcpts:
        out += b"R " + state.encode() + b" " + addr.encode() + b"\n"
    out += b"M\n" + content + b"E\n"
    return out


def parse_queue_file(data):
    """(recipients [(state, addr)], delay records [(time, index, dsn, reason)])."""
    rcpts, delays = [], []
    head, _, rest = data.partition(b"\nM\n")
    for line in head.split(b"\n"):
        if line.startswith(b"R "):
            rcpts.append((line[2:3].decode(), line[4:].decode()))
    size = int(re.search(rb"^Z (\d+) ", data, re.M).group(1))
    tail = rest[size:]
    assert tail.startswith(b"E\n"), "end marker missing"
    for line in tail[2:].split(b"\n"):
        if line.startswith(b"D "):
            when, index, dsn, reason = line[2:].decode().split(" ", 3)
            delays.append((int(when), int(index), dsn, reason))
    return rcpts, delays


# --------------------------------------------------------------------------
# The fake delivery agent

class FakeSmtp:
    """Listens on QUEUE/private/smtp; records requests; answers by policy."""

    def __init__(self, queue_dir, sock_dir, delays=None):
        self.queue_dir = queue_dir
        self.path = os.path.join(sock_dir, "smtp")
        self.delays = delays or {}          # nexthop -> seconds before answering
        self.requests = []
        self.errors = []
        self.lock = threading.Lock()
        self.current = {}                   # nexthop -> requests in progress
        self.max_current = {}
        self.max_active_files = 0
        self.sock = None
        self.stopping = False
        self.conns = []

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(64)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        for c in list(self.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_msg(f):
        attrs = []
        while True:
            line = f.readline()
            if not line:
                return None
            line = line.rstrip(b"\n").decode()
            if line == "":
                return attrs
            name, _, value = line.partition("=")
            attrs.append((name, value))

    def _walk_active(self):
        n = 0
        for root, _, files in os.walk(os.path.join(self.queue_dir, "active")):
            n += len(files)
        return n

    def _count_active(self):
        # A walk over 256 leaves is not a snapshot: while it runs, qmgr may
        # remove a finished message from a leaf already counted and activate
        # the next one into a leaf not yet counted, so one walk can count a
        # message that is already gone. Two walks in a row: a real excess
        # (files that stay while a delivery is in progress) shows in both.
        return min(self._walk_active(), self._walk_active())

    def _serve(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                attrs = self._read_msg(f)
                if attrs is None:
                    return
                if not self._deliver(conn, attrs):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _deliver(self, conn, attrs):
        names = [n for n, _ in attrs]
        d = dict(attrs)
        if (d.get("req") != "deliver"
                or sorted(set(names) - {"rcpt"}) != ["nexthop", "queue_file", "queue_id", "req"]
                or len(names) - names.count("rcpt") != 4):
            self.errors.append("bad request %r" % attrs)
            return False
        rcpts = []
        for n, v in attrs:
            if n == "rcpt":
                idx, _, addr = v.partition(" ")
                rcpts.append((int(idx), addr))
        req = {"queue_id": d["queue_id"], "queue_file": d["queue_file"],
               "nexthop": d["nexthop"], "rcpts": rcpts,
               "file_exists": os.path.isfile(os.path.join(self.queue_dir, d["queue_file"])),
               "time": time.monotonic()}
        nexthop = d["nexthop"]
        with self.lock:
            self.requests.append(req)
            self.current[nexthop] = self.current.get(nexthop, 0) + 1
            self.max_current[nexthop] = max(self.max_current.get(nexthop, 0),
                                            self.current[nexthop])
            self.max_active_files = max(self.max_active_files, self._count_active())
        try:
            time.sleep(self.delays.get(nexthop, 0))
            out = b""
            for idx, addr in rcpts:
                local = addr.split("@")[0]
                if local.startswith("drop"):
                    conn.sendall(out)
                    return False
                if local.startswith("hang"):
                    conn.sendall(out)
                    time.sleep(30)
                    return False
                if local.startswith("defer"):
                    status, dsn, reply = "deferred", "4.4.1", "connect to %s: refused" % nexthop
                elif local.startswith("bounce"):
                    status, dsn, reply = "bounced", "5.1.1", "550 5.1.1 no such user"
                else:
                    status, dsn, reply = "sent", "2.0.0", "250 2.0.0 ok"
                out += ("event=rcpt\nindex=%d\nstatus=%s\ndsn=%s\nrelay=%s\nreply=%s\n\n"
                        % (idx, status, dsn, nexthop, reply)).encode()
            out += ("event=done\nqueue_id=%s\n\n" % d["queue_id"]).encode()
            conn.sendall(out)
            return True
        finally:
            with self.lock:
                self.current[nexthop] -= 1

    def requests_for(self, qid):
        with self.lock:
            return [r for r in self.requests if r["queue_id"] == qid]


# --------------------------------------------------------------------------
# A queue directory with a qmgr

class Qmgr:
    def __init__(self, workdir, **params):
        self.dir = workdir
        self.conf = os.path.join(workdir, "conf")
        self.queue = os.path.join(workdir, "queue")
        self.maillog = os.path.join(workdir, "maillog")
        # Socket paths are limited to 107 bytes: reach private/ by a short link.
        self.link_dir = tempfile.mkdtemp(prefix="qm-", dir="/tmp")
        self.sock_dir = os.path.join(self.link_dir, "p")
        os.symlink(os.path.join(self.queue, "private"), self.sock_dir)
        self.owner = postern.owner_ids()        # (uid, gid) when root
        self.proc = None
        self.listener = None
        self.extra_args = []            # e.g. ["-v"]
        self.params = {
            "queue_directory": self.queue,
            "maillog_file": self.maillog,
            "syslog_name": "qmgrtest",
            "queue_run_delay": "3600s",
            "relayhost": "[127.0.0.1]:2526",
        }
        if self.owner:
            self.params["mail_owner"] = postern.ensure_test_user()
        self.params.update(params)
        os.makedirs(self.conf, exist_ok=True)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))
        self._make_queue()

    def _chown(self, path):
        if self.owner:
            os.chown(path, *self.owner)

    def _make_queue(self):
        dirs = [self.queue, os.path.join(self.queue, "tmp"),
                os.path.join(self.queue, "private"), os.path.join(self.queue, "public"),
                os.path.join(self.queue, "pid")]
        for s in STATES:
            dirs.append(os.path.join(self.queue, s))
            for a in HEX:
                dirs.append(os.path.join(self.queue, s, a))
                for b in HEX:
                    dirs.append(os.path.join(self.queue, s, a, b))
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o700 if d != self.queue else 0o755)
            self._chown(d)

    def put(self, state, rcpts, sender="sender@example.com", arrival=None,
            content=b"Subject: test\r\n\r\nhello\r\n", raw=None, mtime=None):
        """Write a queue file into `state`; rcpts are addresses or (state, addr)."""
        now = time.time()
        if arrival is None:
            arrival = now
        sec, usec = int(arrival), int((arrival - int(arrival)) * 1e6)
        rcpts = [r if isinstance(r, tuple) else ("P", r) for r in rcpts]
        tmp = os.path.join(self.queue, "tmp", "t%d.%d" % (os.getpid(), time.monotonic_ns()))
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        qid = queue_id(sec, usec, os.fstat(fd).st_ino)
        os.write(fd, raw if raw is not None else
                 queue_file_bytes(sender, rcpts, content, (sec, usec)))
        os.fsync(fd)
        os.close(fd)
        self._chown(tmp)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.rename(tmp, self.path(state, qid))
        return qid

    def path(self, state, qid):
        return os.path.join(self.queue, queue_path(state, qid))

    def where(self, qid):
        found = [s for s in STATES if os.path.exists(self.path(s, qid))]
        return found[0] if found else None

    def read(self, qid):
        with open(self.path(self.where(qid), qid), "rb") as f:
            return parse_queue_file(f.read())

    def count(self, state):
        n = 0
        for _, _, files in os.walk(os.path.join(self.queue, state)):
            n += len(files)
        return n

    def start(self):
        path = os.path.join(self.sock_dir, "qmgr")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        os.chmod(path, 0o666)
        self.listener.listen(16)
        out = os.open(os.path.join(self.dir, "qmgr.out"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        env = dict(os.environ, POSTERN_LISTEN_FDS="1")
        env.pop("MAIL_CONFIG", None)
        argv = [postern.binary("qmgr"), "-c", self.conf, "-n", "qmgr", "-t", "unix"]
        argv += self.extra_args
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, out, 2),
            (os.POSIX_SPAWN_DUP2, self.listener.fileno(), 4),
        ])
        os.close(out)
        os.close(devnull)
        self.proc = pid
        return self

    def running(self):
        if self.proc is None:
            return False
        pid, _ = os.waitpid(self.proc, os.WNOHANG)
        if pid == 0:
            return True
        self.proc = None
        return False

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None:
            try:
                os.kill(self.proc, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                pid, _ = os.waitpid(self.proc, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.05)
            else:
                os.kill(self.proc, signal.SIGKILL)
                os.waitpid(self.proc, 0)
            self.proc = None
        if self.listener:
            self.listener.close()
            self.listener = None
            os.unlink(os.path.join(self.sock_dir, "qmgr"))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.link_dir, ignore_errors=True)

    def send(self, payload):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.path.join(self.sock_dir, "qmgr"))
        s.sendall(payload)
        s.close()

    def notify_new(self, qid):
        self.send(b"req=new\nqueue_id=" + qid.encode() + b"\n\n")

    def wakeup(self):
        self.send(b"req=wakeup\n\n")

    def log(self):
        try:
            with open(self.maillog, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def output(self):
        try:
            with open(os.path.join(self.dir, "qmgr.out"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def describe(self):
        return "queue: %s\nmaillog:\n%s\nstderr:\n%s" % (
            {s: self.count(s) for s in STATES}, self.log()[-3000:], self.output()[-1000:])


def wait(pred, what, timeout=10):
    return postern.wait_until(pred, timeout=timeout, what=what)


@pytest.fixture
def env(workdir):
    """env(**params) -> (Qmgr, FakeSmtp); both stopped at teardown."""
    made = []

    def factory(smtp=True, delays=None, **params):
        q = Qmgr(workdir, **params)
        fake = FakeSmtp(q.queue, q.sock_dir, delays=delays)
        if smtp:
            fake.start()
        made.append((q, fake))
        return q, fake

    yield factory
    for q, fake in made:
        alive = q.running()
        q.cleanup()
        fake.stop()
        assert alive, "qmgr died during the test:\n" + q.describe()
        assert not fake.errors, fake.errors


def delivered(q, qid):
    return q.where(qid) is None and ("%s: removed" % qid) in q.log()


# --------------------------------------------------------------------------
# Tests

def test_delivered_message_is_removed(env):
    q, fake = env()
    qid = q.put("incoming", ["ok@example.net"])
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    reqs = fake.requests_for(qid)
    assert len(reqs) == 1
    assert reqs[0]["queue_file"] == queue_path("active", qid)
    assert reqs[0]["file_exists"], "the file must be in active/ during delivery"
    assert reqs[0]["nexthop"] == "[127.0.0.1]:2526"
    assert reqs[0]["rcpts"] == [(0, "ok@example.net")]
    log = q.log()
    assert re.search(r"%s: from=<sender@example.com>, size=\d+, nrcpt=1 \(queue active\)"
                     % qid, log), log


@pytest.mark.parametrize("age,backoff", [(0, 300), (1000, 1000), (100000, 4000)],
                         ids=["new", "age", "old"])
def test_deferred_goes_to_deferred_with_future_mtime(env, age, backoff):
    q, fake = env(minimal_backoff_time="300s", maximal_backoff_time="4000s")
    qid = q.put("incoming", ["defer@example.net"], arrival=time.time() - age)
    q.start()
    wait(lambda: q.where(qid) == "deferred", lambda: q.describe())
    now = time.time()
    st = os.stat(q.path("deferred", qid))
    assert now + backoff - 30 < st.st_mtime <= now + backoff + 1, (st.st_mtime - now)
    assert st.st_atime == st.st_mtime
    rcpts, delays = q.read(qid)
    assert rcpts == [("P", "defer@example.net")]
    assert len(delays) == 1
    assert delays[0][1:3] == (0, "4.4.1")
    assert "refused" in delays[0][3]
    assert abs(delays[0][0] - now) < 30
    # Not due: a wakeup must not touch it.
    n = len(fake.requests)
    q.wakeup()
    time.sleep(1)
    assert len(fake.requests) == n and q.where(qid) == "deferred"


def test_partial_delivery_marks_sent_recipient(env):
    q, fake = env()
    qid = q.put("incoming", ["ok@example.net", "defer@example.net", "bounce@example.net"])
    q.start()
    wait(lambda: q.where(qid) == "deferred", lambda: q.describe())
    rcpts, delays = q.read(qid)
    assert rcpts == [("D", "ok@example.net"), ("P", "defer@example.net"),
                     ("B", "bounce@example.net")]
    assert [d[1] for d in delays] == [1]


def test_already_marked_recipients_are_not_sent_again(env):
    q, fake = env()
    qid = q.put("deferred", [("D", "ok1@example.net"), "ok2@example.net"], mtime=time.time() - 5)
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    assert fake.requests_for(qid)[0]["rcpts"] == [(1, "ok2@example.net")]


def test_restart_recovers_active(env):
    q, fake = env()
    qid = q.put("active", ["ok@example.net"])
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    assert "left in active back to incoming" in q.log()


def test_stop_during_delivery_finishes_it(env):
    # A graceful stop is not a crash: the delivery in progress finishes and
    # is recorded before qmgr exits, so a restart does not send it again.
    q, fake = env(delays={"[127.0.0.1]:2526": 3.0})
    qid = q.put("incoming", ["ok@example.net"])
    q.start()
    wait(lambda: fake.requests_for(qid), lambda: q.describe())
    q.stop()                            # SIGTERM while the agent is busy
    assert delivered(q, qid), q.describe()
    assert "stopping: waiting for 1 delivery(ies) in progress" in q.log()
    q.start()
    time.sleep(1.0)
    assert len(fake.requests_for(qid)) == 1


def test_stop_beyond_shutdown_timeout_then_restart_delivers(env):
    # A delivery longer than shutdown_timeout is left behind (as a crash
    # would): the file stays in active/, and the next qmgr delivers it.
    q, fake = env(delays={"[127.0.0.1]:2526": 6.0}, shutdown_timeout="1s")
    qid = q.put("incoming", ["ok@example.net"])
    q.start()
    wait(lambda: fake.requests_for(qid), lambda: q.describe())
    q.stop()
    assert q.where(qid) == "active"
    assert "shutdown_timeout (1 s) reached" in q.log()
    fake.delays.clear()
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    assert len(fake.requests_for(qid)) == 2


def test_connection_dropped_mid_request_defers(env):
    q, fake = env()
    qid = q.put("incoming", ["ok@example.net", "drop@example.net"])
    q.start()
    wait(lambda: q.where(qid) == "deferred", lambda: q.describe())
    rcpts, delays = q.read(qid)
    assert rcpts == [("D", "ok@example.net"), ("P", "drop@example.net")]
    assert len(delays) == 1
    assert delays[0][1:] == (1, "4.3.0", "delivery agent failed")
    assert re.search(r"%s: from=<sender@example.com>, to=<drop@example.net>, relay=none, "
                     r".*status=deferred \(delivery agent failed\)" % qid, q.log()), q.log()


def test_agent_timeout_defers(env):
    q, fake = env(ipc_timeout="1s")
    qid = q.put("incoming", ["hang@example.net"])
    q.start()
    wait(lambda: q.where(qid) == "deferred", lambda: q.describe())
    _, delays = q.read(qid)
    assert delays[0][1:] == (0, "4.3.0", "delivery agent failed")
    assert "ipc_timeout" in q.log()


def test_smtp_not_listening_retries_without_deferring(env):
    q, fake = env(smtp=False)
    qid = q.put("incoming", ["ok@example.net"])
    q.start()
    wait(lambda: "connect to private/smtp" in q.log(), lambda: q.describe())
    time.sleep(0.5)
    assert q.where(qid) == "active"
    fake.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())


def test_req_new_and_wakeup(env):
    q, fake = env()
    q.start()
    time.sleep(0.5)                     # the start-up scan of an empty queue is over
    qid = q.put("incoming", ["ok@example.net"])
    q.notify_new(qid)
    wait(lambda: delivered(q, qid), lambda: q.describe(), timeout=5)
    qid2 = q.put("incoming", ["ok@example.net"])
    time.sleep(1)
    assert q.where(qid2) == "incoming"  # nobody said anything: waits for a scan
    q.wakeup()
    wait(lambda: delivered(q, qid2), lambda: q.describe(), timeout=5)


def test_bad_requests_are_rejected(env):
    q, fake = env()
    q.start()
    time.sleep(0.3)
    qid = q.put("incoming", ["ok@example.net"])
    q.send(b"req=new\nqueue_id=" + qid.encode() + b"\nextra=1\n\n")
    q.send(b"req=bogus\n\n")
    q.send(b"req=new\nqueue_id=../../etc/passwd\n\n")
    wait(lambda: q.log().count("warning:") >= 3, lambda: q.describe())
    time.sleep(0.5)
    assert q.where(qid) == "incoming"
    assert "unexpected attribute" in q.log()
    assert q.running()


def test_corrupt_file_is_moved(env):
    q, fake = env()
    qid = q.put("incoming", [], raw=b"NOT A QUEUE FILE\n")
    good = q.put("incoming", ["ok@example.net"])
    q.start()
    wait(lambda: q.where(qid) == "corrupt", lambda: q.describe())
    assert re.search(r"warning: %s: damaged queue file moved to corrupt: " % qid, q.log())
    wait(lambda: delivered(q, good), lambda: q.describe())


def test_hold_is_never_touched_and_future_deferred_waits(env):
    q, fake = env(queue_run_delay="1s")
    held = q.put("hold", ["ok@example.net"])
    later = q.put("deferred", ["ok@example.net"], mtime=time.time() + 3600)
    due = q.put("deferred", ["ok@example.net"], mtime=time.time() - 10)
    q.start()
    wait(lambda: delivered(q, due), lambda: q.describe())
    time.sleep(2.5)                     # a couple of queue runs
    assert q.where(held) == "hold"
    assert q.where(later) == "deferred"
    assert not fake.requests_for(held) and not fake.requests_for(later)


def test_expired_message_is_bounced(env):
    q, fake = env(maximal_queue_lifetime="5d")
    old = time.time() - 6 * 86400
    qid = q.put("deferred", ["defer@example.net", "ok@example.net"], arrival=old,
                mtime=time.time() - 10)
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    assert re.search(r"%s: from=<sender@example.com>, to=<defer@example.net>, relay=\S+, "
                     r".*dsn=5\.4\.7, status=bounced "
                     r"\(message expired after 5 days: connect to .* refused\)" % qid,
                     q.log()), q.log()


def test_routing_by_domain_without_relayhost(env):
    q, fake = env(relayhost="")
    qid = q.put("incoming", ["ok1@X.Example", "ok2@x.example", "ok3@y.example"])
    q.start()
    wait(lambda: delivered(q, qid), lambda: q.describe())
    got = sorted((r["nexthop"], r["rcpts"]) for r in fake.requests_for(qid))
    assert got == [("x.example", [(0, "ok1@X.Example"), (1, "ok2@x.example")]),
                   ("y.example", [(2, "ok3@y.example")])]


def test_slow_destination_does_not_hold_up_others(env):
    q, fake = env(relayhost="", default_destination_concurrency_limit="2",
                  delays={"slow.example": 1.0})
    slow = [q.put("incoming", ["ok@slow.example"]) for _ in range(6)]
    fast = [q.put("incoming", ["ok@fast.example"]) for _ in range(3)]
    start = time.monotonic()
    q.start()
    wait(lambda: all(delivered(q, i) for i in fast), lambda: q.describe())
    assert time.monotonic() - start < 2.5, "fast.example waited for slow.example"
    wait(lambda: all(delivered(q, i) for i in slow), lambda: q.describe(), timeout=15)
    assert fake.max_current["slow.example"] == 2


def test_active_limit(env):
    q, fake = env(qmgr_message_active_limit="2", delays={"[127.0.0.1]:2526": 0.2})
    ids = [q.put("incoming", ["ok@example.net"]) for _ in range(6)]
    q.start()
    wait(lambda: all(delivered(q, i) for i in ids), lambda: q.describe(), timeout=20)
    assert fake.max_active_files <= 2
