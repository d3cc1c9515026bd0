"""End-to-end relay: client -> Postern (master, smtpd, cleanup, qmgr, smtp) -> sink."""

import collections
import re
import socket
import threading
import time

from postern import make_message, message_ids, queue_id_from_reply, read_smtp_replies, wait_until

SENDER = "sender@example.com"
RCPT = "rcpt@example.net"


def header_names(content):
    block = content.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].lower() for line in block.split(b"\r\n")
            if line and line[:1] not in (b" ", b"\t")]


# --------------------------------------------------------------------------
# (a) content arrives byte for byte

TRICKY_BODY = (
    b".leading dot\r\n"
    b"..two leading dots\r\n"
    b".\r\n"                                   # a line with only a dot
    b". \r\n"
    b"8-bit: caf\xc3\xa9 \xff\xfe\x80 \x00-free\r\n"
    + b"L" * 990 + b"\r\n"                   # a 990-byte line
    + b"trailing white space   \r\n"
    b"\tleading tab\r\n"
    b"last line\r\n"
)


def tricky_message(mid):
    return (
        b"From: Sender <sender@example.com>\r\n"
        b"To: rcpt@example.net\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"Message-ID: " + mid.encode() + b"\r\n"
        b"Subject: byte test caf\xc3\xa9\r\n"
        b"Content-Disposition: attachment; filename=\"tower status.htm\r\n"
        b"X-Folded: first\r\n"
        b"  second\r\n"
        b"\r\n" + TRICKY_BODY
    )


def test_content_intact_byte_for_byte(make_instance, sink):
    inst = make_instance("relay", sink=sink).start()
    original = tricky_message("<bytes-1@test.example>")
    code, resp = inst.send(original)
    assert code == 250
    sink.wait_count(1, 30, inst.describe)
    (got,) = sink.messages()
    content = got["content"]
    assert content.endswith(original), (
        "sink content does not end with the original bytes;\nreceived:\n%r" % content[:3000])
    added = content[:-len(original)]
    assert added.startswith(b"Received:"), "Postern must prepend Received:, got %r" % added[:200]
    # Headers already present are not added again.
    names = header_names(content)
    for h in (b"message-id", b"date", b"from"):
        assert names.count(h) == 1, "%s appears %d times" % (h, names.count(h))
    assert got["mail_from"] == SENDER
    assert got["rcpt_tos"] == [RCPT]


def test_missing_headers_are_prepended(make_instance, sink):
    inst = make_instance("relay", sink=sink).start()
    original = b"Subject: bare\r\nX-Test: 1\r\n\r\nno From, Date or Message-ID here\r\n"
    code, _ = inst.send(original)
    assert code == 250
    sink.wait_count(1, 30, inst.describe)
    content = sink.messages()[0]["content"]
    assert content.endswith(original)
    added = content[:-len(original)]
    names = header_names(added)
    assert names[0] == b"received"
    for h in (b"message-id", b"date", b"from"):
        assert names.count(h) == 1, "%s not added exactly once: %r" % (h, added)


# --------------------------------------------------------------------------
# (b) 2,000 messages over 20 concurrent connections, each delivered once

def send_batch(inst, prefix, start, count, results, errors):
    try:
        s = inst.smtp()
        for i in range(start, start + count):
            mid = "<%s-%d@test.example>" % (prefix, i)
            msg = make_message(subject="load %d" % i, message_id=mid, size=1500)
            code, _ = inst.send(msg, conn=s)
            results.append((mid, code))
        s.quit()
    except Exception as exc:  # reported by the test
        errors.append(repr(exc))


def test_2000_messages_20_connections_exactly_once(make_instance, sink):
    inst = make_instance("load", sink=sink).start()
    total, conns = 2000, 20
    per = total // conns
    results, errors = [], []
    threads = [threading.Thread(target=send_batch,
                                args=(inst, "load", k * per, per, results, errors))
               for k in range(conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accept_s = time.monotonic() - t0
    assert not errors, "sender errors: %s" % errors[:5]
    assert len(results) == total and all(code == 250 for _, code in results)

    sink.wait_count(total, 180, inst.describe)
    elapsed = time.monotonic() - t0
    # Anything still in flight would show up as a duplicate.
    wait_until(lambda: inst.queue_count() == 0, 30, inst.describe)
    time.sleep(1.0)
    seen = collections.Counter()
    for m in sink.messages():
        ids = message_ids(m["content"])
        assert len(ids) == 1, "message %d has Message-IDs %r" % (m["n"], ids)
        seen[ids[0]] += 1
    expected = {mid for mid, _ in results}
    missing = expected - set(seen)
    dups = {k: v for k, v in seen.items() if v > 1}
    extra = set(seen) - expected
    assert not missing, "%d never delivered, e.g. %s" % (len(missing), sorted(missing)[:5])
    assert not dups, "%d delivered more than once, e.g. %s" % (len(dups), list(dups.items())[:5])
    assert not extra, "unexpected messages: %s" % sorted(extra)[:5]
    print("2000 messages: accepted in %.1fs, delivered in %.1fs" % (accept_s, elapsed))


# --------------------------------------------------------------------------
# (c) policy: relay denied, oversize

def test_relay_denied_for_foreign_domain(make_instance, sink):
    inst = make_instance("norelay", sink=sink, mynetworks="192.0.2.0/24",
                         relay_domains="relay.example").start()
    s = inst.smtp()
    code, _ = s.mail(SENDER)
    assert code == 250
    code, resp = s.rcpt("victim@foreign.example")
    assert code == 554, (code, resp)
    assert resp.startswith(b"5.7.1"), resp
    # A DATA without any accepted recipient must not queue anything.
    code, _ = s.docmd("DATA")
    if code == 354:  # a server that accepts DATA here is wrong, but finish cleanly
        s.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        s.getreply()
    assert code >= 500, "DATA without recipients answered %d" % code
    # The listed domain is still accepted from the same client.
    s.rset()
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt("user@relay.example")[0] == 250
    s.rset()
    s.quit()
    time.sleep(1.0)
    assert inst.queue_count() == 0, inst.queue_summary()
    assert sink.count() == 0


def test_oversize_message_rejected(make_instance, sink):
    inst = make_instance("oversize", sink=sink, message_size_limit=2048).start()
    big = make_message(subject="big", size=5000)
    # 1. Declared with SIZE=: refused at MAIL FROM.
    s = inst.smtp()
    assert s.has_extn("size")
    code, resp = s.mail(SENDER, ["SIZE=%d" % len(big)])
    assert code == 552, (code, resp)
    assert resp.startswith(b"5.3.4"), resp
    s.rset()
    # 2. Not declared: refused after the final dot, nothing queued.
    assert s.mail(SENDER)[0] == 250
    assert s.rcpt(RCPT)[0] == 250
    code, resp = s.data(big)
    assert code == 552, (code, resp)
    assert resp.startswith(b"5.3.4"), resp
    # The session goes on.
    assert s.noop()[0] == 250
    s.quit()
    time.sleep(1.0)
    assert inst.queue_count() == 0, inst.queue_summary()
    wait_until(lambda: not inst.tmp_files(), 5, lambda: "tmp/ to be empty: %s" % inst.tmp_files())
    assert sink.count() == 0
    # A message under the limit still goes through.
    inst.send(make_message(subject="small", size=1000))
    sink.wait_count(1, 30, inst.describe)


# --------------------------------------------------------------------------
# (d) SMTP smuggling through the whole system

SMUGGLE_SEPARATORS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\r.\n"]


def smuggle_session(port, tag, sep):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            line = f.readline()
            if not line:
                raise AssertionError("connection closed, got %r" % lines)
            lines.append(line)
            if line[3:4] != b"-":
                return lines

    assert reply()[0].startswith(b"220")
    for cmd in (b"EHLO client.test.example", b"MAIL FROM:<sender@example.com>",
                b"RCPT TO:<rcpt@example.net>", b"DATA"):
        s.sendall(cmd + b"\r\n")
        r = reply()
        expect = b"354" if cmd == b"DATA" else b"250"
        assert r[-1].startswith(expect), (cmd, r)
    payload = (b"Subject: smuggle " + tag.encode() + b"\r\n\r\nbody" + sep +
               b"MAIL FROM:<evil@attacker.example>\r\n"
               b"RCPT TO:<victim@example.org>\r\n"
               b"DATA\r\n"
               b"Subject: smuggled " + tag.encode() + b"\r\n\r\nsmuggled\r\n"
               b".\r\n"
               b"QUIT\r\n")
    s.sendall(payload)
    _, finals = read_smtp_replies(s, timeout=10)
    f.close()
    s.close()
    return finals


def test_smuggling_through_full_system(make_instance, sink):
    inst = make_instance("smuggle", sink=sink).start()
    accepted = 0
    for k, sep in enumerate(SMUGGLE_SEPARATORS):
        tag = "v%d" % k
        finals = smuggle_session(inst.port, tag, sep)
        # At most: one reply to the end of data, then 221 to QUIT.
        codes = [line[:3] for line in finals]
        assert len(codes) <= 2, "separator %r: replies %r (smuggled commands answered?)" % (sep, finals)
        if len(codes) == 2:
            assert codes[1] == "221", "separator %r: replies %r" % (sep, finals)
        if codes and codes[0] == "250":
            accepted += 1
    wait_until(lambda: sink.count() >= accepted, 30, inst.describe)
    wait_until(lambda: inst.queue_count() == 0, 30, inst.describe)
    time.sleep(1.0)
    msgs = sink.messages()
    assert len(msgs) <= len(SMUGGLE_SEPARATORS)
    per_tag = collections.Counter()
    for m in msgs:
        assert m["mail_from"] != "evil@attacker.example", m
        assert "victim@example.org" not in m["rcpt_tos"], m
        match = re.search(rb"(?m)^Subject: smuggle (v[0-9]+)", m["content"])
        assert match, "unexpected message at sink: %r" % m["content"][:300]
        per_tag[match.group(1)] += 1
        assert not re.search(rb"(?m)^Subject: smuggled", m["content"].split(b"\r\n\r\n", 1)[0])
    assert all(v == 1 for v in per_tag.values()), per_tag


# --------------------------------------------------------------------------
# (e) the delivery log line

def test_delivery_log_line(make_instance, sink):
    inst = make_instance("logline", sink=sink).start()
    mid = "<log-line-1@test.example>"
    msg = make_message(subject="log", message_id=mid, size=2000)
    code, resp = inst.send(msg, sender="alice@example.com", rcpts=("bob@example.net",))
    qid = queue_id_from_reply(resp)
    assert qid, "no queue ID in the 250 reply: %r" % resp
    sink.wait_count(1, 30, inst.describe)

    def sent_line():
        lines = inst.log_lines(re.escape(qid) + r".*status=sent")
        return lines[0] if lines else None

    line = wait_until(sent_line, 10, lambda: "a status=sent line for %s in:\n%s"
                      % (qid, inst.log_tail(20)))
    relay = "relay=127.0.0.1[127.0.0.1]:%d" % sink.port
    for part in (qid, "from=<alice@example.com>", "to=<bob@example.net>", relay,
                 "message-id=" + mid, "dsn=2.0.0", "status=sent", "250 2.0.0 Ok: sink stored 1",
                 inst.params["syslog_name"]):
        assert part in line, "%r missing from delivery line:\n%s" % (part, line)
    assert re.search(r"\bdelay=[0-9]", line), line
    size = re.search(r"\bsize=([0-9]+)", line)
    assert size, line
    assert int(size.group(1)) >= len(msg), line
