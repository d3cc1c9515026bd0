"""test_smtpd_protocol.py - smtpd's SMTP dialogue, against a fake cleanup.

Each test starts one smtpd by hand (no master): a queue directory with
private/, a main.cf, a listening TCP socket on 127.0.0.1 passed as fd 4
(POSTERN_LISTEN_FDS=1) and a status pipe as fd 3. A fake cleanup written
here listens on private/cleanup, speaks the attribute protocol of
lib/mail/mail_proto.h and records every transaction, so the tests can check
exactly what smtpd handed over (envelope, content bytes, close or abort).

Binaries come from $POSTERN_BUILD_DIR (default: build/ in the source tree).
"""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import postern

HOST = "test.example"


# --------------------------------------------------------------------------
# Fake cleanup

def read_attr_msg(f):
    """One attribute message from a binary file object: list of (name, value
    bytes), or None at EOF before any byte."""
    attrs = []
    while True:
        line = f.readline()
        if not line:
            if attrs:
                raise EOFError("EOF inside an attribute message")
            return None
        if not line.endswith(b"\n"):
            raise EOFError("EOF inside a line")
        line = line[:-1]
        if line == b"":
            return attrs
        eq = line.find(b"=")
        hs = line.find(b"#")
        if hs >= 0 and (eq < 0 or hs < eq):
            n = int(line[hs + 1:])
            value = f.read(n)
            if len(value) != n or f.read(1) != b"\n":
                raise EOFError("short binary attribute")
            attrs.append((line[:hs].decode(), value))
        else:
            attrs.append((line[:eq].decode(), line[eq + 1:]))


def put_attrs(pairs):
    out = b""
    for name, value in pairs:
        out += name.encode() + b"=" + str(value).encode() + b"\n"
    return out + b"\n"


class FakeCleanup:
    """Listens on <queue>/private/cleanup. Behaviour knobs:
        open_reply   None (ok) or (dsn, reason) for status=error
        close_reply  None (ok) or (dsn, reason)
        drop_after   drop the connection after this many content bytes
        close_delay  seconds to wait before answering req=close
        open_delay   seconds to wait before answering req=open
        data_pause   seconds to stop reading at the first req=data
    Recorded: .transactions, list of dicts with keys open (dict name ->
    value or list for rcpt), data (bytes), chunks (sizes), end ("close",
    "abort" or None), queue_id."""

    def __init__(self, queue_dir):
        self.path = os.path.join(queue_dir, "private", "cleanup")
        self.open_reply = None
        self.close_reply = None
        self.drop_after = None
        self.close_delay = 0
        self.open_delay = 0
        self.data_pause = 0
        self.transactions = []
        self.connections = 0
        self.errors = []
        self.lock = threading.Lock()
        self.counter = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(16)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _next_id(self):
        with self.lock:
            self.counter += 1
            return "FACE%016X" % self.counter

    def _serve(self, conn):
        f = conn.makefile("rb")
        tr = None
        try:
            while True:
                msg = read_attr_msg(f)
                if msg is None:
                    return
                req = dict(msg).get("req")
                if req == b"open":
                    opened = {}
                    for name, value in msg:
                        if name == "rcpt":
                            opened.setdefault("rcpt", []).append(value.decode())
                        elif name != "req":
                            opened[name] = value.decode()
                    tr = {"open": opened, "data": bytearray(), "chunks": [], "end": None,
                          "queue_id": self._next_id()}
                    with self.lock:
                        self.transactions.append(tr)
                    if self.open_delay:
                        time.sleep(self.open_delay)
                    if self.open_reply:
                        conn.sendall(put_attrs([("status", "error"), ("dsn", self.open_reply[0]),
                                                ("reason", self.open_reply[1])]))
                        tr["end"] = "refused"
                        tr = None
                    else:
                        conn.sendall(put_attrs([("status", "ok"), ("queue_id", tr["queue_id"])]))
                elif req == b"data":
                    assert tr is not None, "data outside a transaction"
                    names = [n for n, _ in msg]
                    assert names == ["req", "data"], names
                    if self.data_pause and not tr["chunks"]:
                        time.sleep(self.data_pause)
                    tr["data"] += msg[1][1]
                    tr["chunks"].append(len(msg[1][1]))
                    if self.drop_after is not None and len(tr["data"]) >= self.drop_after:
                        tr["end"] = "dropped"
                        conn.close()
                        return
                elif req == b"close":
                    tr["end"] = "close"
                    if self.close_delay:
                        time.sleep(self.close_delay)
                    if self.close_reply:
                        conn.sendall(put_attrs([("status", "error"), ("dsn", self.close_reply[0]),
                                                ("reason", self.close_reply[1])]))
                    else:
                        conn.sendall(put_attrs([("status", "ok"), ("queue_id", tr["queue_id"])]))
                    tr = None
                elif req == b"abort":
                    tr["end"] = "abort"
                    conn.sendall(put_attrs([("status", "ok")]))
                    tr = None
                else:
                    raise AssertionError("unknown request %r" % (msg,))
        except Exception as exc:  # recorded, checked by the tests
            self.errors.append(repr(exc))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def ended(self, kind):
        return [t for t in self.transactions if t["end"] == kind]


# --------------------------------------------------------------------------
# smtpd under test

class Client:
    """A raw SMTP client over a socket, for byte-exact conversations."""

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; partial %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("ascii", "replace")

    def reply(self):
        """Next reply as (code, [texts]); multi-line replies joined."""
        texts = []
        while True:
            line = self._line()
            assert len(line) >= 3 and line[:3].isdigit(), line
            texts.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), texts

    def line(self):
        code, texts = self.reply()
        return "%d %s" % (code, texts[-1])

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def no_more(self, wait=0.5):
        """Assert nothing else arrives and the server closes (EOF)."""
        self.sock.settimeout(wait)
        rest = self.buf
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            pass
        return rest

    def eof(self, wait=5.0):
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        return data == b"" and self.buf == b""

    def close(self):
        self.sock.close()

    def start(self, helo="EHLO client.example"):
        code, texts = self.reply()
        assert code == 220, texts
        self.send(helo + "\r\n")
        code, texts = self.reply()
        assert code == 250, texts
        return texts


class Smtpd:
    def __init__(self, workdir, with_cleanup=True, **params):
        self.dir = workdir
        self.queue = os.path.join(workdir, "queue")
        self.conf = os.path.join(workdir, "conf")
        os.makedirs(os.path.join(self.queue, "private"), exist_ok=True)
        os.makedirs(self.conf, exist_ok=True)
        for d in (self.queue, os.path.join(self.queue, "private")):
            os.chmod(d, 0o755 if d == self.queue else 0o777)
        self.params = {
            "queue_directory": self.queue,
            "maillog_file": "/dev/stderr",
            "myhostname": HOST,
            "max_idle": "3600s",
        }
        if postern.is_root():
            self.params["mail_owner"] = postern.ensure_test_user()
        self.params.update({k: str(v) for k, v in params.items()})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))
        self.cleanup = FakeCleanup(self.queue) if with_cleanup else None
        self.logpath = os.path.join(workdir, "smtpd.log")
        self.proc = None

    def start(self):
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        self.port = lsock.getsockname()[1]
        rfd, wfd = os.pipe()
        import fcntl
        lfd = fcntl.fcntl(lsock.fileno(), fcntl.F_DUPFD, 10)
        sfd = fcntl.fcntl(wfd, fcntl.F_DUPFD, 10)
        os.close(wfd)
        self.status_r = rfd
        env = dict(os.environ, POSTERN_LISTEN_FDS="1")
        binary = os.path.join(postern.build_dir(), "smtpd", "smtpd")
        script = 'exec "$0" "$@" 3>&%d 4<&%d %d>&- %d<&-' % (sfd, lfd, sfd, lfd)
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script, binary, "-c", self.conf, "-n", "smtp", "-t", "inet"],
            pass_fds=(sfd, lfd), env=env, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log)
        os.close(sfd)
        os.close(lfd)
        lsock.close()
        # 'A' on the status pipe: the loop is running.
        assert os.read(self.status_r, 1) == b"A", self.logtext()
        return self

    def client(self, **kw):
        return Client(self.port, **kw)

    def logtext(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=5.0):
        return postern.wait_until(lambda: text in self.logtext(), timeout,
                                  lambda: "log line %r in:\n%s" % (text, self.logtext()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cleanup:
            self.cleanup.stop()
        if self.proc:
            os.close(self.status_r)
            self.log.close()
            self.proc = None


@pytest.fixture
def make_smtpd(workdir):
    made = []

    def factory(with_cleanup=True, **params):
        d = Smtpd(os.path.join(workdir, "s%d" % len(made)), with_cleanup=with_cleanup, **params)
        made.append(d)
        return d.start()

    yield factory
    for d in made:
        d.stop()
        if d.cleanup is not None:
            assert d.cleanup.errors == [], d.cleanup.errors


@pytest.fixture
def smtpd(make_smtpd):
    return make_smtpd()


def envelope(c, sender="s@example.com", rcpts=("r@example.net",)):
    assert c.cmd("MAIL FROM:<%s>" % sender) == "250 2.1.0 Ok"
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r) == "250 2.1.5 Ok"


MSG = b"Subject: hi\r\n\r\nhello\r\n"


# --------------------------------------------------------------------------
# The dialogue

def test_greeting_ehlo_and_simple_commands(smtpd):
    c = smtpd.client()
    assert c.line() == "220 %s ESMTP Postern" % HOST
    c.send("EHLO client.example\r\n")
    code, lines = c.reply()
    assert code == 250
    assert lines == [HOST, "PIPELINING", "SIZE 10240000", "ENHANCEDSTATUSCODES", "8BITMIME"]
    assert c.cmd("HELO client.example") == "250 %s" % HOST
    assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("HELP").startswith("214 2.0.0")
    assert c.cmd("VRFY postmaster") == "502 5.5.1 VRFY command is disabled"
    assert c.cmd("EXPN list") == "502 5.5.2 Error: command not recognized"
    assert c.cmd("FOO bar") == "502 5.5.2 Error: command not recognized"
    assert c.cmd("STARTTLS") == "502 5.5.2 Error: command not recognized"
    assert c.cmd("noop lowercase is fine") == "250 2.0.0 Ok"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert c.eof()
    c.close()
    smtpd.wait_log("disconnect from unknown[127.0.0.1] helo=1 ehlo=1 starttls=0/1 rset=1 "
                   "noop=2 vrfy=0/1 expn=0/1 help=1 quit=1 unknown=0/1 commands=7/11", 1.0)
    assert "connect from unknown[127.0.0.1]" in smtpd.logtext()


def test_order_errors(smtpd):
    c = smtpd.client()
    c.line()
    assert c.cmd("MAIL FROM:<a@example.com>") == "503 5.5.1 Error: send HELO/EHLO first"
    assert c.cmd("RCPT TO:<a@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
    assert c.cmd("EHLO x.example").startswith("250")
    assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
    assert c.cmd("MAIL FROM:<a@example.com>") == "503 5.5.1 Error: nested MAIL command"
    assert c.cmd("DATA") == "554 5.5.1 Error: no valid recipients"
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.cmd("RCPT TO:<a@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
    assert c.cmd("EHLO again.example").startswith("250")     # resets the transaction
    assert c.cmd("RCPT TO:<a@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"


def test_syntax_errors_have_enhanced_codes(smtpd):
    c = smtpd.client()
    c.start()
    assert c.cmd("MAIL FROM:a@example.com") == "501 5.1.7 Bad sender address syntax"
    assert c.cmd("MAIL TO:<a@example.com>") == "501 5.5.4 Syntax: MAIL FROM:<address>"
    assert c.cmd("MAIL FROM:<a@example.com> FOO=bar") == "555 5.5.4 Unsupported option: FOO"
    assert c.cmd("EHLO") == "501 5.5.4 Syntax: EHLO hostname"
    assert c.cmd("NOOP\x00x").startswith("500 5.5.2")
    assert c.cmd("") .startswith("500 5.5.2")
    assert c.cmd("QUIT") == "221 2.0.0 Bye"


def test_one_message(smtpd):
    c = smtpd.client()
    c.start("EHLO client.example")
    assert c.cmd("MAIL FROM:<s@example.com> BODY=8BITMIME SIZE=100") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<r1@example.net>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<r2@example.org>") == "250 2.1.5 Ok"
    assert c.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
    content = b"Subject: t\r\n\r\n..dot\r\n.\xff8bit\r\nend"
    c.send(content + b"\r\n.\r\n")
    reply = c.line()
    tr = smtpd.cleanup.transactions
    assert len(tr) == 1
    assert reply == "250 2.0.0 Ok: queued as %s" % tr[0]["queue_id"]
    assert tr[0]["end"] == "close"
    assert tr[0]["data"] == b"Subject: t\r\n\r\n.dot\r\n\xff8bit\r\nend\r\n"
    o = tr[0]["open"]
    assert o["sender"] == "s@example.com"
    assert o["rcpt"] == ["r1@example.net", "r2@example.org"]
    assert o["client_name"] == "unknown" and o["client_addr"] == "127.0.0.1"
    assert int(o["client_port"]) == c.sock.getsockname()[1]
    assert o["helo"] == "client.example" and o["protocol"] == "ESMTP"
    assert o["body"] == "8BITMIME" and o["size"] == "100"
    # A second transaction on the same session reuses the cleanup connection.
    envelope(c, sender="")
    assert c.cmd("DATA").startswith("354")
    c.send(b".\r\n")          # empty message
    assert c.line().startswith("250 2.0.0 Ok: queued as ")
    assert len(tr) == 2 and tr[1]["data"] == b"" and tr[1]["open"]["sender"] == ""
    assert tr[1]["open"]["body"] == "7BIT" and "size" not in tr[1]["open"]
    assert smtpd.cleanup.connections == 1
    assert c.cmd("QUIT") == "221 2.0.0 Bye"
    smtpd.wait_log("%s: client=unknown[127.0.0.1]" % tr[0]["queue_id"])
    smtpd.wait_log("disconnect from unknown[127.0.0.1] ehlo=1 mail=2 rcpt=3 data=2 quit=1 "
                   "commands=9")


def test_smtplib_and_large_message(smtpd):
    import smtplib
    body = b"".join(b"line %06d " % i + b"x" * 60 + b"\r\n" for i in range(20000))
    msg = b"Subject: big\r\n\r\n" + body
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=30) as s:
        s.sendmail("a@example.com", ["b@example.net"], msg)
    tr = smtpd.cleanup.transactions
    assert len(tr) == 1 and tr[0]["data"] == msg
    assert max(tr[0]["chunks"]) <= 65536 and len(tr[0]["chunks"]) >= len(msg) // 65536


def test_pipelining(smtpd):
    c = smtpd.client()
    c.start()
    c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
           "RCPT TO:<c@example.net>\r\nDATA\r\n")
    assert c.line() == "250 2.1.0 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line().startswith("354")
    # End of data, then the next transaction and QUIT in the same write.
    c.send(MSG + b".\r\nMAIL FROM:<x@example.com>\r\nRCPT TO:<y@example.net>\r\nNOOP\r\nQUIT\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert c.line() == "250 2.1.0 Ok"
    assert c.line() == "250 2.1.5 Ok"
    assert c.line() == "250 2.0.0 Ok"
    assert c.line() == "221 2.0.0 Bye"
    tr = smtpd.cleanup.transactions
    assert len(tr) == 1 and tr[0]["data"] == MSG


def test_bare_lf_commands_accepted(smtpd):
    c = smtpd.client()
    c.line()
    c.send("EHLO x.example\n")
    assert c.reply()[0] == 250
    c.send("NOOP\nNOOP\r\n")
    assert c.line() == "250 2.0.0 Ok"
    assert c.line() == "250 2.0.0 Ok"


def sanitized():
    """Is smtpd built with AddressSanitizer (its quarantine inflates RSS)?"""
    with open(os.path.join(postern.build_dir(), "smtpd", "smtpd"), "rb") as f:
        return b"__asan_init" in f.read()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_cleanup_throttles_client(make_smtpd):
    # While cleanup does not read, smtpd must stop reading the client
    # instead of buffering the message in memory.
    d = make_smtpd(message_size_limit=64000000)
    d.cleanup.data_pause = 1.5
    c = d.client(timeout=30)
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    before = rss_kb(d.proc.pid)
    line = b"y" * 998 + b"\r\n"
    block = line * 1000                       # 1 MB
    sent = threading.Thread(target=lambda: [c.send(block) for _ in range(30)])
    sent.start()
    time.sleep(1.0)
    during = rss_kb(d.proc.pid)
    sent.join(30)
    c.send(b".\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert len(d.cleanup.transactions[0]["data"]) == 30 * len(block)
    if not sanitized():
        assert during - before < 8000, (before, during)


def test_client_not_reading_replies(smtpd):
    # A million pipelined NOOPs (14 MB of replies, more than the kernel's
    # socket buffers hold): replies are produced only as fast as the client
    # reads them, and every one arrives, in order.
    c = smtpd.client(timeout=30, rcvbuf=32768)
    c.start()
    n = 1000000
    before = rss_kb(smtpd.proc.pid)
    sender = threading.Thread(target=lambda: c.send(b"NOOP\r\n" * n + b"QUIT\r\n"))
    sender.start()
    time.sleep(1.5)
    during = rss_kb(smtpd.proc.pid)
    want = b"250 2.0.0 Ok\r\n" * n + b"221 2.0.0 Bye\r\n"
    got = bytearray(c.buf)
    while len(got) < len(want):
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    sender.join(30)
    assert got == want
    if not sanitized():
        assert during - before < 3000, (before, during)


# --------------------------------------------------------------------------
# Synchronisation

def test_talk_before_greeting(smtpd):
    # Freeze smtpd so that the client's bytes are surely there before 220.
    os.kill(smtpd.proc.pid, signal.SIGSTOP)
    try:
        c = smtpd.client()
        c.send("EHLO early.example\r\n")
        time.sleep(0.2)
    finally:
        os.kill(smtpd.proc.pid, signal.SIGCONT)
    assert c.line() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.eof()
    smtpd.wait_log("before greeting from unknown[127.0.0.1]")


def test_pipelining_after_ehlo_rejected(smtpd):
    c = smtpd.client()
    c.line()
    c.send("EHLO x.example\r\nMAIL FROM:<a@example.com>\r\n")
    assert c.line() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.eof()


def test_content_before_354_rejected(smtpd):
    c = smtpd.client()
    c.start()
    envelope(c)
    c.send(b"DATA\r\n" + MSG + b".\r\n")
    assert c.line() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.eof()
    assert smtpd.cleanup.ended("close") == []


def test_content_while_cleanup_opens_rejected(smtpd):
    # The content arrives after DATA was read but before 354 was sent.
    smtpd.cleanup.open_delay = 0.5
    c = smtpd.client()
    c.start()
    envelope(c)
    c.send(b"DATA\r\n")
    time.sleep(0.2)
    c.send(MSG + b".\r\n")
    assert c.line() == "554 5.5.0 Error: SMTP protocol synchronization"
    assert c.eof()
    assert smtpd.cleanup.ended("close") == []


# --------------------------------------------------------------------------
# Limits

def test_line_too_long(smtpd):
    c = smtpd.client()
    c.start()
    c.send(b"NOOP " + b"x" * 5000 + b"\r\nNOOP\r\n")
    assert c.line() == "500 5.5.2 Error: line too long"
    assert c.line() == "250 2.0.0 Ok"
    # Exactly at the limit (2048 bytes with CRLF) is fine, one more is not.
    c.send(b"NOOP " + b"x" * (2048 - 7) + b"\r\n")
    assert c.line() == "250 2.0.0 Ok"
    c.send(b"NOOP " + b"x" * (2048 - 6) + b"\r\n")
    assert c.line() == "500 5.5.2 Error: line too long"
    # A huge line without an end, sent in pieces, then its end.
    for _ in range(64):
        c.send(b"y" * 16384)
    c.send(b"\r\nNOOP\r\n")
    assert c.line() == "500 5.5.2 Error: line too long"
    assert c.line() == "250 2.0.0 Ok"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"


def test_relay_denied(make_smtpd):
    d = make_smtpd(mynetworks="10.0.0.0/8", relay_domains="example.net, Example.ORG")
    c = d.client()
    c.start("EHLO h.example")
    assert c.cmd("MAIL FROM:<s@example.com>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<r@example.com>") == "554 5.7.1 <r@example.com>: Relay access denied"
    assert c.cmd("RCPT TO:<r@notexample.net>") == \
        "554 5.7.1 <r@notexample.net>: Relay access denied"
    # Postfix's default parent_domain_matches_subdomains lists relay_domains:
    # a listed domain covers its subdomains (test_rewrite.py checks the other way).
    assert c.cmd("RCPT TO:<r@sub.example.net>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<postmaster>") == "554 5.7.1 <postmaster>: Relay access denied"
    assert c.cmd("RCPT TO:<r@EXAMPLE.net>") == "250 2.1.5 Ok"
    assert c.cmd("RCPT TO:<r@example.org>") == "250 2.1.5 Ok"
    d.wait_log("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 554 5.7.1 <r@example.com>: "
               "Relay access denied; from=<s@example.com> to=<r@example.com> proto=ESMTP "
               "helo=<h.example>")


def test_mynetworks_may_relay(make_smtpd):
    d = make_smtpd(mynetworks="127.0.0.0/8", relay_domains="")
    c = d.client()
    c.start()
    envelope(c, rcpts=("anyone@anywhere.example",))


def test_recipient_limit(make_smtpd):
    d = make_smtpd(smtpd_recipient_limit=2)
    c = d.client()
    c.start()
    envelope(c, rcpts=("a@example.net", "b@example.net"))
    assert c.cmd("RCPT TO:<c@example.net>") == "452 4.5.3 Error: too many recipients"
    assert c.cmd("DATA").startswith("354")
    c.send(MSG + b".\r\n")
    assert c.line().startswith("250 ")
    assert d.cleanup.transactions[0]["open"]["rcpt"] == ["a@example.net", "b@example.net"]


def test_size_limits(make_smtpd):
    d = make_smtpd(message_size_limit=2000)
    c = d.client()
    c.line()
    c.send("EHLO x.example\r\n")
    assert "SIZE 2000" in c.reply()[1]
    assert c.cmd("MAIL FROM:<a@example.com> SIZE=2001") == \
        "552 5.3.4 Message size exceeds fixed limit"
    assert c.cmd("MAIL FROM:<a@example.com> SIZE=2000") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<b@example.net>") == "250 2.1.5 Ok"
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: x\r\n\r\n" + b"z" * 3000 + b"\r\n.\r\nNOOP\r\n")
    assert c.line() == "552 5.3.4 Error: message file too big"
    assert c.line() == "250 2.0.0 Ok"
    tr = d.cleanup.transactions
    assert len(tr) == 1 and tr[0]["end"] == "abort" and len(tr[0]["data"]) <= 2000
    # Exactly at the limit is accepted.
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(b"z" * 1998 + b"\r\n.\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")


def test_hard_error_limit(make_smtpd):
    d = make_smtpd(smtpd_hard_error_limit=3)
    c = d.client()
    c.line()
    assert c.cmd("BOGUS1").startswith("502")
    assert c.cmd("BOGUS2").startswith("502")
    assert c.cmd("BOGUS3").startswith("502")
    assert c.line() == "421 4.7.0 %s Error: too many errors" % HOST
    assert c.eof()
    d.wait_log("too many errors after UNKNOWN from unknown[127.0.0.1]")


def test_timeout_idle(make_smtpd):
    d = make_smtpd(smtpd_timeout="1s")
    c = d.client()
    c.line()
    t0 = time.monotonic()
    assert c.line() == "421 4.4.2 %s Error: timeout exceeded" % HOST
    assert 0.5 < time.monotonic() - t0 < 5
    assert c.eof()
    d.wait_log("timeout after CONNECT from unknown[127.0.0.1]")


def test_timeout_in_data(make_smtpd):
    d = make_smtpd(smtpd_timeout="1s")
    c = d.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: x\r\n\r\npartial")
    assert c.line() == "421 4.4.2 %s Error: timeout exceeded" % HOST
    assert c.eof()
    d.wait_log("timeout after DATA (")
    postern.wait_until(lambda: d.cleanup.connections == 1 and
                       d.cleanup.transactions[0]["end"] is None, 5, "transaction left open")
    assert d.cleanup.ended("close") == []


# --------------------------------------------------------------------------
# Content that must not be misread

def test_bare_lf_rejected(smtpd):
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
    assert c.line() == ("550 5.5.2 Error: bare <CR> or <LF> in message content "
                        "(see RFC 5321 section 2.3.8)")
    assert smtpd.cleanup.transactions[0]["end"] == "abort"
    assert c.cmd("NOOP") == "250 2.0.0 Ok"


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\n.\n"])
def test_smuggling(smtpd, fake_end):
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    smuggled = (b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\n"
                b"DATA\r\nSubject: smuggled\r\n\r\nevil\r\n")
    c.send(b"Subject: x\r\n\r\nbody" + fake_end + smuggled + b".\r\nQUIT\r\n")
    first = c.line()
    assert first.startswith("550 5.5.2"), first
    assert c.line() == "221 2.0.0 Bye"
    assert c.no_more() == b""
    tr = smtpd.cleanup.transactions
    assert len(tr) == 1 and tr[0]["end"] == "abort"
    assert smtpd.cleanup.ended("close") == []


def test_dot_lines_inside_content(smtpd):
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(b"a\r\n..\r\n...x\r\n. \r\n.\r\n")
    assert c.line().startswith("250 ")
    assert smtpd.cleanup.transactions[0]["data"] == b"a\r\n.\r\n..x\r\n \r\n"


# --------------------------------------------------------------------------
# Cleanup failures

def test_cleanup_absent(make_smtpd):
    d = make_smtpd(with_cleanup=False)
    c = d.client()
    c.start()
    envelope(c)
    t0 = time.monotonic()
    assert c.cmd("DATA") == "451 4.3.0 Error: queue file write error"
    assert 1.0 < time.monotonic() - t0 < 6
    assert c.cmd("RCPT TO:<b@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert c.cmd("QUIT") == "221 2.0.0 Bye"


def test_cleanup_refuses_open(smtpd):
    smtpd.cleanup.open_reply = ("4.3.0", "disk full")
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA") == "451 4.3.0 Error: queue file write error"
    smtpd.cleanup.open_reply = None
    envelope(c)
    assert c.cmd("DATA").startswith("354")


@pytest.mark.parametrize("dsn,want", [
    ("4.3.0", "451 4.3.0 Error: queue file write error"),
    ("5.3.4", "552 5.3.4 Error: message file too big"),
    ("5.7.1", "554 5.7.1 Error: header check says no"),
    ("5.7.1 x", "451 4.3.0 Error: queue file write error"),
], ids=["temp", "size", "perm", "malformed"])
def test_cleanup_close_error(smtpd, dsn, want):
    smtpd.cleanup.close_reply = (dsn, "header check says no")
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(MSG + b".\r\n")
    assert c.line() == want


def test_cleanup_lost_mid_data(smtpd):
    smtpd.cleanup.drop_after = 1
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    for _ in range(40):
        c.send(b"x" * 8000 + b"\r\n")
    c.send(b".\r\nNOOP\r\n")
    assert c.line() == "451 4.3.0 Error: queue file write error"
    assert c.line() == "250 2.0.0 Ok"
    # A new transaction reconnects.
    smtpd.cleanup.drop_after = None
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(MSG + b".\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert smtpd.cleanup.connections == 2


def test_250_waits_for_cleanup(smtpd):
    smtpd.cleanup.close_delay = 1.0
    c = smtpd.client()
    c.start()
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    t0 = time.monotonic()
    c.send(MSG + b".\r\n")
    assert c.line().startswith("250 2.0.0 Ok: queued as")
    assert time.monotonic() - t0 >= 0.9


# --------------------------------------------------------------------------
# Stopping

def test_graceful_stop(smtpd):
    idle = smtpd.client()
    idle.start()
    busy = smtpd.client()
    busy.start()
    envelope(busy)
    assert busy.cmd("DATA").startswith("354")
    busy.send(b"Subject: x\r\n\r\n")
    time.sleep(0.2)
    smtpd.proc.send_signal(signal.SIGTERM)
    assert idle.line() == "421 4.3.2 %s Service shutting down" % HOST
    assert idle.eof()
    time.sleep(0.2)
    assert smtpd.proc.poll() is None       # the busy session still runs
    busy.send(b"body\r\n.\r\n")
    assert busy.line().startswith("250 2.0.0 Ok: queued as")
    assert busy.line() == "421 4.3.2 %s Service shutting down" % HOST
    assert smtpd.proc.wait(10) == 0
    assert smtpd.cleanup.transactions[0]["data"] == b"Subject: x\r\n\r\nbody\r\n"
