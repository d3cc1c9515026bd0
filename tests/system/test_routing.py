"""Next-hop routing with DNS (qmgr + smtp) and the route tracer (postroute).

One instance, one dnsmasq on 127.0.0.1:<port> (dns_servers in main.cf) and
SMTP sinks on 127.0.0.2 ... 127.0.0.7, all on one port P, are shared by the
tests of this module (they run in file order). getifaddrs() lists 127.0.0.1
only, so mail to the sinks is not a loop, while a name that resolves to
127.0.0.1 is.

transport_maps = inline:{ example.org=smtp:[127.0.0.3]:P, error/discard/hold
entries }, pcre:transport.pcre, where the pcre table sends every domain
under example.test to its MX hosts on port P (smtp:DOMAIN:P): the sinks
cannot listen on port 25 without root. postroute is also run against a
second configuration without transport_maps, to show the default route
(MX of the recipient domain, port 25).

DNS (TTL 2 s everywhere):
    pref.example.test    MX 10 mx1 (127.0.0.2, sink s2), MX 20 mx2 (127.0.0.3, s3)
    loop2.example.test   MX 5 mx1, MX 10 self, MX 20 mx2
    plain.example.test   no MX, A 127.0.0.4 (s4)
    nullmx.example.test  MX 0 "." (null MX)
    loop.example.test    MX 10 self.example.test = 127.0.0.1
    ttl.example.test     A 127.0.0.6 (s6), then, after a restart, 127.0.0.7 (s7)
    anything else under example.test: NXDOMAIN
"""

import json
import os
import re
import subprocess
import time

import pytest

import postern
from test_dns import Dnsmasq

TTL = 2
SENDER = "sender@example.com"


class HostSink(postern.Sink):
    """tests/sink/sink.py listening on a chosen loopback address."""

    def __init__(self, base_dir, host, port):
        super().__init__(base_dir, name="sink-" + host, port=port)
        self.host = host

    def start(self, timeout=10.0):
        cmd = [postern.PYTHON, postern.SINK_SCRIPT, "--host", self.host, "--port",
               str(self.port), "--dir", self.dir]
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        postern.wait_until(lambda: self._ready(), timeout,
                           "sink on %s:%d" % (self.host, self.port))
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise postern.HarnessError("sink exited: %s" % self.output())
        return postern.port_open(self.port, self.host)

    def rcpts(self):
        return [r for m in self.messages() for r in m["rcpt_tos"]]


def records(ttl_addr):
    return ["--local-ttl=%d" % TTL,
            "--mx-host=pref.example.test,mx1.example.test,10",
            "--mx-host=pref.example.test,mx2.example.test,20",
            "--mx-host=loop2.example.test,mx1.example.test,5",
            "--mx-host=loop2.example.test,self.example.test,10",
            "--mx-host=loop2.example.test,mx2.example.test,20",
            "--host-record=mx1.example.test,127.0.0.2",
            "--host-record=mx2.example.test,127.0.0.3",
            "--host-record=plain.example.test,127.0.0.4",
            "--mx-host=nullmx.example.test,.,0",
            "--mx-host=loop.example.test,self.example.test,10",
            "--host-record=self.example.test,127.0.0.1",
            "--host-record=ttl.example.test,%s" % ttl_addr]


class Env:
    pass


@pytest.fixture(scope="module")
def env(base_dir):
    e = Env()
    e.dir = os.path.join(base_dir, "routing")
    os.makedirs(e.dir, exist_ok=True)
    os.chmod(e.dir, 0o755)
    e.port = postern.free_port()
    e.dns = Dnsmasq(e.dir, *records("127.0.0.6")).start()
    e.sinks = {}
    try:
        for n in (2, 3, 4, 5, 6, 7):
            e.sinks[n] = HostSink(e.dir, "127.0.0.%d" % n, e.port).start()
        pcre = os.path.join(e.dir, "transport.pcre")
        with open(pcre, "w") as f:
            f.write("# every domain under example.test: its MX hosts, port P\n"
                    "/^([a-z0-9.-]+\\.example\\.test)$/ smtp:$1:%d\n" % e.port)
        os.chmod(pcre, 0o644)
        e.transport = ("inline:{ example.org=smtp:[127.0.0.3]:%d, "
                       "{ rejected.example.test=error:5.7.1 no mail here }, "
                       "{ soft.example.test=error:4.7.1 try later }, "
                       "discarded.example.test=discard:gone, "
                       "{ held.example.test=hold:frozen by test } }, pcre:%s" % (e.port, pcre))
        e.inst = postern.Instance(
            e.dir, name="routing", relayhost=None, dns_servers=e.dns.addr,
            transport_maps=e.transport,
            sender_dependent_relayhost_maps="inline:{ relay-me@sender.test=[127.0.0.5]:%d }"
                                            % e.port,
            virtual_alias_maps="inline:{ { team@alias.example.test=a@pref.example.test, "
                               "b@plain.example.test } }",
            smtp_connection_cache_time_limit="1s")
        # A second configuration for postroute only: no tables, default routes.
        e.conf2 = os.path.join(e.dir, "conf2")
        os.makedirs(e.conf2, exist_ok=True)
        os.chmod(e.conf2, 0o755)
        with open(os.path.join(e.conf2, "main.cf"), "w") as f:
            f.write("queue_directory = %s\ndns_servers = %s\nmyhostname = mx.test.example\n"
                    % (e.inst.queue_dir, e.dns.addr))
            if e.inst.ids:
                f.write("mail_owner = %s\n" % e.inst.params["mail_owner"])
        os.chmod(os.path.join(e.conf2, "main.cf"), 0o644)
        e.inst.start()
        yield e
    finally:
        problems = []
        if getattr(e, "inst", None):
            problems = e.inst.cleanup() + e.inst.log_problems()
        for s in e.sinks.values():
            s.stop()
        e.dns.stop()
    assert not problems, problems


def send(e, rcpt, sender=SENDER, subject="routing"):
    code, reply = e.inst.send(postern.make_message(subject=subject, rcpt=rcpt), sender=sender,
                              rcpts=(rcpt,))
    assert code == 250
    return postern.queue_id_from_reply(reply)


def log_line(e, qid, pattern, timeout=15):
    rx = re.compile(re.escape(qid) + ": (.*, )?" + pattern)
    return postern.wait_until(lambda: [l for l in e.inst.log_lines() if rx.search(l)],
                              timeout, lambda: "log line %s for %s\n%s"
                              % (pattern, qid, e.inst.log_tail(20)))[0]


def delivered_to(e, n, rcpt, timeout=15):
    postern.wait_until(lambda: rcpt in e.sinks[n].rcpts(), timeout,
                       lambda: "<%s> at sink 127.0.0.%d; %s" % (rcpt, n, e.inst.describe()))


def postroute(e, *args, conf=None):
    cmd = [postern.binary("postroute"), "-c", conf or e.inst.conf] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def postroute_json(e, *args, conf=None):
    out = postroute(e, "-j", *args, conf=conf)
    objs = [json.loads(line) for line in out.stdout.splitlines()]
    return out, objs


# --------------------------------------------------------------------------
# Delivery


def test_mx_preference_then_fallback_to_the_secondary(env):
    e = env
    qid = send(env, "a@pref.example.test")
    delivered_to(e, 2, "a@pref.example.test")
    log_line(e, qid, r"to=<a@pref\.example\.test>, relay=mx1\.example\.test\[127\.0\.0\.2\]:%d,"
             r" .*status=sent" % e.port)
    e.sinks[2].stop()
    try:
        qid = send(env, "b@pref.example.test")
        delivered_to(e, 3, "b@pref.example.test")
        log_line(e, qid, r"to=<b@pref\.example\.test>, relay=mx2\.example\.test"
                 r"\[127\.0\.0\.3\]:%d, .*status=sent" % e.port)
        assert "b@pref.example.test" not in e.sinks[2].rcpts()
    finally:
        e.sinks[2].start()


def test_domain_without_mx_uses_its_address(env):
    qid = send(env, "c@plain.example.test")
    delivered_to(env, 4, "c@plain.example.test")
    log_line(env, qid, r"relay=plain\.example\.test\[127\.0\.0\.4\]:%d, .*status=sent" % env.port)


def test_null_mx_bounces_and_nothing_is_sent(env):
    before = {n: s.count() for n, s in env.sinks.items()}
    qid = send(env, "d@nullmx.example.test")
    log_line(env, qid, r"to=<d@nullmx\.example\.test>, relay=none, .*dsn=5\.1\.10, "
             r"status=bounced \(Recipient address has null MX\)")
    log_line(env, qid, "removed")
    assert {n: s.count() for n, s in env.sinks.items()} == before


def test_nxdomain_bounces(env):
    qid = send(env, "e@nosuch.example.test")
    log_line(env, qid, r"to=<e@nosuch\.example\.test>, relay=none, .*dsn=5\.1\.2, "
             r"status=bounced \(Host or domain name not found\. Name service error for "
             r"name=nosuch\.example\.test type=MX: Host not found\)")


def test_mail_that_would_loop_back_is_bounced(env):
    before = {n: s.count() for n, s in env.sinks.items()}
    qid = send(env, "f@loop.example.test")
    log_line(env, qid, r"to=<f@loop\.example\.test>, relay=none, .*dsn=5\.4\.6, "
             r"status=bounced \(mail for loop\.example\.test loops back to myself\)")
    assert {n: s.count() for n, s in env.sinks.items()} == before


def test_better_mx_than_ourselves_still_gets_mail(env):
    qid = send(env, "g@loop2.example.test")
    delivered_to(env, 2, "g@loop2.example.test")
    log_line(env, qid, r"relay=mx1\.example\.test\[127\.0\.0\.2\]:%d, .*status=sent" % env.port)


def test_transport_map_sends_to_the_chosen_host(env):
    qid = send(env, "h@example.org")
    delivered_to(env, 3, "h@example.org")
    log_line(env, qid, r"relay=127\.0\.0\.3\[127\.0\.0\.3\]:%d, .*status=sent" % env.port)


def test_sender_dependent_relay(env):
    qid = send(env, "i@other.test", sender="relay-me@sender.test")
    delivered_to(env, 5, "i@other.test")
    log_line(env, qid, r"relay=127\.0\.0\.5\[127\.0\.0\.5\]:%d, .*status=sent" % env.port)


def test_error_transport_bounces_and_4xx_defers(env):
    qid = send(env, "j@rejected.example.test")
    log_line(env, qid, r"to=<j@rejected\.example\.test>, relay=none, delay=[0-9.]+, "
             r"delays=[0-9.]+/0/0/0, size=\d+, message-id=<[^>]*>, dsn=5\.7\.1, "
             r"status=bounced \(no mail here\)$")
    qid = send(env, "k@soft.example.test")
    log_line(env, qid, r"to=<k@soft\.example\.test>, relay=none, .*dsn=4\.7\.1, "
             r"status=deferred \(try later\)")
    postern.wait_until(lambda: qid in env.inst.queue()["deferred"], 10, "deferred message")


def test_discard_transport(env):
    qid = send(env, "l@discarded.example.test")
    log_line(env, qid, r"to=<l@discarded\.example\.test>, relay=none, .*dsn=2\.0\.0, "
             r"status=sent \(discarded: gone\)")
    log_line(env, qid, "removed")


def test_hold_transport_puts_the_message_on_hold(env):
    qid = send(env, "m@held.example.test")
    log_line(env, qid, "hold: frozen by test$")
    postern.wait_until(lambda: qid in env.inst.queue()["hold"], 10,
                       lambda: "message in hold: %s" % env.inst.describe())


def test_dns_change_is_followed_once_the_ttl_has_passed(env):
    e = env
    qid = send(e, "n@ttl.example.test")
    delivered_to(e, 6, "n@ttl.example.test")
    learnt = time.monotonic()
    e.dns.stop()
    e.dns.start(*records("127.0.0.7"))
    # The old answer may be used for TTL seconds (and an idle connection for
    # smtp_connection_cache_time_limit = 1 s), never longer.
    time.sleep(max(0.0, learnt + TTL + 0.5 - time.monotonic()))
    qid = send(e, "o@ttl.example.test")
    delivered_to(e, 7, "o@ttl.example.test")
    log_line(e, qid, r"relay=ttl\.example\.test\[127\.0\.0\.7\]:%d, .*status=sent" % e.port)
    assert "o@ttl.example.test" not in e.sinks[6].rcpts()


# --------------------------------------------------------------------------
# postroute


def test_postroute_mx_text(env):
    out = postroute(env, "a@pref.example.test")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    text = out.stdout
    assert "recipient: a@pref.example.test" in lines
    assert re.search(r"^  route: transport_maps: pcre:\S+/transport\.pcre:2\b.* -> "
                     r"smtp:pref\.example\.test:%d$" % env.port, text, re.M), text
    assert "  nexthop: pref.example.test:%d (MX lookup, port %d)" % (env.port, env.port) in lines
    assert re.search(r"^  mx: pref\.example\.test status=OK server=%s ttl=%d"
                     % (re.escape(env.dns.addr), TTL), text, re.M), text
    mx = [l for l in lines if re.match(r"  mx: \d+ ", l)]
    assert mx == ["  mx: 10 mx1.example.test ttl=%d" % TTL, "  mx: 20 mx2.example.test ttl=%d" % TTL]
    assert "  address: mx1.example.test 127.0.0.2 ttl=%d" % TTL in lines
    assert re.search(r"^  host: mx2\.example\.test status=OK server=%s .*pref=20: used$"
                     % re.escape(env.dns.addr), text, re.M), text
    assert re.search(r"^  loop: none \(own addresses: .*127\.0\.0\.1", text, re.M)
    tries = [l for l in lines if l.startswith("  try: ")]
    assert tries == ["  try: 1 mx1.example.test[127.0.0.2]:%d pref=10" % env.port,
                     "  try: 2 mx2.example.test[127.0.0.3]:%d pref=20" % env.port]
    assert "  result: deliver (2 addresses to try)" in lines


def test_postroute_mx_json(env):
    out, (obj,) = postroute_json(env, "a@pref.example.test")
    assert out.returncode == 0, out.stderr
    (r,) = obj["recipients"]
    assert r["route"][0]["source"] == "transport_maps" and r["route"][0]["found"]
    assert r["route"][0]["where"].endswith("transport.pcre:2")
    assert r["transport"] == "smtp" and r["nexthop"] == "pref.example.test:%d" % env.port
    dns = r["dns"]
    assert dns["mx"]["status"] == "OK" and dns["mx"]["server"] == env.dns.addr
    assert [(m["pref"], m["host"], m["ttl"]) for m in dns["mx"]["mx"]] == \
        [(10, "mx1.example.test", TTL), (20, "mx2.example.test", TTL)]
    assert [(h["host"], h["state"], h["lookup"]["addrs"][0]["address"],
             h["lookup"]["addrs"][0]["ttl"], h["lookup"]["server"]) for h in dns["hosts"]] == \
        [("mx1.example.test", "used", "127.0.0.2", TTL, env.dns.addr),
         ("mx2.example.test", "used", "127.0.0.3", TTL, env.dns.addr)]
    assert [(t["host"], t["address"], t["port"], t["pref"]) for t in dns["targets"]] == \
        [("mx1.example.test", "127.0.0.2", env.port, 10),
         ("mx2.example.test", "127.0.0.3", env.port, 20)]
    assert dns["loop"] is False and r["result"] == "deliver" and obj["result"] == "ok"


def test_postroute_default_route_and_implicit_mx(env):
    out = postroute(env, "x@pref.example.test", "y@plain.example.test", conf=env.conf2)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "  route: default: MX of the recipient domain key=pref.example.test -> " \
           "pref.example.test" in text, text
    assert "  nexthop: pref.example.test (MX lookup, port 25)" in text
    assert "  try: 1 mx1.example.test[127.0.0.2]:25 pref=10" in text
    assert "  mx: none: the domain's own addresses are used (implicit MX)" in text
    assert re.search(r"^  host: plain\.example\.test status=OK .*pref=0 implicit-mx: used$",
                     text, re.M), text
    assert "  try: 1 plain.example.test[127.0.0.4]:25 pref=0" in text
    out, objs = postroute_json(env, "y@plain.example.test", conf=env.conf2)
    dns = objs[0]["recipients"][0]["dns"]
    assert dns["mx"]["status"] == "NODATA" and dns["hosts"][0]["implicit"] is True


def test_postroute_null_mx_nxdomain_and_loop(env):
    out = postroute(env, "d@nullmx.example.test")
    assert out.returncode == 1
    assert "  mx: nullmx.example.test status=NULL_MX" in out.stdout
    assert "  result: bounce 5.1.10 Recipient address has null MX" in out.stdout
    out = postroute(env, "e@nosuch.example.test")
    assert out.returncode == 1
    assert "status=NXDOMAIN" in out.stdout and "result: bounce 5.1.2 " in out.stdout
    out = postroute(env, "f@loop.example.test")
    assert out.returncode == 1, out.stdout
    assert re.search(r"^  host: self\.example\.test .*pref=10: self \(our address 127\.0\.0\.1\)$",
                     out.stdout, re.M), out.stdout
    assert "  loop: MX hosts with preference >= 10 dropped" in out.stdout
    assert "  result: bounce 5.4.6 mail for loop.example.test loops back to myself" in out.stdout
    out, (obj,) = postroute_json(env, "g@loop2.example.test")
    assert out.returncode == 0
    dns = obj["recipients"][0]["dns"]
    assert dns["loop"] is True and dns["loop_pref"] == 10
    assert [(h["host"], h["pref"], h["state"]) for h in dns["hosts"]] == \
        [("mx1.example.test", 5, "used"), ("self.example.test", 10, "self"),
         ("mx2.example.test", 20, "cut")]
    assert [t["address"] for t in dns["targets"]] == ["127.0.0.2"]
    assert dns["hosts"][1]["self_address"] == "127.0.0.1"


def test_postroute_tables(env):
    out = postroute(env, "h@example.org")
    assert out.returncode == 0
    assert re.search(r"^  route: transport_maps: inline:\{.*\} key=example\.org -> "
                     r"smtp:\[127\.0\.0\.3\]:%d$" % env.port, out.stdout, re.M), out.stdout
    assert "  nexthop: [127.0.0.3]:%d (address literal, port %d)" % (env.port, env.port) \
        in out.stdout
    assert "  try: 1 127.0.0.3[127.0.0.3]:%d pref=0" % env.port in out.stdout
    out, (obj,) = postroute_json(env, "-s", "relay-me@sender.test", "i@other.test")
    assert out.returncode == 0
    route = obj["recipients"][0]["route"]
    assert [(s["source"], s["found"]) for s in route] == \
        [("transport_maps", False), ("sender_dependent_relayhost_maps", True)]
    assert route[1]["key"] == "relay-me@sender.test"
    assert route[1]["value"] == "[127.0.0.5]:%d" % env.port
    assert obj["recipients"][0]["dns"]["targets"][0]["address"] == "127.0.0.5"
    out = postroute(env, "j@rejected.example.test", "l@discarded.example.test")
    assert out.returncode == 1
    assert "  transport: error" in out.stdout
    assert "  result: bounce 5.7.1 no mail here" in out.stdout
    assert "  result: discard 2.0.0 gone" in out.stdout
    out = postroute(env, "m@held.example.test", "l@discarded.example.test")
    assert out.returncode == 0 and "  result: hold frozen by test" in out.stdout
    out = postroute(env, "k@soft.example.test")
    assert out.returncode == 75 and "  result: defer 4.7.1 try later" in out.stdout


def test_postroute_rewriting(env):
    out = postroute(env, "team@alias.example.test")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^rewrite: virtual_alias_maps: <team@alias\.example\.test> -> "
                     r"a@pref\.example\.test, b@plain\.example\.test \(inline:.* "
                     r"key=team@alias\.example\.test\)$", out.stdout, re.M), out.stdout
    assert "recipients: a@pref.example.test, b@plain.example.test" in out.stdout
    assert "recipient: a@pref.example.test" in out.stdout
    assert "recipient: b@plain.example.test" in out.stdout
    out, (obj,) = postroute_json(env, "team@alias.example.test")
    (step,) = obj["rewrite"]
    assert (step["kind"], step["map"], step["depth"], step["key"]) == \
        ("match", "virtual_alias_maps", 0, "team@alias.example.test")
    assert [r["recipient"] for r in obj["recipients"]] == \
        ["a@pref.example.test", "b@plain.example.test"]


def test_postroute_temporary_failure_and_usage(env):
    # other.test is not served by dnsmasq (--local=/example.test/ only): REFUSED.
    out = postroute(env, "z@other.test", conf=env.conf2)
    assert out.returncode == 75, out.stdout + out.stderr
    assert "  result: defer 4.4.3 Host or domain name not found" in out.stdout
    out = postroute(env)
    assert out.returncode == 2 and "usage:" in out.stderr
    out = postroute(env, "-Z", "a@b.example")
    assert out.returncode == 2 and "usage:" in out.stderr
    out = postroute(env, "bad address@x")
    assert out.returncode == 2
    out = subprocess.run([postern.binary("postroute"), "--help"], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT"):
        assert section in out.stdout
