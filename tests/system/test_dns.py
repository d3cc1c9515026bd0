"""lib/dns (the asynchronous resolver for MX routing) through tests/dns/dnsquery.

Two kinds of DNS server, both on 127.0.0.1 only, and every dnsquery run is
given -s so that no query can ever reach the system's resolvers:

  dnsmasq    real answers: MX order, equal preferences, NODATA, null MX,
             CNAME, NXDOMAIN, and a record changed by restarting it.
  FakeDNS    a small UDP server in this process that serves crafted
             answers (and counts the questions): TTL expiry of positive
             and negative (SOA) answers, CNAMEs a server did not follow,
             loops, failover after SERVFAIL / timeouts / malformed answers.

Timing checks compare each query's own start time ("t", printed by
dnsquery) with the moment the answer expires, so a slow machine shifts the
expectations instead of breaking them.
"""

import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import postern

SLACK = 0.15        # seconds of scheduling noise tolerated around an expiry

T_A, T_CNAME, T_SOA, T_MX, T_AAAA = 1, 5, 6, 15, 28
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5


def dnsquery_path():
    path = os.path.join(postern.build_dir(), "tests", "dns", "dnsquery")
    if not os.access(path, os.X_OK):
        raise postern.HarnessError("dnsquery is not built: %s" % path)
    return path


def dnsquery(servers, name, *opts, timeout=60):
    """Run dnsquery -j; return (list of result dicts, CompletedProcess)."""
    cmd = [dnsquery_path(), "-j", "-s", servers] + [str(o) for o in opts] + ["--", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert "ERROR" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stderr
    # Under -Db_sanitize=address,undefined, reports go to stderr.
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    return results, proc


def free_udp_tcp_port():
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise postern.HarnessError("no free port")


def dead_port():
    """A UDP port on 127.0.0.1 where nothing listens (ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        return u.getsockname()[1]


# --------------------------------------------------------------------------
# Building DNS messages

def wire_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, ttl, rdata):
    return wire_name(owner) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def A(owner, ttl, addr):
    return rr(owner, T_A, ttl, socket.inet_pton(socket.AF_INET, addr))


def AAAA(owner, ttl, addr):
    return rr(owner, T_AAAA, ttl, socket.inet_pton(socket.AF_INET6, addr))


def MX(owner, ttl, pref, host):
    return rr(owner, T_MX, ttl, struct.pack(">H", pref) + wire_name(host))


def CNAME(owner, ttl, target):
    return rr(owner, T_CNAME, ttl, wire_name(target))


def SOA(owner, ttl, minimum):
    rdata = wire_name("ns." + owner) + wire_name("hostmaster." + owner)
    return rr(owner, T_SOA, ttl, rdata + struct.pack(">IIIII", 1, 7200, 900, 1209600, minimum))


class Reply:
    """What FakeDNS sends for one question.
    rcode, answer/authority (lists of rr bytes); drop: send nothing;
    raw(query_id, question_bytes) -> bytes: send that instead;
    question: answer for this (name, type) instead of the one asked."""

    def __init__(self, rcode=NOERROR, answer=(), authority=(), drop=False, raw=None,
                 question=None, delay=0.0):
        self.rcode = rcode
        self.answer = list(answer)
        self.authority = list(authority)
        self.drop = drop
        self.raw = raw
        self.question = question
        self.delay = delay

    def encode(self, qid, question):
        if self.raw is not None:
            return self.raw(qid, question)
        if self.question is not None:
            question = wire_name(self.question[0]) + struct.pack(">HH", self.question[1], 1)
        header = struct.pack(">HHHHHH", qid, 0x8180 | self.rcode, 1, len(self.answer),
                             len(self.authority), 0)
        return header + question + b"".join(self.answer) + b"".join(self.authority)


class FakeDNS:
    """A UDP DNS server on 127.0.0.1:<port> answering from a table:
    set(name, qtype, reply_or_list). With a list, the n-th question gets
    the n-th reply (the last one repeats). Unknown names: REFUSED."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.table = {}
        self.asked = []             # (monotonic time, name, qtype)
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def set(self, name, qtype, replies):
        if isinstance(replies, Reply):
            replies = [replies]
        with self.lock:
            self.table[(name.lower(), qtype)] = list(replies)

    def count(self, name, qtype):
        with self.lock:
            return sum(1 for _, n, t in self.asked if n == name and t == qtype)

    def _reply_for(self, name, qtype):
        with self.lock:
            self.asked.append((time.monotonic(), name, qtype))
            replies = self.table.get((name, qtype))
            if not replies:
                return Reply(rcode=REFUSED)
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            parsed = parse_query(data)
            if parsed is None:
                continue
            qid, name, qtype, question = parsed
            reply = self._reply_for(name, qtype)
            if reply.drop:
                continue
            packet = reply.encode(qid, question)
            if reply.delay:
                threading.Timer(reply.delay, self._send, (packet, peer)).start()
            else:
                self._send(packet, peer)

    def _send(self, packet, peer):
        try:
            self.sock.sendto(packet, peer)
        except OSError:
            pass

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def parse_query(data):
    """(id, lower-case name, qtype, question bytes) of a query, or None."""
    if len(data) < 12 or struct.unpack(">H", data[4:6])[0] != 1:
        return None
    pos, labels = 12, []
    while pos < len(data) and data[pos] != 0:
        n = data[pos]
        if n & 0xC0 or pos + 1 + n > len(data):
            return None
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
        pos += 1 + n
    if pos + 5 > len(data):
        return None
    qtype = struct.unpack(">H", data[pos + 1:pos + 3])[0]
    return (struct.unpack(">H", data[:2])[0], ".".join(labels), qtype, data[12:pos + 5])


@pytest.fixture
def fake():
    servers = []

    def factory():
        s = FakeDNS()
        servers.append(s)
        return s

    yield factory
    for s in servers:
        s.stop()


# --------------------------------------------------------------------------
# dnsmasq

class Dnsmasq:
    def __init__(self, workdir, *records):
        self.workdir = workdir
        self.records = list(records)
        self.port = free_udp_tcp_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.proc = None

    def start(self, *records):
        if records:
            self.records = list(records)
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(binary, os.X_OK):
            raise postern.HarnessError("dnsmasq (dnsmasq-base) is not installed")
        user = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        cmd = [binary, "-k", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
               "--port=%d" % self.port, "--listen-address=127.0.0.1", "--bind-interfaces",
               "--user=%s" % user, "--pid-file=%s" % os.path.join(self.workdir, "dnsmasq.pid"),
               "--log-facility=-", "--local=/example.test/"] + self.records
        self.log = open(os.path.join(self.workdir, "dnsmasq.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        postern.wait_until(self._answers, 10, "dnsmasq to answer on %s" % self.addr)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise postern.HarnessError("dnsmasq exited with %s" % self.proc.returncode)
        query = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + wire_name("example.test") \
            + struct.pack(">HH", T_A, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(query, ("127.0.0.1", self.port))
            try:
                return len(s.recv(512)) >= 12
            except socket.timeout:
                return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None


@pytest.fixture
def dnsmasq(workdir):
    started = []

    def factory(*records):
        d = Dnsmasq(workdir, *records).start()
        started.append(d)
        return d

    yield factory
    for d in started:
        d.stop()


def mx_hosts(result):
    return [(m["pref"], m["host"]) for m in result["mx"]]


# --------------------------------------------------------------------------
# Against dnsmasq

def test_mx_sorted_by_preference_with_ttl_and_server(dnsmasq):
    d = dnsmasq("--mx-host=example.test,mx30.example.test,30",
                "--mx-host=example.test,mx10.example.test,10",
                "--mx-host=example.test,mx20.example.test,20", "--local-ttl=120")
    (r,), proc = dnsquery(d.addr, "Example.TEST.")
    assert proc.returncode == 0, proc.stderr
    assert r["status"] == "OK" and r["kind"] == "MX"
    assert r["name"] == "example.test"
    assert mx_hosts(r) == [(10, "mx10.example.test"), (20, "mx20.example.test"),
                           (30, "mx30.example.test")]
    assert [m["ttl"] for m in r["mx"]] == [120, 120, 120]
    assert r["server"] == d.addr and r["cached"] is False and r["ttl"] == 120


def test_text_output_one_line_per_record(dnsmasq):
    d = dnsmasq("--mx-host=example.test,mx1.example.test,10", "--local-ttl=60")
    proc = subprocess.run([dnsquery_path(), "-s", d.addr, "-t", "mx", "example.test"],
                          capture_output=True, text=True, timeout=30)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("query=1 ") and "status=OK" in lines[0], proc.stdout
    assert lines[1] == "mx 10 mx1.example.test ttl=60 server=%s" % d.addr


def test_equal_preferences_both_come_first(dnsmasq):
    d = dnsmasq("--mx-host=example.test,a.example.test,10",
                "--mx-host=example.test,b.example.test,10",
                "--mx-host=example.test,backup.example.test,20", "--local-ttl=0")
    results, proc = dnsquery(d.addr, "example.test", "-C", "-r", 24, "-i", 0)
    assert len(results) == 24, proc.stderr
    firsts = set()
    for r in results:
        hosts = mx_hosts(r)
        assert sorted(hosts[:2]) == [(10, "a.example.test"), (10, "b.example.test")]
        assert hosts[2] == (20, "backup.example.test")
        firsts.add(hosts[0][1])
        assert r["cached"] is False
    assert firsts == {"a.example.test", "b.example.test"}


def test_no_mx_is_nodata_and_addresses_are_the_fallback(dnsmasq):
    d = dnsmasq("--host-record=plain.example.test,192.0.2.9,2001:db8::9", "--local-ttl=30")
    (r,), _ = dnsquery(d.addr, "plain.example.test")
    assert r["status"] == "NODATA" and r["mx"] == [] and r["server"] == d.addr
    (a,), _ = dnsquery(d.addr, "plain.example.test", "-t", "addr")
    assert a["status"] == "OK"
    assert [(x["family"], x["address"], x["ttl"]) for x in a["addrs"]] == \
        [("inet", "192.0.2.9", 30), ("inet6", "2001:db8::9", 30)]
    (v6,), _ = dnsquery(d.addr, "plain.example.test", "-t", "aaaa")
    assert [x["address"] for x in v6["addrs"]] == ["2001:db8::9"]


def test_null_mx(dnsmasq):
    d = dnsmasq("--mx-host=nomail.example.test,.,0", "--local-ttl=30")
    (r,), _ = dnsquery(d.addr, "nomail.example.test")
    assert r["status"] == "NULL_MX" and r["mx"] == []
    assert "accepts no mail" in r["reason"]


def test_cname_followed(dnsmasq):
    d = dnsmasq("--mx-host=example.test,mx1.example.test,10",
                "--host-record=plain.example.test,192.0.2.9",
                "--cname=alias.example.test,example.test",
                "--cname=www.example.test,plain.example.test", "--local-ttl=30")
    (r,), _ = dnsquery(d.addr, "alias.example.test")
    assert r["status"] == "OK" and r["canonical"] == "example.test"
    assert r["cnames"] == [{"owner": "alias.example.test", "target": "example.test", "ttl": 30}]
    assert mx_hosts(r) == [(10, "mx1.example.test")]
    (a,), _ = dnsquery(d.addr, "www.example.test", "-t", "a")
    assert a["canonical"] == "plain.example.test"
    assert [x["address"] for x in a["addrs"]] == ["192.0.2.9"]


def test_nxdomain(dnsmasq):
    d = dnsmasq("--mx-host=example.test,mx1.example.test,10")
    (r,), _ = dnsquery(d.addr, "nosuch.example.test")
    assert r["status"] == "NXDOMAIN" and r["ttl"] == 0, r
    (a,), _ = dnsquery(d.addr, "nosuch.example.test", "-t", "addr")
    assert a["status"] == "NXDOMAIN"


def test_changed_record_used_only_until_its_ttl(dnsmasq):
    """dnsmasq restarted with a new MX: the old answer is served from the
    cache until its 2 s TTL has passed, then the new one is fetched."""
    d = dnsmasq("--mx-host=example.test,old.example.test,10", "--local-ttl=2")
    cmd = [dnsquery_path(), "-j", "-s", d.addr, "-r", "4", "-i", "0.9", "example.test"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        d.stop()
        d.start("--mx-host=example.test,new.example.test,10", "--local-ttl=2")
        rest = [json.loads(proc.stdout.readline()) for _ in range(3)]
    finally:
        proc.wait(30)
    assert mx_hosts(first) == [(10, "old.example.test")] and not first["cached"]
    expiry = first["t"] + 2
    for r in rest:
        if r["t"] < expiry - SLACK:
            assert mx_hosts(r) == [(10, "old.example.test")] and r["cached"], r
            assert r["ttl"] <= 1
        elif r["t"] > expiry + SLACK:
            assert mx_hosts(r) == [(10, "new.example.test")], r
    assert mx_hosts(rest[-1]) == [(10, "new.example.test")]


def test_cancelled_lookups_never_call_back(dnsmasq):
    d = dnsmasq("--mx-host=example.test,mx1.example.test,10", "--local-ttl=1")
    results, proc = dnsquery(d.addr, "example.test", "-x", "-r", 3, "-i", 0.6)
    assert proc.returncode == 0 and len(results) == 3, proc.stdout + proc.stderr


# --------------------------------------------------------------------------
# Against the fake server

def test_ttl_expiry_of_positive_answer(fake):
    """The RRset lives for its smallest TTL; one question per TTL period."""
    f = fake()
    f.set("example.test", T_MX, [
        Reply(answer=[MX("example.test", 30, 10, "old1.example.test"),
                      MX("example.test", 2, 20, "old2.example.test")]),
        Reply(answer=[MX("example.test", 30, 10, "new.example.test")])])
    results, _ = dnsquery(f.addr, "example.test", "-r", 4, "-i", 0.8)
    first = results[0]
    assert mx_hosts(first) == [(10, "old1.example.test"), (20, "old2.example.test")]
    assert first["ttl"] == 2 and [m["ttl"] for m in first["mx"]] == [30, 2]
    expiry = first["t"] + 2
    for r in results[1:]:
        if r["t"] < expiry - SLACK:
            assert r["cached"] and mx_hosts(r)[0][1] == "old1.example.test", r
        elif r["t"] > expiry + SLACK:
            assert not r["cached"] and mx_hosts(r) == [(10, "new.example.test")], r
    assert mx_hosts(results[-1]) == [(10, "new.example.test")]
    assert f.count("example.test", T_MX) == 2


@pytest.mark.parametrize("soa_ttl,minimum", [(60, 1), (1, 300)])
def test_negative_answer_cached_for_soa_minimum(fake, soa_ttl, minimum):
    """NXDOMAIN with an SOA: cached for min(SOA TTL, MINIMUM) = 1 s, no longer."""
    f = fake()
    f.set("late.example.test", T_MX, [
        Reply(rcode=NXDOMAIN, authority=[SOA("example.test", soa_ttl, minimum)]),
        Reply(answer=[MX("late.example.test", 300, 10, "mx.example.test")])])
    results, _ = dnsquery(f.addr, "late.example.test", "-r", 3, "-i", 0.6)
    first = results[0]
    assert first["status"] == "NXDOMAIN" and first["ttl"] == 1 and not first["cached"]
    expiry = first["t"] + 1
    for r in results[1:]:
        if r["t"] < expiry - SLACK:
            assert r["status"] == "NXDOMAIN" and r["cached"], r
        elif r["t"] > expiry + SLACK:
            assert r["status"] == "OK" and not r["cached"], r
    assert results[-1]["status"] == "OK"
    assert f.count("late.example.test", T_MX) == 2


def test_nodata_with_soa_is_cached_and_without_soa_is_not(fake):
    f = fake()
    f.set("soa.example.test", T_MX, [
        Reply(authority=[SOA("example.test", 300, 300)]),
        Reply(answer=[MX("soa.example.test", 300, 10, "mx.example.test")])])
    f.set("nosoa.example.test", T_MX, [
        Reply(),
        Reply(answer=[MX("nosoa.example.test", 300, 10, "mx.example.test")])])
    results, _ = dnsquery(f.addr, "soa.example.test", "-r", 2, "-i", 0.1)
    assert [r["status"] for r in results] == ["NODATA", "NODATA"]
    assert results[0]["ttl"] == 300 and results[1]["cached"]
    results, _ = dnsquery(f.addr, "nosoa.example.test", "-r", 2, "-i", 0.1)
    assert [r["status"] for r in results] == ["NODATA", "OK"]
    assert results[0]["ttl"] == 0
    assert f.count("nosoa.example.test", T_MX) == 2


def test_soa_of_another_zone_does_not_make_a_negative_answer_cacheable(fake):
    f = fake()
    f.set("x.example.test", T_MX, [
        Reply(rcode=NXDOMAIN, authority=[SOA("other.test", 300, 300)]),
        Reply(answer=[MX("x.example.test", 300, 10, "mx.example.test")])])
    results, _ = dnsquery(f.addr, "x.example.test", "-r", 2, "-i", 0.1)
    assert [r["status"] for r in results] == ["NXDOMAIN", "OK"]


def test_null_mx_mixed_with_real_mx_is_ignored(fake):
    f = fake()
    f.set("mixed.example.test", T_MX, Reply(answer=[
        MX("mixed.example.test", 60, 0, "."), MX("mixed.example.test", 60, 10, "mx.example.test")]))
    f.set("null.example.test", T_MX, Reply(answer=[MX("null.example.test", 60, 0, ".")]))
    (r,), _ = dnsquery(f.addr, "mixed.example.test")
    assert r["status"] == "OK" and mx_hosts(r) == [(10, "mx.example.test")]
    (n,), _ = dnsquery(f.addr, "null.example.test")
    assert n["status"] == "NULL_MX" and n["ttl"] == 60


def test_unfollowed_cname_is_asked_again_and_its_ttl_bounds_the_answer(fake):
    f = fake()
    f.set("alias.example.test", T_A, Reply(answer=[CNAME("alias.example.test", 2,
                                                         "target.example.test")]))
    f.set("target.example.test", T_A, Reply(answer=[A("target.example.test", 50, "192.0.2.7")]))
    results, _ = dnsquery(f.addr, "alias.example.test", "-t", "a", "-r", 3, "-i", 1.2)
    first = results[0]
    assert first["status"] == "OK" and first["canonical"] == "target.example.test"
    (link,) = first["cnames"]
    assert (link["owner"], link["target"]) == ("alias.example.test", "target.example.test")
    # The CNAME was learnt a moment before the address: 2 s, or just under.
    assert link["ttl"] in (1, 2) and first["ttl"] == link["ttl"]
    assert first["addrs"][0]["ttl"] == 50
    expiry = first["t"] + 2
    for r in results[1:]:
        assert [x["address"] for x in r["addrs"]] == ["192.0.2.7"]
        if r["t"] < expiry - SLACK:
            assert r["cached"], r
    # After the CNAME's 2 s the alias is asked again; the target comes from the cache.
    assert f.count("alias.example.test", T_A) == 2
    assert f.count("target.example.test", T_A) == 1


def test_cname_loop_and_too_long_chain_are_tempfail(fake):
    f = fake()
    f.set("a.example.test", T_MX, Reply(answer=[CNAME("a.example.test", 60, "b.example.test")]))
    f.set("b.example.test", T_MX, Reply(answer=[CNAME("b.example.test", 60, "a.example.test")]))
    for i in range(10):
        f.set("c%d.example.test" % i, T_MX,
              Reply(answer=[CNAME("c%d.example.test" % i, 60, "c%d.example.test" % (i + 1))]))
    f.set("c8.example.test", T_MX, Reply(answer=[MX("c8.example.test", 60, 10, "mx.example.test")]))
    (loop,), _ = dnsquery(f.addr, "a.example.test")
    assert loop["status"] == "TEMPFAIL" and "CNAME loop" in loop["reason"]
    (ok,), _ = dnsquery(f.addr, "c0.example.test")     # 8 links: allowed
    assert ok["status"] == "OK" and len(ok["cnames"]) == 8
    f.set("c8.example.test", T_MX, Reply(answer=[CNAME("c8.example.test", 60, "c9.example.test")]))
    f.set("c9.example.test", T_MX, Reply(answer=[MX("c9.example.test", 60, 10, "mx.example.test")]))
    (long,), _ = dnsquery(f.addr, "c0.example.test", "-C")
    assert long["status"] == "TEMPFAIL" and "too long" in long["reason"], long


def test_failover_reports_the_server_that_answered(fake):
    bad, good = fake(), fake()
    answer = Reply(answer=[MX("example.test", 60, 10, "mx.example.test")])
    good.set("example.test", T_MX, answer)
    bad.set("example.test", T_MX, Reply(rcode=SERVFAIL))
    (r,), _ = dnsquery("%s,%s" % (bad.addr, good.addr), "example.test")
    assert r["status"] == "OK" and r["server"] == good.addr
    assert bad.count("example.test", T_MX) >= 1
    (only,), _ = dnsquery(bad.addr, "example.test")
    assert only["status"] == "TEMPFAIL" and bad.addr in only["reason"]
    assert "SERVFAIL" in only["reason"]
    # A port where nothing listens, then a good server.
    (r,), _ = dnsquery("127.0.0.1:%d %s" % (dead_port(), good.addr), "example.test")
    assert r["status"] == "OK" and r["server"] == good.addr


def test_timeout_then_next_server(fake):
    slow, good = fake(), fake()
    slow.set("example.test", T_MX, Reply(drop=True))
    good.set("example.test", T_MX, Reply(answer=[MX("example.test", 60, 10, "mx.example.test")]))
    start = time.monotonic()
    (r,), _ = dnsquery("%s,%s" % (slow.addr, good.addr), "example.test", "-T", 300, "-n", 1)
    assert r["status"] == "OK" and r["server"] == good.addr
    assert time.monotonic() - start >= 0.3
    (t,), _ = dnsquery(slow.addr, "example.test", "-T", 200, "-n", 2)
    assert t["status"] == "TEMPFAIL" and t["server"] == "" and "imeout" in t["reason"]
    assert slow.count("example.test", T_MX) == 1 + 2


def loop_pointer(qid, question):
    """A response whose answer owner is a compression pointer to itself."""
    header = struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0)
    here = 12 + len(question)
    return header + question + struct.pack(">H", 0xC000 | here) \
        + struct.pack(">HHIH", T_MX, 1, 60, 0)


def test_malformed_answers_are_rejected_and_the_next_server_asked(fake):
    bad, good = fake(), fake()
    good.set("example.test", T_MX, Reply(answer=[MX("example.test", 60, 10, "mx.example.test")]))
    bad.set("example.test", T_MX, Reply(raw=loop_pointer))
    (only,), _ = dnsquery(bad.addr, "example.test")
    assert only["status"] == "TEMPFAIL" and "compression pointer" in only["reason"], only
    (r,), _ = dnsquery("%s,%s" % (bad.addr, good.addr), "example.test")
    assert r["status"] == "OK" and r["server"] == good.addr
    # Garbage after a valid header, and an answer to another question.
    bad.set("example.test", T_MX, Reply(raw=lambda qid, q: struct.pack(">HHHHHH", qid, 0x8180,
                                                                        1, 1, 0, 0) + q + b"\xff"))
    (g,), _ = dnsquery(bad.addr, "example.test")
    assert g["status"] == "TEMPFAIL", g
    bad.set("example.test", T_MX, Reply(question=("evil.test", T_MX),
                                         answer=[MX("evil.test", 60, 10, "mx.evil.test")]))
    (w,), _ = dnsquery("%s,%s" % (bad.addr, good.addr), "example.test", "-T", 300, "-n", 1)
    assert w["status"] == "OK" and mx_hosts(w) == [(10, "mx.example.test")]


def test_bad_mx_hosts_are_dropped(fake):
    f = fake()
    f.set("example.test", T_MX, Reply(answer=[
        MX("example.test", 60, 5, "192.0.2.1"), MX("example.test", 60, 10, "mx.example.test")]))
    (r,), _ = dnsquery(f.addr, "example.test")
    assert mx_hosts(r) == [(10, "mx.example.test")]


def test_invalid_name_is_permfail_without_a_query(fake):
    f = fake()
    for name in ("bad..name", "-x.example.test", "1.2.3.4", "a b"):
        (r,), _ = dnsquery(f.addr, name)
        assert r["status"] == "PERMFAIL", r
    assert f.asked == []


def test_usage_requires_servers():
    proc = subprocess.run([dnsquery_path(), "example.test"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2 and "usage:" in proc.stderr
    proc = subprocess.run([dnsquery_path(), "-s", "not-an-ip", "example.test"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "bad dns server" in proc.stderr
