"""qmgr control requests on private/qmgr, against a real instance.

The test talks to private/qmgr itself with a small client for the attribute
protocol (lib/util/attr.h; requests and replies in lib/mail/mail_proto.h), as
postqueue and postsuper do:

    flush                       every deferred message is delivered at once
    flush_site site=DOMAIN      only the messages with a recipient there
    deliver_now queue_id [watch] [verbose]
                                one message now; with watch the attempt
                                comes back as event=trace/rcpt/done lines
    withdraw queue_id action    an active message is taken back, even in
                                the middle of a (slow) delivery

Deferred mail is made by pointing the instance at a sink that is not
running yet (connection refused) with a back-off of an hour, so nothing
retries by itself. The slow next hop is a tiny asyncio SMTP server in this
file that can stall before answering DATA or the final dot.

The queue index (queue_directory/index, LMDB) is read through ctypes and
liblmdb so that it can be compared with the queue files.
"""

import asyncio
import ctypes
import ctypes.util
import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest

import postern

STATE_NAMES = ("incoming", "active", "deferred", "hold", "corrupt")
NO_RETRY = dict(minimal_backoff_time="3600s", maximal_backoff_time="7200s",
                queue_run_delay="3600s")


# --------------------------------------------------------------------------
# A client for private/qmgr

class QmgrClient:
    """Attribute-protocol client for QUEUE/private/qmgr (reached through a
    short symlink: UNIX socket paths are limited to 107 bytes)."""

    def __init__(self, inst, timeout=30):
        self.link_dir = tempfile.mkdtemp(prefix="qc-", dir="/tmp")
        link = os.path.join(self.link_dir, "p")
        os.symlink(os.path.join(inst.queue_dir, "private"), link)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(link, "qmgr"))
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        finally:
            shutil.rmtree(self.link_dir, ignore_errors=True)

    def send(self, req, **attrs):
        out = b"req=" + req.encode() + b"\n"
        for name, value in attrs.items():
            out += name.encode() + b"=" + str(value).encode() + b"\n"
        self.sock.sendall(out + b"\n")

    def read(self):
        """One message as a list of (name, value); None at EOF."""
        while b"\n\n" not in self.buf and not self.buf.startswith(b"\n"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        if self.buf.startswith(b"\n"):
            raw, self.buf = b"", self.buf[1:]
        else:
            raw, self.buf = self.buf.split(b"\n\n", 1)
        attrs = []
        for line in raw.split(b"\n"):
            name, _, value = line.decode("utf-8", "replace").partition("=")
            attrs.append((name, value))
        return attrs

    def request(self, req, **attrs):
        self.send(req, **attrs)
        reply = self.read()
        assert reply is not None, "qmgr closed the connection without a reply"
        return dict(reply)

    def events(self, timeout=30):
        """Read watch events until event=done; returns the list of dicts."""
        self.sock.settimeout(timeout)
        out = []
        while True:
            msg = self.read()
            assert msg is not None, "connection closed before event=done: %r" % out
            d = dict(msg)
            out.append(d)
            if d.get("event") == "done":
                return out


@pytest.fixture
def clients():
    made = []

    def factory(inst):
        c = QmgrClient(inst)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


# --------------------------------------------------------------------------
# The queue index, read with liblmdb through ctypes

class MDBVal(ctypes.Structure):
    _fields_ = [("mv_size", ctypes.c_size_t), ("mv_data", ctypes.c_void_p)]


def read_index(queue_dir):
    """{queue ID: state name} from queue_dir/index (table "msgs")."""
    name = ctypes.util.find_library("lmdb") or "liblmdb.so.0"
    lib = ctypes.CDLL(name)
    env = ctypes.c_void_p()
    txn = ctypes.c_void_p()
    dbi = ctypes.c_uint()
    cur = ctypes.c_void_p()
    mdb_rdonly, mdb_first, mdb_next = 0x20000, 0, 8
    assert lib.mdb_env_create(ctypes.byref(env)) == 0
    try:
        lib.mdb_env_set_maxdbs(env, 8)
        lib.mdb_env_set_mapsize(env, ctypes.c_size_t(1 << 30))
        rc = lib.mdb_env_open(env, os.path.join(queue_dir, "index").encode(), mdb_rdonly, 0o600)
        assert rc == 0, "mdb_env_open: %d" % rc
        assert lib.mdb_txn_begin(env, None, mdb_rdonly, ctypes.byref(txn)) == 0
        assert lib.mdb_dbi_open(txn, b"msgs", 0, ctypes.byref(dbi)) == 0
        assert lib.mdb_cursor_open(txn, dbi, ctypes.byref(cur)) == 0
        out = {}
        key, val = MDBVal(), MDBVal()
        op = mdb_first
        while lib.mdb_cursor_get(cur, ctypes.byref(key), ctypes.byref(val), op) == 0:
            k = ctypes.string_at(key.mv_data, key.mv_size).decode()
            v = ctypes.string_at(val.mv_data, val.mv_size)
            out[k] = STATE_NAMES[v[1]]
            op = mdb_next
        lib.mdb_cursor_close(cur)
        lib.mdb_txn_abort(txn)
        return out
    finally:
        lib.mdb_env_close(env)


def files_by_id(inst):
    return {qid: state for state, ids in inst.queue().items() for qid in ids}


# --------------------------------------------------------------------------
# A slow SMTP server: stalls before answering DATA (or the final dot)

class SlowServer:
    """Minimal SMTP server (no PIPELINING) in a thread. stall="data" holds the
    reply to DATA, stall="dot" the reply to the end of data, until
    release(); then every later command is answered at once."""

    def __init__(self, port, stall="data"):
        self.port = port
        self.stall = stall
        self.stalled = threading.Event()      # the stall point was reached
        self.delivered = []                   # messages answered with 250
        self.commands = []
        self.loop = None
        self.gate = None
        self.thread = None
        self.server = None

    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.gate = asyncio.Event()
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self.session, "127.0.0.1", self.port))
            ready.set()
            self.loop.run_forever()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(10)
        return self

    def release(self):
        self.loop.call_soon_threadsafe(self.gate.set)

    def stop(self):
        if self.loop is None:
            return

        def close():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(close)
        self.thread.join(10)

    async def session(self, reader, writer):
        try:
            writer.write(b"220 slow.test ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                cmd = line.decode("ascii", "replace").strip()
                self.commands.append(cmd)
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    writer.write(b"250-slow.test\r\n250 8BITMIME\r\n")
                elif verb == "DATA":
                    if self.stall == "data" and not self.gate.is_set():
                        self.stalled.set()
                        await self.gate.wait()
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = await reader.readline()
                        if not chunk:
                            return      # no final dot: nothing delivered
                        data += chunk
                    if self.stall == "dot" and not self.gate.is_set():
                        self.stalled.set()
                        await self.gate.wait()
                    self.delivered.append(data)
                    writer.write(b"250 2.0.0 Ok: stored\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 2.0.0 Ok\r\n")
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            return
        finally:
            writer.close()


@pytest.fixture
def slow_server():
    made = []

    def factory(port, stall="data"):
        s = SlowServer(port, stall).start()
        made.append(s)
        return s

    yield factory
    for s in made:
        s.release()
        s.stop()


# --------------------------------------------------------------------------
# Helpers

def send_ids(inst, n, rcpts=("rcpt@example.net",), subject="t"):
    ids = []
    for i in range(n):
        _, reply = inst.send(postern.make_message(subject="%s %d" % (subject, i)), rcpts=rcpts)
        ids.append(postern.queue_id_from_reply(reply))
    return ids


def wait_state(inst, ids, state, timeout=20):
    ids = set(ids)
    postern.wait_until(lambda: ids <= set(inst.queue()[state]), timeout,
                       lambda: "%s in %s; %s" % (sorted(ids), state, inst.describe()))


def make_deferred(make_instance, make_sink, n, rcpts=("rcpt@example.net",), **params):
    """An instance whose sink is down: n messages end up deferred for an hour.
    Returns (instance, sink object not started, ids)."""
    sink = make_sink()
    inst = make_instance(sink=sink, **dict(NO_RETRY, **params)).start()
    ids = send_ids(inst, n, rcpts)
    wait_state(inst, ids, "deferred")
    return inst, sink, ids


# --------------------------------------------------------------------------
# flush

def test_flush_delivers_deferred_mail_at_once(make_instance, make_sink, clients):
    inst, sink, ids = make_deferred(make_instance, make_sink, 5)
    sink.start()
    time.sleep(1)
    assert sink.count() == 0, "deferred mail retried by itself"
    c = clients(inst)
    reply = c.request("flush")
    assert reply == {"status": "ok", "count": "5"}
    sink.wait_count(5, timeout=15, extra=inst.describe)
    postern.wait_until(lambda: inst.queue_count() == 0, 10, inst.describe)
    assert "flush: 5 deferred messages made due" in inst.log()


def test_flush_site_only_that_domain(make_instance, make_sink, clients):
    sink = make_sink(fail_rcpt=["@=450"])
    inst = make_instance(sink=sink, **NO_RETRY).start()
    sink.start()
    a = send_ids(inst, 2, rcpts=("x@a.example",))
    b = send_ids(inst, 2, rcpts=("y@b.example",))
    both = send_ids(inst, 1, rcpts=("y@b.example", "x@A.Example"))
    wait_state(inst, a + b + both, "deferred")
    sink.stop()
    sink2 = make_sink(name="sink2", port=sink.port).start()
    c = clients(inst)
    reply = c.request("flush_site", site="A.EXAMPLE")
    assert reply == {"status": "ok", "count": "3"}
    sink2.wait_count(3, timeout=15, extra=inst.describe)
    postern.wait_until(lambda: set(inst.queue()["deferred"]) == set(b), 10, inst.describe)
    time.sleep(1)
    assert sink2.count() == 3
    got = sorted(tuple(sorted(m["rcpt_tos"])) for m in sink2.messages())
    assert got == [("x@A.Example", "y@b.example"), ("x@a.example",), ("x@a.example",)]
    assert c.request("flush_site", site="nowhere.example") == {"status": "ok", "count": "0"}


# --------------------------------------------------------------------------
# deliver_now

def test_deliver_now_watch_verbose(make_instance, make_sink, clients):
    rcpts = ("ok@example.net", "r450@example.net", "r550@example.net")
    inst, sink, ids = make_deferred(make_instance, make_sink, 1, rcpts=rcpts)
    other = make_sink(name="sink-rules", port=sink.port,
                      fail_rcpt=["r450@=450", "r550@=550"]).start()
    qid = ids[0]
    c = clients(inst)
    c.send("deliver_now", queue_id=qid, watch="1", verbose="1")
    assert dict(c.read()) == {"status": "ok"}
    events = c.events()
    traces = [e["line"] for e in events if e["event"] == "trace"]
    text = "\n".join(traces)
    assert any(t.startswith("connecting to 127.0.0.1[127.0.0.1]:%d" % sink.port)
               for t in traces), text
    assert any(t.startswith("> MAIL FROM:<sender@example.com>") for t in traces), text
    assert "> RCPT TO:<ok@example.net>" in traces, text
    assert "> DATA" in traces, text
    assert any(t.startswith("< 250 ") for t in traces), text
    rcpt = {e["address"]: e for e in events if e["event"] == "rcpt"}
    assert set(rcpt) == set(rcpts)
    assert (rcpt["ok@example.net"]["status"], rcpt["ok@example.net"]["dsn"][0]) == ("sent", "2")
    assert (rcpt["r450@example.net"]["status"], rcpt["r450@example.net"]["dsn"][0]) \
        == ("deferred", "4")
    assert (rcpt["r550@example.net"]["status"], rcpt["r550@example.net"]["dsn"][0]) \
        == ("bounced", "5")
    assert "450" in rcpt["r450@example.net"]["reply"]
    assert rcpt["ok@example.net"]["relay"] == "127.0.0.1[127.0.0.1]:%d" % sink.port
    # every trace line comes before the results
    last_trace = max(i for i, e in enumerate(events) if e["event"] == "trace")
    first_rcpt = min(i for i, e in enumerate(events) if e["event"] == "rcpt")
    assert last_trace < first_rcpt
    assert events[-1] == {"event": "done", "queue_id": qid, "state": "deferred"}
    assert other.count() == 1
    assert inst.queue()["deferred"] == [qid]
    # the same connection carries the next request
    assert c.request("deliver_now", queue_id="0" * 20)["status"] == "error"


def test_deliver_now_without_watch_and_errors(make_instance, make_sink, clients):
    inst, sink, ids = make_deferred(make_instance, make_sink, 2)
    sink.start()
    c = clients(inst)
    assert c.request("deliver_now", queue_id=ids[0]) == {"status": "ok"}
    sink.wait_count(1, timeout=10, extra=inst.describe)
    time.sleep(0.5)
    assert inst.queue()["deferred"] == [ids[1]]
    # on hold: refused with the way out
    held = ids[1]
    src = os.path.join(inst.queue_dir, "deferred", held[-2], held[-1], held)
    os.rename(src, os.path.join(inst.queue_dir, "hold", held[-2], held[-1], held))
    reply = c.request("deliver_now", queue_id=held)
    assert reply["status"] == "error"
    assert reply["reason"] == ("message %s is on hold: release it first with "
                               "postsuper -H %s" % (held, held))
    reply = c.request("deliver_now", queue_id="0123456789ABCDEF0123FF")
    assert reply == {"status": "error", "reason": "no such message"}
    assert c.request("deliver_now", queue_id="../etc")["status"] == "error"
    time.sleep(0.5)
    assert sink.count() == 1


def test_multiple_watchers_and_a_watcher_that_leaves(make_instance, clients, slow_server):
    port = postern.free_port()
    inst = make_instance(sink_port=port, **NO_RETRY).start()
    qid = send_ids(inst, 1)[0]
    wait_state(inst, [qid], "deferred")         # nobody listens on the port yet
    server = slow_server(port, stall="data")
    quitter = clients(inst)
    quitter.send("deliver_now", queue_id=qid, watch="1", verbose="1")
    assert dict(quitter.read()) == {"status": "ok"}
    assert server.stalled.wait(15), inst.describe()
    quitter.close()                             # gone in the middle of the attempt
    c1, c2 = clients(inst), clients(inst)
    c1.send("deliver_now", queue_id=qid, watch="1")
    c2.send("deliver_now", queue_id=qid, watch="1", verbose="1")
    assert dict(c1.read()) == {"status": "ok"}
    assert dict(c2.read()) == {"status": "ok"}
    server.release()
    e1, e2 = c1.events(), c2.events()
    assert e1[-1] == e2[-1] == {"event": "done", "queue_id": qid, "state": "removed"}
    assert [e["status"] for e in e1 if e["event"] == "rcpt"] == ["sent"]
    assert not [e for e in e1 if e["event"] == "trace"]     # c1 did not ask for it
    assert len(server.delivered) == 1
    assert inst.queue_count() == 0


# --------------------------------------------------------------------------
# withdraw

@pytest.mark.parametrize("action", ["hold", "delete", "requeue"])
def test_withdraw_during_slow_delivery(make_instance, clients, slow_server, action):
    port = postern.free_port()
    inst = make_instance(sink_port=port, **NO_RETRY).start()
    server = slow_server(port, stall="data")
    qid = send_ids(inst, 1)[0]
    assert server.stalled.wait(15), "the delivery never reached DATA: " + inst.describe()
    assert inst.queue()["active"] == [qid]
    c = clients(inst)
    reply = c.request("withdraw", queue_id=qid, action=action)
    assert reply == {"status": "ok", "state": "done"}
    where = files_by_id(inst).get(qid)
    expect = {"hold": "hold", "delete": None, "requeue": None}[action]
    if action != "requeue":
        assert where == expect, inst.describe()
    server.release()                    # the next hop recovers
    if action == "requeue":
        postern.wait_until(lambda: server.delivered, 15, inst.describe)
        postern.wait_until(lambda: inst.queue_count() == 0, 10, inst.describe)
        return
    time.sleep(2)
    assert server.delivered == [], "a withdrawn message was delivered"
    assert files_by_id(inst).get(qid) == expect
    # not active any more: the caller (postsuper) acts itself
    assert c.request("withdraw", queue_id=qid, action=action) == \
        {"status": "ok", "state": "not_active"}


def test_withdraw_after_the_final_dot_stands(make_instance, clients, slow_server):
    port = postern.free_port()
    inst = make_instance(sink_port=port, **NO_RETRY).start()
    server = slow_server(port, stall="dot")
    qid = send_ids(inst, 1)[0]
    assert server.stalled.wait(15), inst.describe()
    c = clients(inst)
    c.send("withdraw", queue_id=qid, action="hold")
    time.sleep(0.5)
    server.release()                    # the server says 250 after all
    reply = dict(c.read())
    assert reply == {"status": "error", "reason": "delivery already completed"}
    assert len(server.delivered) == 1
    assert qid not in files_by_id(inst)


def test_bad_control_requests(make_instance, sink, clients):
    inst = make_instance(sink=sink).start()
    c = clients(inst)
    assert c.request("withdraw", queue_id="0123456789ABCDEF0123FF", action="hold") == \
        {"status": "ok", "state": "not_active"}
    reply = c.request("withdraw", queue_id="0123456789ABCDEF0123FF", action="burn")
    assert reply["status"] == "error" and "burn" in reply["reason"]
    assert c.read() is None             # closed after a protocol error
    c2 = clients(inst)
    reply = c2.request("flush", extra="1")
    assert reply["status"] == "error" and "extra" in reply["reason"]


# --------------------------------------------------------------------------
# the index

def test_index_matches_the_queue_after_a_burst(make_instance, make_sink):
    sink = make_sink(fail_rcpt=["defer@=450"])
    inst = make_instance(sink=sink, **NO_RETRY).start()
    sink.start()
    conn = inst.smtp()
    ids = []
    for i in range(60):
        rcpt = "defer@example.net" if i % 3 == 0 else "ok%d@example.net" % i
        _, reply = inst.send(postern.make_message(subject="b%d" % i), rcpts=(rcpt,),
                             conn=conn)
        ids.append(postern.queue_id_from_reply(reply))
    conn.quit()
    sink.wait_count(40, timeout=30, extra=inst.describe)
    postern.wait_until(lambda: len(inst.queue()["deferred"]) == 20
                       and inst.queue_count() == 20, 20, inst.describe)
    postern.wait_until(lambda: read_index(inst.queue_dir) == files_by_id(inst), 5,
                       lambda: "index %r vs files %r" % (read_index(inst.queue_dir),
                                                         files_by_id(inst)))
    # the index survives a restart (reconciled) and stays right
    inst.restart()
    postern.wait_until(lambda: read_index(inst.queue_dir) == files_by_id(inst), 10,
                       "index after restart")
    assert not inst.log_lines(r"queue index.*(failed|error|rebuild)")


def test_delivery_does_not_depend_on_the_index(make_instance, sink, clients):
    inst = make_instance(sink=sink)
    # A directory where the index's data file should be: it cannot be
    # opened, nor removed to be rebuilt.
    os.makedirs(os.path.join(inst.queue_dir, "index", "data.mdb", "x"))
    inst.start()
    send_ids(inst, 3)
    sink.wait_count(3, timeout=15, extra=inst.describe)
    assert inst.log_lines(r"qmgr.*error: .*running without a queue index")
    c = clients(inst)
    reply = c.request("flush_site", site="example.net")
    assert reply["status"] == "error" and "index" in reply["reason"]
    assert c.request("flush") == {"status": "ok", "count": "0"}


def test_damaged_index_is_rebuilt(make_instance, make_sink):
    inst, sink, ids = make_deferred(make_instance, make_sink, 3)
    inst.stop()
    with open(os.path.join(inst.queue_dir, "index", "data.mdb"), "r+b") as f:
        f.write(b"\xff" * 8192)
    inst.start()
    postern.wait_until(lambda: read_index(inst.queue_dir) == files_by_id(inst), 10,
                       lambda: "index %r vs files %r" % (read_index(inst.queue_dir),
                                                         files_by_id(inst)))
    assert sorted(read_index(inst.queue_dir)) == sorted(ids)


def test_unknown_request_gets_an_error(make_instance, sink, clients):
    inst = make_instance(sink=sink).start()
    c = clients(inst)
    reply = c.request("bogus")
    assert reply == {"status": "error", "reason": 'unknown request "bogus"'}
    assert c.read() is None
