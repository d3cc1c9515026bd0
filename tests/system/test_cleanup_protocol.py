"""System test: the cleanup daemon speaking the cleanup protocol.

Starts the real cleanup binary outside master (listening socket on fd 4,
POSTERN_LISTEN_FDS=1) on a throwaway queue directory, plays smtpd over
private/cleanup and checks the queue files it writes: envelope records, the
headers cleanup prepends, and the received content byte for byte.

Binaries come from $POSTERN_BUILD_DIR (default: build/ in the source tree).
Run: /usr/bin/python3 -m pytest tests/system/test_cleanup_protocol.py
"""

import fcntl
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

BUILD_DIR = os.environ.get(
    "POSTERN_BUILD_DIR",
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build"))
CLEANUP = os.path.join(BUILD_DIR, "cleanup", "cleanup")
STATES = ("incoming", "active", "deferred", "hold", "corrupt")
HEX = "0123456789ABCDEF"
MSG_LIMIT = 200000
HDR_LIMIT = 4096


# --- the attribute protocol (lib/util/attr.h) ---------------------------------

def encode(attrs):
    out = bytearray()
    for name, value in attrs:
        if isinstance(value, (bytes, bytearray)):
            out += b"%s#%d\n" % (name.encode(), len(value)) + value + b"\n"
        else:
            out += b"%s=%s\n" % (name.encode(), str(value).encode())
    return bytes(out + b"\n")


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buf = b""

    def send(self, attrs):
        self.sock.sendall(encode(attrs))

    def reply(self):
        """One reply as a dict, or None when the server closed."""
        while b"\n\n" not in self.buf and not self.buf.startswith(b"\n"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\n\n")
        return dict(line.split("=", 1) for line in msg.decode().split("\n") if line)

    def closed_by_peer(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def open(self, sender="sender@example.org", rcpts=("rcpt@example.net",), **extra):
        attrs = [("req", "open"), ("sender", sender),
                 ("client_name", extra.pop("client_name", "client.example.org")),
                 ("client_addr", extra.pop("client_addr", "192.0.2.7")),
                 ("client_port", extra.pop("client_port", "40000")),
                 ("helo", extra.pop("helo", "helo.example.org")),
                 ("protocol", extra.pop("protocol", "ESMTP")),
                 ("body", extra.pop("body", "8BITMIME"))]
        attrs += list(extra.items())
        attrs += [("rcpt", r) for r in rcpts]
        self.send(attrs)
        return self.reply()

    def data(self, content, chunk=65536):
        for i in range(0, len(content), chunk):
            self.send([("req", "data"), ("data", content[i:i + chunk])])

    def close_txn(self):
        self.send([("req", "close")])
        return self.reply()

    def close(self):
        self.sock.close()


# --- the queue file (docs/queue-format.md) --------------------------------

def parse_queue_file(path):
    raw = open(path, "rb").read()
    pos = 0
    env = {"R": []}

    def line():
        nonlocal pos
        end = raw.index(b"\n", pos)
        text = raw[pos:end]
        pos = end + 1
        return text

    assert line() == b"POSTERN-QUEUE 1"
    z = line().split()
    assert z[0] == b"Z"
    content_size, added_size = int(z[1]), int(z[2])
    while True:
        rec = line()
        if rec == b"M":
            break
        kind, _, value = rec.partition(b" ")
        if kind == b"R":
            env["R"].append(value.decode())
        else:
            env[kind.decode()] = value.decode("utf-8", "replace")
    content = raw[pos:pos + content_size]
    assert raw[pos + content_size:pos + content_size + 2] == b"E\n"
    env["added"] = content[:added_size]
    env["content"] = content[added_size:]
    return env


# --- the daemon -----------------------------------------------------------

class Cleanup:
    def __init__(self, tmp_path):
        self.root = tmp_path
        self.queue = tmp_path / "queue"
        self.conf = tmp_path / "conf"
        self.log = tmp_path / "maillog"
        self.proc = None
        self.make_queue()

    def make_queue(self):
        for state in STATES:
            for h1 in HEX:
                for h2 in HEX:
                    (self.queue / state / h1 / h2).mkdir(parents=True)
        for d in ("tmp", "private", "public", "pid"):
            (self.queue / d).mkdir()
        self.conf.mkdir()
        lines = ["queue_directory = %s" % self.queue,
                 "maillog_file = %s" % self.log,
                 "myhostname = mx.example.test",
                 "myorigin = origin.example.test",
                 "message_size_limit = %d" % MSG_LIMIT,
                 "header_size_limit = %d" % HDR_LIMIT,
                 "shutdown_timeout = 10s"]
        if os.geteuid() == 0:
            lines.append("mail_owner = nobody")
            for dirpath, _, _ in os.walk(self.queue):
                os.chown(dirpath, 65534, 65534)
        (self.conf / "main.cf").write_text("\n".join(lines) + "\n")

    def start(self, options=(), fsize=None):
        path = str(self.queue / "private" / "cleanup")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        os.chmod(path, 0o666)
        lsock.listen(64)
        fd = lsock.fileno()
        env = dict(os.environ, POSTERN_LISTEN_FDS="1")
        env.pop("MAIL_CONFIG", None)
        # The listening socket must be fd 4 (lib/mail/mail_proto.h).
        # fd 3: master's status pipe; fd 4: the listener. Python's own
        # descriptors are not inheritable, so nothing else reaches the daemon.
        self.status_r, status_w = os.pipe()

        def child_fds():
            if fsize is not None:
                # Writes past fsize fail with EFBIG instead of a signal.
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            # Move both out of the way first: either may be 3 or 4 already.
            high_status = fcntl.fcntl(status_w, fcntl.F_DUPFD, 100)
            high_listen = fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
            os.dup2(high_status, 3)
            os.dup2(high_listen, 4)
            os.close(high_status)
            os.close(high_listen)

        self.proc = subprocess.Popen(
            [CLEANUP, "-c", str(self.conf), "-n", "cleanup", "-t", "unix"]
            + ["-o%s" % o for o in options],
            preexec_fn=child_fds, close_fds=False, env=env)
        os.close(status_w)
        lsock.close()
        self.path = path

    def connect(self):
        return Client(self.path)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            os.close(self.status_r)
            self.proc = None

    def queue_file(self, queue_id):
        return self.queue / "incoming" / queue_id[-2] / queue_id[-1] / queue_id

    def files(self, state):
        return sorted(p for p in (self.queue / state).rglob("*") if p.is_file())

    def logtext(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def unstarted(tmp_path):
    if not os.access(CLEANUP, os.X_OK):
        pytest.skip("no cleanup binary at %s" % CLEANUP)
    os.chmod(tmp_path, 0o755)
    server = Cleanup(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def cleanup(unstarted):
    unstarted.start()
    return unstarted


def submit(cleanup, content, chunk=65536, **open_args):
    c = cleanup.connect()
    r = c.open(**open_args)
    assert r["status"] == "ok", r
    c.data(content, chunk)
    r2 = c.close_txn()
    c.close()
    assert r2 == {"status": "ok", "queue_id": r["queue_id"]}, r2
    return r["queue_id"]


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


DATE_RE = rb"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"


# --- tests ----------------------------------------------------------------

def test_minimal_message_gets_all_added_headers(cleanup):
    content = b"Subject: hello\r\n\r\nbody line\r\n"
    qid = submit(cleanup, content)
    assert re.fullmatch(r"[0-9A-F]{20,40}", qid)
    q = parse_queue_file(cleanup.queue_file(qid))
    assert q["content"] == content
    assert q["S"] == "sender@example.org"
    assert q["N"] == "client.example.org" and q["A"] == "192.0.2.7"
    assert q["H"] == "helo.example.org" and q["P"] == "ESMTP" and q["B"] == "8BITMIME"
    assert q["R"] == ["P rcpt@example.net"]
    added = q["added"]
    m = re.fullmatch(
        rb"Received: from helo\.example\.org \(client\.example\.org \[192\.0\.2\.7\]\)\r\n"
        rb"\tby mx\.example\.test \(Postern\) with ESMTP id " + qid.encode() + rb"\r\n"
        rb"\tfor <rcpt@example\.net>; (" + DATE_RE + rb")\r\n"
        rb"Message-ID: (<\d{14}\." + qid.encode() + rb"@origin\.example\.test>)\r\n"
        rb"Date: (" + DATE_RE + rb")\r\n"
        rb"From: <sender@example\.org>\r\n", added)
    assert m, added
    assert m.group(1) == m.group(3)
    assert q["I"] == m.group(2).decode()
    assert wait_for(lambda: "%s: message-id=%s" % (qid, q["I"]) in cleanup.logtext())
    assert cleanup.files("tmp") == []


def test_present_headers_are_not_added_and_message_id_is_captured(cleanup):
    content = (b"mEsSaGe-Id :  <abc.123@\r\n"
               b"\t example.org>  \r\n"
               b"DATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
               b"from: Someone <someone@example.org>\r\n"
               b"\r\n"
               b"Message-ID: <not-a-header@body>\r\n")
    qid = submit(cleanup, content)
    q = parse_queue_file(cleanup.queue_file(qid))
    assert q["content"] == content
    assert q["added"].startswith(b"Received: ")
    assert q["added"].count(b"\r\n") == 3            # only the Received: header
    assert q["I"] == "<abc.123@\t example.org>"


def test_header_names_only_count_at_line_start(cleanup):
    content = (b"Subject: x\r\n"
               b"\tFrom: folded@example.org\r\n"
               b"X-Date: no\r\n"
               b"Resent-Message-ID: <r@x>\r\n"
               b"\r\n"
               b"From: body@example.org\r\n")
    q = parse_queue_file(cleanup.queue_file(submit(cleanup, content)))
    assert q["content"] == content
    assert re.search(rb"^Message-ID: <", q["added"], re.M)
    assert re.search(rb"^Date: ", q["added"], re.M)
    assert b"From: <sender@example.org>\r\n" in q["added"]


def test_content_is_stored_byte_for_byte(cleanup):
    content = (b'From: "Unbalanced <x@example.org>\r\n'
               b"Subject: caf\xc3\xa9 \xff\xfe raw 8-bit\r\n"
               b"X-Long: " + b"y" * 3000 + b"\r\n"
               b"X-Bare: lf\nand cr\r only\r\n"
               b"\r\n"
               b".leading dot\r\n"
               b"..two dots\r\n"
               b"nul \x00 byte\r\n"
               + b"z" * 5000 + b"\r\n"
               b"no final newline")
    for chunk in (1, 7, 1000, 65536):
        q = parse_queue_file(cleanup.queue_file(submit(cleanup, content, chunk=chunk)))
        assert q["content"] == content, chunk
        assert b"\r\nFrom:" not in q["added"]


def test_no_header_block_and_empty_content(cleanup):
    for content in (b"", b"\r\n", b"just a body line without colon\r\n", b"Subject: only"):
        q = parse_queue_file(cleanup.queue_file(submit(cleanup, content, chunk=3)))
        assert q["content"] == content
        assert b"Message-ID: <" in q["added"]
    q = parse_queue_file(cleanup.queue_file(submit(cleanup, b"Message-ID: <x@y>")))
    assert q["I"] == "<x@y>"


def test_many_recipients_and_null_sender(cleanup):
    rcpts = ["a%d@example.net" % i for i in range(50)]
    qid = submit(cleanup, b"Subject: s\r\n\r\nb\r\n", sender="", rcpts=rcpts,
                 protocol="SMTP", body="7BIT")
    q = parse_queue_file(cleanup.queue_file(qid))
    assert q["R"] == ["P " + r for r in rcpts]
    assert q["S"] == "" and q["P"] == "SMTP" and q["B"] == "7BIT"
    assert b"\tfor <" not in q["added"]
    assert re.search(rb"with SMTP id " + qid.encode() + rb"; " + DATE_RE + rb"\r\n", q["added"])
    assert q["added"].endswith(b"From: MAILER-DAEMON\r\n")


def test_header_size_limit(cleanup):
    filler = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"f" * 60) for i in range(80))
    assert len(filler) > HDR_LIMIT
    content = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" + filler + \
        b"Message-ID: <late@example.org>\r\nFrom: late@example.org\r\n\r\nbody\r\n"
    for chunk in (100, 65536):
        q = parse_queue_file(cleanup.queue_file(submit(cleanup, content, chunk=chunk)))
        assert q["content"] == content
        assert b"\r\nDate: " not in q["added"]
        assert b"Message-ID: <" in q["added"] and b"From: <sender" in q["added"]
        assert q["I"] != "<late@example.org>"


def test_large_message_within_limit(cleanup):
    body = b"".join(b"line %06d %s\r\n" % (i, b"x" * 60) for i in range(2500))
    content = b"Subject: big\r\n\r\n" + body
    assert HDR_LIMIT < len(content) < MSG_LIMIT
    for chunk in (4096, 100000):
        q = parse_queue_file(cleanup.queue_file(submit(cleanup, content, chunk=chunk)))
        assert q["content"] == content


def test_message_size_limit(cleanup):
    c = cleanup.connect()
    assert c.open()["status"] == "ok"
    c.data(b"Subject: big\r\n\r\n" + b"x" * (MSG_LIMIT + 10), chunk=50000)
    assert c.close_txn() == {"status": "error", "dsn": "5.3.4",
                             "reason": "message file too big"}
    assert cleanup.files("tmp") == [] and cleanup.files("incoming") == []
    # The connection goes on: the next transaction works.
    r = c.open()
    assert r["status"] == "ok"
    c.data(b"Subject: small\r\n\r\nok\r\n")
    assert c.close_txn()["status"] == "ok"
    # A declared size over the limit is refused at open.
    assert c.open(size=str(MSG_LIMIT + 1)) == {
        "status": "error", "dsn": "5.3.4", "reason": "message size exceeds fixed limit"}
    c.close()


def test_abort_and_disconnect_leave_nothing(cleanup):
    c = cleanup.connect()
    assert c.open()["status"] == "ok"
    c.data(b"Subject: x\r\n\r\nbody\r\n")
    c.send([("req", "abort")])
    assert c.reply() == {"status": "ok"}
    assert c.open()["status"] == "ok"
    c.data(b"Subject: x\r\n")
    c.close()
    assert wait_for(lambda: cleanup.files("tmp") == [])
    assert cleanup.files("incoming") == []
    assert cleanup.proc.poll() is None


@pytest.mark.parametrize("attrs,reason", [
    ([("req", "data"), ("data", b"x")], "data without open"),
    ([("req", "close")], "close without open"),
    ([("req", "bogus")], "unknown request"),
    ([("data", b"x")], "missing attribute: req"),
])
def test_protocol_errors_close_the_connection(cleanup, attrs, reason):
    c = cleanup.connect()
    c.send(attrs)
    assert c.closed_by_peer()
    assert wait_for(lambda: reason in cleanup.logtext())
    c.close()


def test_protocol_error_inside_transaction_discards_it(cleanup):
    c = cleanup.connect()
    assert c.open()["status"] == "ok"
    c.data(b"Subject: x\r\n")
    assert len(cleanup.files("tmp")) == 1
    c.send([("req", "data"), ("data", b"y"), ("extra", "z")])
    assert c.closed_by_peer()
    assert wait_for(lambda: cleanup.files("tmp") == [])
    c.close()
    c = cleanup.connect()
    c.send([("req", "open"), ("sender", "s@x")])                  # attributes missing
    assert c.closed_by_peer()
    c.close()
    assert cleanup.files("incoming") == []


def test_invalid_envelope_values_are_refused(cleanup):
    c = cleanup.connect()
    for kwargs in ({"body": "BINARYMIME"}, {"protocol": "E SMTP"},
                   {"rcpts": ("",)}, {"rcpts": ("x" * 5000,)}, {"size": "12x"}):
        r = c.open(**kwargs)
        assert r["status"] == "error" and r["dsn"].startswith("5."), (kwargs, r)
    assert c.open()["status"] == "ok"
    c.data(b"\r\n")
    assert c.close_txn()["status"] == "ok"
    c.close()
    assert cleanup.files("tmp") == []


def test_many_connections_interleaved(cleanup):
    clients = [cleanup.connect() for _ in range(20)]
    ids = set()
    for round_ in range(3):
        opened = []
        for i, c in enumerate(clients):
            r = c.open(rcpts=("r%d@example.net" % i,))
            assert r["status"] == "ok"
            opened.append(r["queue_id"])
        for i, c in enumerate(clients):
            c.data(b"Subject: %d/%d\r\n\r\nbody\r\n" % (round_, i))
        # All closes in flight at once: one commit batch.
        for c in clients:
            c.send([("req", "close")])
        for qid, c in zip(opened, clients):
            assert c.reply() == {"status": "ok", "queue_id": qid}
            ids.add(qid)
    for c in clients:
        c.close()
    assert len(ids) == 60
    for qid in ids:
        q = parse_queue_file(cleanup.queue_file(qid))
        assert q["content"].startswith(b"Subject: ")


def test_qmgr_is_notified(cleanup):
    qpath = str(cleanup.queue / "private" / "qmgr")
    qsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qsock.bind(qpath)
    os.chmod(qpath, 0o666)
    qsock.listen(4)
    qsock.settimeout(10)
    qids = [submit(cleanup, b"Subject: n\r\n\r\nx\r\n") for _ in range(3)]
    conn, _ = qsock.accept()
    conn.settimeout(10)
    want = b"".join(b"req=new\nqueue_id=%s\n\n" % q.encode() for q in qids)
    got = b""
    while len(got) < len(want):
        chunk = conn.recv(4096)
        assert chunk
        got += chunk
    assert got == want
    conn.close()
    qsock.close()


def test_without_qmgr_messages_are_still_accepted(cleanup):
    qid = submit(cleanup, b"Subject: q\r\n\r\nx\r\n")
    assert cleanup.queue_file(qid).exists()


def test_graceful_stop_finishes_the_transaction(cleanup):
    idle = cleanup.connect()
    busy = cleanup.connect()
    r = busy.open()
    assert r["status"] == "ok"
    busy.data(b"Subject: during stop\r\n\r\n")
    cleanup.proc.send_signal(signal.SIGTERM)
    assert idle.closed_by_peer()
    busy.data(b"still here\r\n")
    assert busy.close_txn() == {"status": "ok", "queue_id": r["queue_id"]}
    assert busy.closed_by_peer()
    assert cleanup.proc.wait(10) == 0
    q = parse_queue_file(cleanup.queue_file(r["queue_id"]))
    assert q["content"] == b"Subject: during stop\r\n\r\nstill here\r\n"


def chown_like_queue(path):
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)


def test_write_error_fails_the_transaction(unstarted):
    unstarted.start(fsize=100000)
    c = unstarted.connect()
    assert c.open()["status"] == "ok"
    c.data(b"Subject: too big for the disk\r\n\r\n" + b"x" * 150000, chunk=20000)
    assert c.close_txn() == {"status": "error", "dsn": "4.3.0",
                             "reason": "queue file write error"}
    assert unstarted.files("tmp") == [] and unstarted.files("incoming") == []
    assert "File too large" in unstarted.logtext()
    r = c.open()
    assert r["status"] == "ok"
    c.data(b"Subject: small\r\n\r\nfits\r\n")
    assert c.close_txn() == {"status": "ok", "queue_id": r["queue_id"]}
    c.close()


def test_cannot_create_or_rename(cleanup):
    tmp = cleanup.queue / "tmp"
    c = cleanup.connect()
    os.rename(tmp, cleanup.queue / "tmp.away")
    assert c.open() == {"status": "error", "dsn": "4.3.0", "reason": "queue file write error"}
    os.rename(cleanup.queue / "tmp.away", tmp)
    r = c.open()
    assert r["status"] == "ok"
    leaf = cleanup.queue_file(r["queue_id"]).parent
    os.rmdir(leaf)
    c.data(b"Subject: nowhere to go\r\n\r\n")
    assert c.close_txn() == {"status": "error", "dsn": "4.3.0",
                             "reason": "queue file write error"}
    leaf.mkdir()
    chown_like_queue(leaf)
    assert cleanup.files("tmp") == [] and cleanup.files("incoming") == []
    c.close()


def test_shutdown_timeout_leaves_no_temporary_file(unstarted):
    unstarted.start(options=("shutdown_timeout=1s",))
    c = unstarted.connect()
    assert c.open()["status"] == "ok"
    c.data(b"Subject: never finished\r\n")
    assert len(unstarted.files("tmp")) == 1
    unstarted.proc.send_signal(signal.SIGTERM)
    unstarted.proc.wait(10)
    assert unstarted.files("tmp") == [] and unstarted.files("incoming") == []
    c.close()


def test_pipelined_requests_with_a_slow_reader(cleanup):
    n = 50000
    c = cleanup.connect()
    sender = threading.Thread(target=c.sock.sendall, args=(encode([("req", "abort")]) * n,))
    sender.start()
    time.sleep(0.5)                 # let the replies back up first
    want = b"status=ok\n\n" * n
    got = b""
    while len(got) < len(want):
        chunk = c.sock.recv(65536)
        assert chunk
        got += chunk
    sender.join()
    assert got == want
    assert c.open()["status"] == "ok"
    c.data(b"\r\n")
    assert c.close_txn()["status"] == "ok"
    c.close()
