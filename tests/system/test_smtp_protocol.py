"""test_smtp_protocol.py - the smtp delivery agent against real SMTP servers.

The smtp daemon is started by hand (no master): a listening UNIX socket is
passed as fd 4 with POSTERN_LISTEN_FDS=1, the test plays qmgr on it
(mail_proto.h: req=deliver ... / event=rcpt ... / event=done), and queue
files are written in queue file format 1 (lib/mail/queue_file.h). The next hop is
an aiosmtpd server in a subprocess that stores every message (optionally
advertising PIPELINING, answering 450/550 for chosen recipients) or a small
scripted socket server for misbehaving peers.

Binaries come from $POSTERN_BUILD_DIR (default: build/ in the source tree).
"""

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postern  # noqa: E402  (the system-test harness)

PYTHON = "/usr/bin/python3"

# The next hop: aiosmtpd with a handler that stores messages as N.eml +
# N.json and refuses recipients by local part: temp* -> 450, reject* -> 550.
SINK_SCRIPT = r'''
import asyncio, json, os, sys
from aiosmtpd.smtp import SMTP

port = int(sys.argv[1]); store = sys.argv[2]; pipelining = sys.argv[3] == "1"
counter = [0]

class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if pipelining:
            responses.insert(1, "250-PIPELINING")
        responses.insert(1, "250-ENHANCEDSTATUSCODES")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = address.split("@")[0]
        if local.startswith("temp"):
            return "450 4.2.0 <%s>: mailbox busy" % address
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        counter[0] += 1
        n = counter[0]
        with open(os.path.join(store, "%d.eml.tmp" % n), "wb") as f:
            f.write(envelope.original_content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "mail_options": envelope.mail_options, "peer": list(session.peer),
                "helo": session.host_name}
        with open(os.path.join(store, "%d.json" % n), "w") as f:
            json.dump(meta, f)
        os.rename(os.path.join(store, "%d.eml.tmp" % n), os.path.join(store, "%d.eml" % n))
        return "250 2.0.0 Ok: queued as SINK%d" % n

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="sink.test", decode_data=False,
                     data_size_limit=50 * 1024 * 1024),
        "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''

# Put the listening socket at fd 4 and the status pipe at fd 3, then exec.
LAUNCH = r'''
import fcntl, os, sys
lfd, pfd = int(sys.argv[1]), int(sys.argv[2])
a = fcntl.fcntl(lfd, fcntl.F_DUPFD, 10)
b = fcntl.fcntl(pfd, fcntl.F_DUPFD, 10)
for fd in (lfd, pfd):
    if fd not in (3, 4):
        os.close(fd)
os.dup2(b, 3)
os.dup2(a, 4)
os.close(a)
os.close(b)
os.execv(sys.argv[3], sys.argv[3:])
'''


# --------------------------------------------------------------------------
# Queue files (format version 1, lib/mail/queue_file.h)

def queue_id_for(tag):
    """A valid queue ID made from a short tag: 14 zeros (arrival time), then
    the tag's bytes in hex (the inode part)."""
    return "0" * 14 + tag.encode().hex().upper()


def write_queue_file(queue_dir, qid, content, rcpts, sender="sender@example.com",
                     body_type="7BIT", message_id="<msg@example.com>", arrival=None):
    arrival = time.time() if arrival is None else arrival
    head = b"POSTERN-QUEUE 1\n"
    head += b"Z %012d %012d\n" % (len(content), 0)
    head += b"T %d.%06d\n" % (int(arrival), int((arrival % 1) * 1e6))
    head += b"S " + sender.encode() + b"\n"
    head += b"N client.example\nA 127.0.0.1\nH client.example\nP ESMTP\n"
    head += b"B " + body_type.encode() + b"\n"
    head += b"I " + message_id.encode() + b"\n"
    for r in rcpts:
        head += b"R P " + r.encode() + b"\n"
    head += b"M\n"
    rel = os.path.join("active", qid)
    path = os.path.join(queue_dir, rel)
    with open(path, "wb") as f:
        f.write(head + content + b"E\n")
    os.chmod(path, 0o644)
    return rel


# --------------------------------------------------------------------------
# The qmgr side of private/smtp

def attr_encode(pairs):
    out = b""
    for name, value in pairs:
        out += name.encode() + b"=" + value.encode() + b"\n"
    return out + b"\n"


class QmgrConn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buf = b""

    def read_msg(self):
        while b"\n\n" not in self.buf and not self.buf.startswith(b"\n"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("smtp closed the connection")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\n\n", 1)
        msg = {}
        for line in raw.split(b"\n"):
            name, value = line.decode("utf-8", "replace").split("=", 1)
            msg[name] = value
        return msg

    def deliver(self, qid, queue_file, nexthop, rcpts, verbose=False, indexes=None):
        """Returns ({index: event dict}, done dict)."""
        pairs = [("req", "deliver"), ("queue_id", qid), ("queue_file", queue_file),
                 ("nexthop", nexthop)]
        if verbose:
            pairs.append(("verbose", "1"))
        for i, r in enumerate(rcpts):
            pairs.append(("rcpt", "%d %s" % (indexes[i] if indexes else i, r)))
        self.sock.sendall(attr_encode(pairs))
        events = {}
        while True:
            msg = self.read_msg()
            if msg.get("event") == "done":
                return events, msg
            if msg.get("event") == "trace":
                # Only a verbose request gets the conversation as trace events.
                assert verbose and set(msg) == {"event", "line"}, msg
                continue
            assert msg.get("event") == "rcpt", msg
            assert set(msg) == {"event", "index", "status", "dsn", "relay", "reply"}, msg
            events[int(msg["index"])] = msg

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# Fixtures: an smtp daemon, the aiosmtpd sink, scripted servers

class Agent:
    def __init__(self, base, **params):
        self.base = base
        self.root = os.path.join(base, "agent-%d" % len(os.listdir(base)))
        self.conf = os.path.join(self.root, "conf")
        self.queue_dir = os.path.join(self.root, "queue")
        self.maillog = os.path.join(self.root, "maillog")
        for d in (self.root, self.conf, self.queue_dir,
                  os.path.join(self.queue_dir, "active"),
                  os.path.join(self.queue_dir, "private")):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        settings = {
            "queue_directory": self.queue_dir,
            "maillog_file": self.maillog,
            "syslog_name": "postern-smtptest",
            "myhostname": "agent.test.example",
            "smtp_connect_timeout": "5s",
        }
        ids = postern.owner_ids()
        if ids:
            import pwd
            settings["mail_owner"] = pwd.getpwuid(ids[0]).pw_name
        settings.update({k: str(v) for k, v in params.items()})
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        open(self.maillog, "ab").close()
        os.chmod(self.maillog, 0o644)
        if ids:
            os.chown(self.maillog, *ids)
        self.sock_path = os.path.join(self.queue_dir, "private", "smtp")
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.sock_path)
        os.chmod(self.sock_path, 0o666)
        self.lsock.listen(64)
        self.status_r, self.status_w = os.pipe()
        self.stderr_path = os.path.join(self.root, "stderr")
        err = open(self.stderr_path, "wb")
        env = dict(os.environ, POSTERN_LISTEN_FDS="1")
        cmd = [PYTHON, "-c", LAUNCH, str(self.lsock.fileno()), str(self.status_w),
               postern.binary("smtp"), "-c", self.conf, "-n", "smtp", "-t", "unix"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT,
                                     pass_fds=(self.lsock.fileno(), self.status_w))
        err.close()
        os.close(self.status_w)
        self.conns = []

    def connect(self):
        c = QmgrConn(self.sock_path)
        self.conns.append(c)
        return c

    def log(self):
        with open(self.maillog, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def describe(self):
        with open(self.stderr_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        return "--- maillog:\n%s\n--- stderr:\n%s" % (self.log()[-4000:], err[-2000:])

    def stop(self):
        for c in self.conns:
            c.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.lsock.close()
        os.close(self.status_r)
        with open(self.stderr_path, "rb") as f:
            err = f.read().decode("utf-8", "replace")
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "panic"):
            assert bad not in err, err[-3000:]


class Sink:
    def __init__(self, base, pipelining=True):
        self.port = postern.free_port()
        self.dir = os.path.join(base, "sink-%d" % self.port)
        os.makedirs(self.dir)
        script = os.path.join(base, "sink.py")
        with open(script, "w") as f:
            f.write(SINK_SCRIPT)
        self.proc = subprocess.Popen([PYTHON, script, str(self.port), self.dir,
                                      "1" if pipelining else "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.proc.stdout.readline().strip() == b"ready"
        self.nexthop = "[127.0.0.1]:%d" % self.port

    def messages(self):
        out = []
        names = sorted((int(n.split(".")[0]) for n in os.listdir(self.dir)
                        if n.endswith(".eml")))
        for n in names:
            with open(os.path.join(self.dir, "%d.eml" % n), "rb") as f:
                content = f.read()
            with open(os.path.join(self.dir, "%d.json" % n)) as f:
                meta = json.load(f)
            meta["content"] = content
            out.append(meta)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class ScriptServer:
    """A TCP server on 127.0.0.1 that runs handler(conn) for each client."""

    def __init__(self, handler):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.nexthop = "[127.0.0.1]:%d" % self.port
        self.handler = handler
        self.received = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            conn.settimeout(30)
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def readline(self, conn):
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = conn.recv(1)
            if not chunk:
                raise OSError("eof")
            data += chunk
        self.received.append(data)
        return data

    def close(self):
        self.lsock.close()


@pytest.fixture
def base():
    path = postern.make_base_dir("postern-smtptest-")
    yield path
    postern.remove_tree(path)


@pytest.fixture
def agent(base):
    a = Agent(base)
    yield a
    a.stop()


@pytest.fixture
def sink(base):
    s = Sink(base, pipelining=True)
    yield s
    s.stop()


def content_with(body, subject="test"):
    return (b"From: <sender@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: "
            + subject.encode() + b"\r\nMessage-ID: <msg@example.com>\r\n\r\n" + body)


def expect_status(events, index, status, dsn=None):
    ev = events[index]
    assert ev["status"] == status, ev
    if dsn is not None:
        assert ev["dsn"] == dsn, ev
    return ev


# --------------------------------------------------------------------------
# Tests

TRICKY_BODY = (b".\r\n"
               b"..\r\n"
               b".leading dot\r\n"
               b"line\r\n.\r\n"
               b"8-bit: \xc3\xa9\xe2\x82\xac\xff\r\n"
               + b"x" * 990 + b"\r\n"
               + b"." + b"y" * 989 + b"\r\n"
               b"\r\n"
               b"last line\r\n")


@pytest.mark.parametrize("pipelining", [True, False])
def test_content_arrives_byte_for_byte(base, agent, pipelining):
    sink = Sink(base, pipelining=pipelining)
    try:
        content = content_with(TRICKY_BODY)
        qf = write_queue_file(agent.queue_dir, "00000000000000414141303031", content, ["rcpt@example.net"],
                              body_type="8BITMIME")
        events, done = agent.connect().deliver("00000000000000414141303031", qf, sink.nexthop,
                                               ["rcpt@example.net"])
        assert done == {"event": "done", "queue_id": "00000000000000414141303031"}
        ev = expect_status(events, 0, "sent", "2.0.0")
        assert ev["relay"] == "127.0.0.1[127.0.0.1]:%d" % sink.port
        assert "queued as SINK1" in ev["reply"]
        msgs = sink.messages()
        assert len(msgs) == 1
        assert msgs[0]["content"] == content
        assert msgs[0]["mail_from"] == "sender@example.com"
        assert msgs[0]["rcpt_tos"] == ["rcpt@example.net"]
        assert "BODY=8BITMIME" in msgs[0]["mail_options"]
        assert "SIZE=%d" % len(content) in msgs[0]["mail_options"]
        assert msgs[0]["helo"] == "agent.test.example"
    finally:
        sink.stop()


def test_content_without_final_crlf_gets_one(agent, sink):
    content = content_with(b"no newline at the end\r\n.dot")
    qf = write_queue_file(agent.queue_dir, "00000000000000414141303032", content, ["rcpt@example.net"])
    events, _ = agent.connect().deliver("00000000000000414141303032", qf, sink.nexthop, ["rcpt@example.net"])
    expect_status(events, 0, "sent")
    msgs = sink.messages()
    assert msgs[0]["content"] == content + b"\r\n"
    assert "BODY=8BITMIME" not in msgs[0]["mail_options"]


def test_large_message_streams_intact(agent, sink):
    line = b"0123456789" * 7 + b"abcdef\r\n"
    body = b"".join(b"." + line if i % 7 == 0 else line for i in range(80000))
    content = content_with(body)
    assert len(content) > 5 * 1024 * 1024
    qf = write_queue_file(agent.queue_dir, "00000000000000414141303033", content, ["rcpt@example.net"])
    events, _ = agent.connect().deliver("00000000000000414141303033", qf, sink.nexthop, ["rcpt@example.net"])
    expect_status(events, 0, "sent")
    assert sink.messages()[0]["content"] == content


@pytest.mark.parametrize("pipelining", [True, False])
def test_per_recipient_outcomes(base, agent, pipelining):
    sink = Sink(base, pipelining=pipelining)
    try:
        rcpts = ["ok1@example.net", "temp@example.net", "reject@example.net",
                 "ok2@example.net"]
        qf = write_queue_file(agent.queue_dir, "00000000000000424242303031", content_with(b"hi\r\n"), rcpts)
        events, _ = agent.connect().deliver("00000000000000424242303031", qf, sink.nexthop, rcpts)
        expect_status(events, 0, "sent", "2.0.0")
        ev = expect_status(events, 1, "deferred", "4.2.0")
        assert "450 4.2.0 <temp@example.net>: mailbox busy" in ev["reply"]
        assert "(in reply to RCPT TO command)" in ev["reply"]
        ev = expect_status(events, 2, "bounced", "5.1.1")
        assert "550 5.1.1" in ev["reply"]
        expect_status(events, 3, "sent", "2.0.0")
        msgs = sink.messages()
        assert len(msgs) == 1
        assert msgs[0]["rcpt_tos"] == ["ok1@example.net", "ok2@example.net"]
    finally:
        sink.stop()


@pytest.mark.parametrize("pipelining", [True, False])
def test_no_recipient_accepted_sends_no_content(base, agent, pipelining):
    sink = Sink(base, pipelining=pipelining)
    try:
        conn = agent.connect()
        rcpts = ["reject@example.net", "temp@example.net"]
        qf = write_queue_file(agent.queue_dir, "00000000000000434343303031", content_with(b"x\r\n"), rcpts)
        events, _ = conn.deliver("00000000000000434343303031", qf, sink.nexthop, rcpts)
        expect_status(events, 0, "bounced", "5.1.1")
        expect_status(events, 1, "deferred", "4.2.0")
        assert sink.messages() == []
        # The session is still usable (RSET, then cached) for the next message.
        qf = write_queue_file(agent.queue_dir, "00000000000000434343303032", content_with(b"y\r\n"),
                              ["ok@example.net"])
        events, _ = conn.deliver("00000000000000434343303032", qf, sink.nexthop, ["ok@example.net"])
        expect_status(events, 0, "sent")
        assert len(sink.messages()) == 1
    finally:
        sink.stop()


def test_connection_reuse(agent, sink):
    conn = agent.connect()
    for i in range(3):
        qid = queue_id_for("DDD%03d" % i)
        qf = write_queue_file(agent.queue_dir, qid, content_with(b"n\r\n", "m%d" % i),
                              ["r%d@example.net" % i])
        events, _ = conn.deliver(qid, qf, sink.nexthop, ["r%d@example.net" % i])
        expect_status(events, 0, "sent")
    msgs = sink.messages()
    assert len(msgs) == 3
    assert len({tuple(m["peer"]) for m in msgs}) == 1, [m["peer"] for m in msgs]
    # The reused deliveries spent no time on connection setup (delays c == 0).
    lines = [ln for ln in agent.log().splitlines() if "00000000000000444444303032: from=" in ln]
    assert re.search(r"delays=[0-9.]+/[0-9.]+/0/[0-9.]+,", lines[0]), lines


def test_cache_expiry_closes_with_quit(base):
    agent = Agent(base, smtp_connection_cache_time_limit="1s")
    got = []

    def handler(conn, srv):
        conn.sendall(b"220 scripted ESMTP\r\n")
        while True:
            line = srv.readline(conn)
            got.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-scripted\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                while srv.readline(conn) != b".\r\n":
                    pass
                conn.sendall(b"250 2.0.0 done\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    srv = ScriptServer(handler)
    try:
        qf = write_queue_file(agent.queue_dir, "00000000000000454545303031", content_with(b"q\r\n"),
                              ["a@example.net"])
        events, _ = agent.connect().deliver("00000000000000454545303031", qf, srv.nexthop, ["a@example.net"])
        expect_status(events, 0, "sent", "2.0.0")
        postern.wait_until(lambda: b"QUIT\r\n" in got, 10, "QUIT after the idle time")
    finally:
        srv.close()
        agent.stop()


def test_connection_refused_is_deferred(agent):
    port = postern.free_port()
    qf = write_queue_file(agent.queue_dir, "00000000000000464646303031", content_with(b"r\r\n"),
                          ["a@example.net", "b@example.net"])
    events, _ = agent.connect().deliver("00000000000000464646303031", qf, "[127.0.0.1]:%d" % port,
                                        ["a@example.net", "b@example.net"])
    for i in (0, 1):
        ev = expect_status(events, i, "deferred", "4.4.1")
        assert ev["relay"] == "none"
        assert ev["reply"] == ("connect to 127.0.0.1[127.0.0.1]:%d: Connection refused"
                               % port)
    log = agent.log()
    assert re.search(r"00000000000000464646303031: from=<sender@example.com>, to=<a@example.net>, relay=none, "
                     r"delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, size=\d+, "
                     r"message-id=<msg@example.com>, dsn=4.4.1, status=deferred "
                     r"\(connect to 127.0.0.1\[127.0.0.1\]:%d: Connection refused\)" % port,
                     log), log


def test_host_name_nexthop_is_resolved(base, sink):
    # smtp resolves names with lib/dns only (no /etc/hosts, no getaddrinfo), so
    # the name comes from a dnsmasq on loopback; "[name]:port" means no MX lookup
    # (an MX lookup would find 127.0.0.1, this host: loop detection, see
    # test_routing.py).
    from test_dns import Dnsmasq
    dns = Dnsmasq(base, "--host-record=sink.example.test,127.0.0.1").start()
    agent = Agent(base, dns_servers=dns.addr)
    try:
        qf = write_queue_file(agent.queue_dir, "00000000000000474747303031", content_with(b"dns\r\n"),
                              ["a@example.net"])
        events, _ = agent.connect().deliver("00000000000000474747303031", qf, "[sink.example.test]:%d" % sink.port,
                                            ["a@example.net"])
        ev = expect_status(events, 0, "sent")
        assert ev["relay"] == "sink.example.test[127.0.0.1]:%d" % sink.port
    finally:
        agent.stop()
        dns.stop()


def test_malformed_nexthop_is_deferred(agent):
    qf = write_queue_file(agent.queue_dir, "00000000000000474747303032", content_with(b"nh\r\n"),
                          ["a@example.net"])
    conn = agent.connect()
    for nexthop, why in (("[127.0.0.1", "missing ']'"), ("host:99999", "bad port"),
                         ("a:b:c", "an IPv6 address must be in brackets")):
        events, _ = conn.deliver("00000000000000474747303032", qf, nexthop, ["a@example.net"])
        ev = expect_status(events, 0, "deferred", "4.3.5")
        assert ev["reply"] == 'malformed nexthop "%s": %s' % (nexthop, why), ev
        assert ev["relay"] == "none"


def test_sent_log_line(agent, sink):
    qf = write_queue_file(agent.queue_dir, "00000000000000484848303031", content_with(b"log\r\n"),
                          ["a@example.net"], arrival=time.time() - 2.5)
    agent.connect().deliver("00000000000000484848303031", qf, sink.nexthop, ["a@example.net"])
    size = len(content_with(b"log\r\n"))
    rx = (r"postern-smtptest/smtp.*00000000000000484848303031: from=<sender@example.com>, to=<a@example.net>, "
          r"relay=127.0.0.1\[127.0.0.1\]:%d, delay=(2\.[5-9]\d|[3-9]\.\d\d), "
          r"delays=2\.[5-9]\d/[0-9.]+/[0-9.]+/[0-9.]+, size=%d, "
          r"message-id=<msg@example.com>, dsn=2.0.0, status=sent "
          r"\(250 2.0.0 Ok: queued as SINK1\)$" % (sink.port, size))
    lines = [ln for ln in agent.log().splitlines() if "00000000000000484848303031: from=" in ln]
    assert len(lines) == 1, agent.log()
    assert re.search(rx, lines[0]), lines[0]


def test_verbose_logs_the_conversation(agent, sink):
    qf = write_queue_file(agent.queue_dir, "00000000000000494949303031", content_with(b"v\r\n"),
                          ["a@example.net"])
    agent.connect().deliver("00000000000000494949303031", qf, sink.nexthop, ["a@example.net"], verbose=True)
    log = agent.log()
    assert "00000000000000494949303031: > 127.0.0.1[127.0.0.1]: MAIL FROM:<sender@example.com>" in log, log
    assert "00000000000000494949303031: > 127.0.0.1[127.0.0.1]: RCPT TO:<a@example.net>" in log
    assert "00000000000000494949303031: < 127.0.0.1[127.0.0.1]: 250 2.0.0 Ok: queued as SINK1" in log
    # Not verbose: no conversation lines.
    qf = write_queue_file(agent.queue_dir, "00000000000000494949303032", content_with(b"v\r\n"),
                          ["a@example.net"])
    agent.connect().deliver("00000000000000494949303032", qf, sink.nexthop, ["a@example.net"])
    assert "00000000000000494949303032: >" not in agent.log()


def test_missing_queue_file_is_deferred(agent, sink):
    events, done = agent.connect().deliver("000000000000004A4A4A303031", "active/000000000000004A4A4A303031", sink.nexthop,
                                           ["a@example.net"])
    ev = expect_status(events, 0, "deferred", "4.3.0")
    assert "queue file" in ev["reply"]
    assert done["queue_id"] == "000000000000004A4A4A303031"
    assert sink.messages() == []


def test_recipient_not_in_queue_file_is_deferred(agent, sink):
    qf = write_queue_file(agent.queue_dir, "000000000000004A4A4A303032", content_with(b"m\r\n"),
                          ["a@example.net", "b@example.net"])
    events, _ = agent.connect().deliver("000000000000004A4A4A303032", qf, sink.nexthop,
                                        ["b@example.net", "x@example.net"], indexes=[1, 0])
    expect_status(events, 1, "sent")
    expect_status(events, 0, "deferred", "4.3.0")
    assert sink.messages()[0]["rcpt_tos"] == ["b@example.net"]


def scripted(greeting, ehlo=b"250-scripted\r\n250 PIPELINING\r\n", close_on=None):
    def handler(conn, srv):
        if greeting is None:
            time.sleep(5)
            return
        conn.sendall(greeting)
        while True:
            line = srv.readline(conn)
            verb = line[:4].upper()
            if close_on and verb == close_on:
                return
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(ehlo)
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")
    return handler


def run_scripted(agent, handler, qid):
    srv = ScriptServer(handler)
    try:
        qf = write_queue_file(agent.queue_dir, qid, content_with(b"s\r\n"),
                              ["a@example.net"])
        events, _ = agent.connect().deliver(qid, qf, srv.nexthop, ["a@example.net"])
        return events[0], srv
    finally:
        srv.close()


def test_greeting_timeout(base):
    agent = Agent(base, smtp_helo_timeout="1s")
    try:
        ev, srv = run_scripted(agent, scripted(None), "000000000000004B4B4B303031")
        assert ev["status"] == "deferred" and ev["dsn"] == "4.4.2", ev
        assert ev["reply"] == ("conversation with 127.0.0.1[127.0.0.1] timed out while "
                               "receiving the initial server greeting")
        assert ev["relay"] == "127.0.0.1[127.0.0.1]:%d" % srv.port
    finally:
        agent.stop()


def test_greeting_refused(agent):
    ev, _ = run_scripted(agent, scripted(b"554 5.7.1 go away\r\n"), "000000000000004B4B4B303032")
    assert ev["status"] == "deferred" and ev["dsn"] == "4.7.1", ev
    assert ev["reply"] == "host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 go away"


def test_helo_fallback_without_esmtp(agent):
    def handler(conn, srv):
        conn.sendall(b"220 old server\r\n")
        while True:
            line = srv.readline(conn)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"502 what\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                while srv.readline(conn) != b".\r\n":
                    pass
                conn.sendall(b"250 stored\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    ev, srv = run_scripted(agent, handler, "000000000000004B4B4B303033")
    assert ev["status"] == "sent" and ev["dsn"] == "2.0.0", ev
    assert ev["reply"] == "250 stored"
    sent = [ln for ln in srv.received if not ln.startswith(b"s\r")]
    assert sent[0] == b"EHLO agent.test.example\r\n"
    assert sent[1] == b"HELO agent.test.example\r\n"
    assert sent[2] == b"MAIL FROM:<sender@example.com>\r\n"    # no SIZE, no BODY


def test_lost_connection_during_rcpt(agent):
    ev, _ = run_scripted(agent, scripted(b"220 hi\r\n", ehlo=b"250 scripted\r\n",
                                         close_on=b"RCPT"), "000000000000004B4B4B303034")
    assert ev["status"] == "deferred" and ev["dsn"] == "4.4.2", ev
    assert ev["reply"] == "lost connection with 127.0.0.1[127.0.0.1] while sending RCPT TO"


def test_mail_from_rejected(agent):
    def handler(conn, srv):
        conn.sendall(b"220 hi\r\n")
        while True:
            line = srv.readline(conn)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250 scripted\r\n")
            elif verb == b"MAIL":
                conn.sendall(b"553 5.7.1 sender not allowed\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    ev, srv = run_scripted(agent, handler, "000000000000004B4B4B303035")
    assert ev["status"] == "bounced" and ev["dsn"] == "5.7.1", ev
    assert "(in reply to MAIL FROM command)" in ev["reply"]
    assert not any(ln.startswith(b"RCPT") for ln in srv.received)


def test_bad_request_closes_the_connection(agent):
    conn = agent.connect()
    conn.sock.sendall(attr_encode([("req", "deliver"), ("queue_id", "X1"),
                                   ("rcpt", "0 a@example.net")]))
    conn.sock.settimeout(10)
    assert conn.sock.recv(100) == b""
    assert "qmgr protocol error" in agent.log()


def test_concurrent_deliveries(agent, sink):
    conns = [agent.connect() for _ in range(4)]
    per_conn = 15
    results = {}

    def worker(k, conn):
        for i in range(per_conn):
            qid = queue_id_for("LLL%d%03d" % (k, i))
            qf = write_queue_file(agent.queue_dir, qid, content_with(b"c\r\n", qid),
                                  ["r@example.net"])
            events, _ = conn.deliver(qid, qf, sink.nexthop, ["r@example.net"])
            results[qid] = events[0]["status"]

    threads = [threading.Thread(target=worker, args=(k, c)) for k, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 4 * per_conn
    assert set(results.values()) == {"sent"}, results
    msgs = sink.messages()
    assert len(msgs) == 4 * per_conn
    # Connections were reused: far fewer than one per message.
    assert len({tuple(m["peer"]) for m in msgs}) <= 8


def test_graceful_stop_quits_cached_sessions(base):
    agent = Agent(base, smtp_connection_cache_time_limit="60s")
    got = []

    def handler(conn, srv):
        conn.sendall(b"220 hi\r\n")
        while True:
            line = srv.readline(conn)
            got.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-scripted\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                while srv.readline(conn) != b".\r\n":
                    pass
                conn.sendall(b"250 2.0.0 done\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    srv = ScriptServer(handler)
    try:
        qf = write_queue_file(agent.queue_dir, "000000000000004D4D4D303031", content_with(b"q\r\n"),
                              ["a@example.net"])
        events, _ = agent.connect().deliver("000000000000004D4D4D303031", qf, srv.nexthop, ["a@example.net"])
        expect_status(events, 0, "sent")
        agent.proc.terminate()
        assert agent.proc.wait(timeout=10) == 0
        postern.wait_until(lambda: b"QUIT\r\n" in got, 5, "QUIT at shutdown")
    finally:
        srv.close()
        agent.stop()


def transaction_server(on_mail=None):
    """A scripted ESMTP server with PIPELINING; on_mail(conn, srv, state)
    may take over at MAIL FROM: it returns "replied" when it answered, "close"
    to drop the connection, None for the default reply."""
    state = {"connections": 0, "messages": 0, "peek": []}

    def handler(conn, srv):
        state["connections"] += 1
        conn.sendall(b"220 scripted ESMTP\r\n")
        while True:
            line = srv.readline(conn)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-scripted\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n")
            elif verb == b"MAIL" and on_mail:
                what = on_mail(conn, srv, state)
                if what == "close":
                    return
                if what != "replied":
                    conn.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                while srv.readline(conn) != b".\r\n":
                    pass
                state["messages"] += 1
                conn.sendall(b"250 2.0.0 stored %d\r\n" % state["messages"])
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 ok\r\n")
    return handler, state


def test_pipelining_sends_commands_in_one_go(agent):
    def on_mail(conn, srv, state):
        # Before answering MAIL, RCPT TO and DATA must already be on the wire.
        time.sleep(0.3)
        state["peek"].append(conn.recv(4096, socket.MSG_PEEK))
        return None

    handler, state = transaction_server(on_mail)
    srv = ScriptServer(handler)
    try:
        rcpts = ["a@example.net", "b@example.net"]
        qf = write_queue_file(agent.queue_dir, "000000000000004E4E4E303031", content_with(b"p\r\n"), rcpts)
        events, _ = agent.connect().deliver("000000000000004E4E4E303031", qf, srv.nexthop, rcpts)
        expect_status(events, 0, "sent", "2.0.0")
        expect_status(events, 1, "sent", "2.0.0")
        assert state["peek"][0] == b"RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    finally:
        srv.close()


def test_stale_cached_session_is_replaced(agent):
    def on_mail(conn, srv, state):
        # The first connection dies silently at its second transaction.
        if state["connections"] == 1 and state["messages"] == 1:
            return "close"
        return None

    handler, state = transaction_server(on_mail)
    srv = ScriptServer(handler)
    try:
        conn = agent.connect()
        for qid in ("000000000000004F4F4F303031", "000000000000004F4F4F303032"):
            qf = write_queue_file(agent.queue_dir, qid, content_with(b"o\r\n"),
                                  ["a@example.net"])
            events, _ = conn.deliver(qid, qf, srv.nexthop, ["a@example.net"])
            expect_status(events, 0, "sent", "2.0.0")
        assert state["connections"] == 2
        assert state["messages"] == 2
    finally:
        srv.close()


def test_graceful_stop_finishes_delivery_in_progress(agent):
    def on_mail(conn, srv, state):
        time.sleep(1.0)         # SIGTERM arrives while MAIL FROM is pending
        return None

    handler, state = transaction_server(on_mail)
    srv = ScriptServer(handler)
    try:
        conn = agent.connect()
        qf = write_queue_file(agent.queue_dir, "00000000000000505050303031", content_with(b"g\r\n"),
                              ["a@example.net"])
        result = {}
        th = threading.Thread(target=lambda: result.update(
            r=conn.deliver("00000000000000505050303031", qf, srv.nexthop, ["a@example.net"])))
        th.start()
        time.sleep(0.4)
        agent.proc.terminate()
        th.join(20)
        events, done = result["r"]
        expect_status(events, 0, "sent", "2.0.0")
        assert done["queue_id"] == "00000000000000505050303031"
        assert agent.proc.wait(timeout=10) == 0
        assert conn.sock.recv(10) == b""     # then it hung up
        assert state["messages"] == 1
    finally:
        srv.close()


@pytest.mark.parametrize("greeting, why", [
    (b"220 " + b"x" * 5000, "reply line too long"),
    (b"220-first\r\n250 other code\r\n", ""),
    (b"220 nul \x00 byte\r\n", ""),
])
def test_malformed_greeting_is_deferred(agent, greeting, why):
    def handler(conn, srv):
        conn.sendall(greeting)
        time.sleep(2)

    ev, _ = run_scripted(agent, handler, "00000000000000515151303031")
    assert ev["status"] == "deferred" and ev["dsn"] == "4.5.0", ev
    assert ev["reply"].startswith("malformed reply from 127.0.0.1[127.0.0.1] while "
                                  "receiving the initial server greeting: " + why), ev
