"""Address rewriting (cleanup) and relay decisions with tables (smtpd).

    virtual_alias_maps      fan-out to three recipients, duplicates removed,
                            whole-domain aliases, an lmdb table from postmap
    sender_canonical_maps   envelope sender rewritten, header From: unchanged
    mynetworks              a cidr: table (allowed / not matching -> 554 5.7.1)
    relay_domains           lmdb: and inline: tables, subdomains
    temporary failures      a pcre: table that hits its match limit -> 451 4.3.0
"""

import collections
import os
import smtplib
import subprocess

from postern import binary, make_message, wait_until

SENDER = "sender@example.com"
# A local part that makes /^(a|a)*b@/ backtrack past PCRE2's match limit.
SLOW_LOCAL = "a" * 60 + "!"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def postmap(inst, path):
    out = subprocess.run([binary("postmap"), "-c", inst.conf, path], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert os.path.exists(path + ".lmdb")


def delivered(sink):
    """Counter of every recipient address in every message at the sink."""
    return collections.Counter(r for m in sink.messages() for r in m["rcpt_tos"])


def wait_delivered(sink, inst, want):
    """Wait until each address in `want` arrived; return the counter."""
    def done():
        got = delivered(sink)
        return got if all(got[a] >= 1 for a in want) else None
    return wait_until(done, 30, lambda: "recipients %s at the sink (have %s); %s"
                      % (sorted(want), dict(delivered(sink)), inst.describe()))


def rcpt_reply(inst, rcpt, sender=SENDER):
    s = inst.smtp()
    try:
        code, _ = s.mail(sender)
        assert code == 250
        return s.rcpt(rcpt)
    finally:
        s.quit()


def queue_drained(inst):
    wait_until(lambda: inst.queue_count() == 0, 20, inst.describe)


# --------------------------------------------------------------------------
# virtual_alias_maps

def test_virtual_alias_fan_out_three_recipients(make_instance, sink):
    inst = make_instance(
        "va", sink=sink,
        virtual_alias_maps="inline:{ { list@example.net = a@one.example, b@two.example "
                           "c@three.example }, alias@example.net=list@example.net }").start()
    # "alias" expands to "list" (recursion); a@one.example is also given
    # directly: one copy each.
    code, _ = inst.send(make_message(rcpt="list@example.net"),
                        rcpts=("alias@example.net", "a@one.example"))
    assert code == 250
    want = {"a@one.example", "b@two.example", "c@three.example"}
    got = wait_delivered(sink, inst, want)
    queue_drained(inst)
    got = delivered(sink)
    assert dict(got) == {a: 1 for a in want}, got
    # The header is not rewritten.
    for m in sink.messages():
        assert b"To: <list@example.net>" in m["content"]


def test_whole_domain_alias_from_lmdb_table(make_instance, sink, workdir):
    inst = make_instance("vd", sink=sink)
    table = write(os.path.join(workdir, "virtual"),
                  "@old.example      @new.example\n"
                  "boss@old.example  ceo@corp.example\n")
    postmap(inst, table)
    inst.set(virtual_alias_maps="lmdb:" + table)
    inst.start()
    code, _ = inst.send(make_message(), rcpts=("joe@old.example", "Ann@OLD.example",
                                               "boss@old.example", "other@else.example"))
    assert code == 250
    want = {"joe@new.example", "Ann@new.example", "ceo@corp.example", "other@else.example"}
    wait_delivered(sink, inst, want)
    queue_drained(inst)
    assert dict(delivered(sink)) == {a: 1 for a in want}


# --------------------------------------------------------------------------
# sender_canonical_maps

def test_sender_canonical_rewrites_envelope_only(make_instance, sink):
    inst = make_instance(
        "sc", sink=sink,
        sender_canonical_maps="inline:{ @host.internal=@example.com, "
                              "root@host.internal=admin@example.com }").start()
    original = make_message(sender="app@host.internal", subject="canonical")
    code, _ = inst.send(original, sender="app@host.internal")
    assert code == 250
    code, _ = inst.send(make_message(sender="root@host.internal"), sender="root@host.internal")
    assert code == 250
    bare = b"Subject: no From header\r\n\r\nbody\r\n"
    code, _ = inst.send(bare, sender="cron@host.internal")
    assert code == 250
    sink.wait_count(3, 30, inst.describe)
    by_from = sorted(m["mail_from"] for m in sink.messages())
    assert by_from == ["admin@example.com", "app@example.com", "cron@example.com"]
    first = [m for m in sink.messages() if m["mail_from"] == "app@example.com"][0]
    # Content byte for byte, header From: unchanged.
    assert first["content"].endswith(original)
    assert b"From: <app@host.internal>" in first["content"]
    # A From: that cleanup adds shows the rewritten sender.
    third = [m for m in sink.messages() if m["mail_from"] == "cron@example.com"][0]
    assert third["content"].endswith(bare)
    added = third["content"][:-len(bare)]
    assert b"\r\nFrom: <cron@example.com>\r\n" in added, added


def test_null_sender_not_rewritten(make_instance, sink):
    inst = make_instance("sn", sink=sink,
                         sender_canonical_maps="static:someone@example.com").start()
    code, _ = inst.send(make_message(), sender="")
    assert code == 250
    sink.wait_count(1, 30, inst.describe)
    assert sink.messages()[0]["mail_from"] in ("", "<>")  # the sink writes <> for it


# --------------------------------------------------------------------------
# mynetworks and relay_domains with tables

def test_mynetworks_cidr_table_allows_client(make_instance, sink, workdir):
    cidr = write(os.path.join(workdir, "mynetworks.cidr"),
                 "# loopback clients may relay\n127.0.0.0/8 OK\n")
    inst = make_instance("mc", sink=sink, mynetworks="192.0.2.0/24, cidr:" + cidr).start()
    code, _ = rcpt_reply(inst, "anyone@anywhere.example")
    assert code == 250
    code, _ = inst.send(make_message(), rcpts=("anyone@anywhere.example",))
    assert code == 250
    sink.wait_count(1, 30, inst.describe)


def test_mynetworks_cidr_table_not_matching_denies(make_instance, sink, workdir):
    cidr = write(os.path.join(workdir, "mynetworks.cidr"), "192.0.2.0/24 OK\n")
    inst = make_instance("mn", sink=sink, mynetworks="cidr:" + cidr).start()
    code, resp = rcpt_reply(inst, "anyone@anywhere.example")
    assert code == 554, resp
    assert resp.startswith(b"5.7.1"), resp


def test_relay_domains_tables_and_subdomains(make_instance, sink, workdir):
    inst = make_instance("rd", sink=sink, mynetworks="192.0.2.0/24")
    table = write(os.path.join(workdir, "relay_domains"), "example.net OK\n")
    postmap(inst, table)
    inst.set(relay_domains="lmdb:%s, inline:{ inline.example=OK }, listed.example" % table)
    inst.start()
    for rcpt in ("r@example.net", "r@sub.example.net", "r@EXAMPLE.NET", "r@inline.example",
                 "r@deep.inline.example", "r@listed.example", "r@a.listed.example"):
        code, resp = rcpt_reply(inst, rcpt)
        assert code == 250, (rcpt, code, resp)
    for rcpt in ("r@other.example", "r@notexample.net", "r@example.net.evil.example",
                 "postmaster"):
        code, resp = rcpt_reply(inst, rcpt)
        assert (code, resp[:5]) == (554, b"5.7.1"), (rcpt, code, resp)
    code, _ = inst.send(make_message(), rcpts=("r@sub.example.net",))
    assert code == 250
    sink.wait_count(1, 30, inst.describe)


def test_relay_domains_without_parent_matching(make_instance, sink):
    inst = make_instance("rp", sink=sink, mynetworks="192.0.2.0/24",
                         parent_domain_matches_subdomains="transport_maps",
                         relay_domains="example.net, .dot.example").start()
    assert rcpt_reply(inst, "r@example.net")[0] == 250
    assert rcpt_reply(inst, "r@sub.example.net")[0] == 554
    assert rcpt_reply(inst, "r@a.dot.example")[0] == 250
    assert rcpt_reply(inst, "r@dot.example")[0] == 554


# --------------------------------------------------------------------------
# temporary table failures

def test_virtual_table_tempfail_gives_451(make_instance, sink, workdir):
    pcre = write(os.path.join(workdir, "virtual.pcre"),
                 "/^(a|a)*b@/ never@example.com\n"
                 "/^fine@/ ok@example.net\n")
    inst = make_instance("tf", sink=sink, virtual_alias_maps="pcre:" + pcre).start()
    s = inst.smtp()
    try:
        assert s.mail(SENDER)[0] == 250
        assert s.rcpt(SLOW_LOCAL + "@example.net")[0] == 250
        code, resp = s.docmd("DATA")
        assert code == 451, resp
        assert resp.startswith(b"4.3.0"), resp
    finally:
        s.quit()
    wait_until(lambda: inst.log_lines(r"match limit"), 10, inst.describe)
    wait_until(lambda: inst.log_lines(r"cannot start a queue file: address rewriting table "
                                      r"lookup failed"), 10, inst.describe)
    wait_until(lambda: inst.log_lines(r"message not accepted, try again later"), 10,
               inst.describe)
    assert inst.queue_count() == 0
    assert not inst.tmp_files()
    # The same table still works for other addresses.
    code, _ = inst.send(make_message(), rcpts=("fine@example.org",))
    assert code == 250
    wait_delivered(sink, inst, {"ok@example.net"})


def test_relay_domains_table_tempfail_gives_451(make_instance, sink, workdir):
    # The last literal ("x") occurs in the domain, so PCRE2 cannot skip the
    # match early and backtracks until its match limit.
    pcre = write(os.path.join(workdir, "relay.pcre"), "/^(a|a)*\\.x$/ OK\n/^ok\\.example$/ OK\n")
    inst = make_instance("tr", sink=sink, mynetworks="192.0.2.0/24",
                         relay_domains="pcre:" + pcre).start()
    code, resp = rcpt_reply(inst, "r@" + "a" * 40 + ".example")
    assert code == 451, resp
    assert resp.startswith(b"4.3.0"), resp
    assert rcpt_reply(inst, "r@ok.example")[0] == 250
    # A literal match still wins over a table that cannot answer.
    inst2 = make_instance("tr2", sink=sink, mynetworks="127.0.0.0/8",
                          relay_domains="pcre:" + pcre).start()
    assert rcpt_reply(inst2, "r@" + "a" * 40 + ".example")[0] == 250


def test_virtual_alias_loop_is_deferred_not_lost(make_instance, sink):
    inst = make_instance("lp", sink=sink,
                         virtual_alias_maps="inline:{ a@x.example=b@x.example, "
                                            "b@x.example=a@x.example }").start()
    try:
        inst.send(make_message(), rcpts=("a@x.example",))
        raise AssertionError("a virtual alias loop must not be accepted")
    except smtplib.SMTPDataError as exc:
        assert exc.smtp_code == 451 and exc.smtp_error.startswith(b"4.3.0"), exc
    wait_until(lambda: inst.log_lines(r"unreasonable virtual_alias_maps map nesting"), 10,
               inst.describe)
    assert inst.queue_count() == 0


def test_running_smtpd_picks_up_a_rebuilt_table(make_instance, sink, workdir):
    """postmap replaces FILE.lmdb atomically; a running daemon sees the new
    contents without a restart or reload (the table is re-checked at most
    once a second)."""
    inst = make_instance("rebuild", sink=sink, mynetworks="192.0.2.0/24")
    table = write(os.path.join(workdir, "relay_domains_rebuild"), "first.example OK\n")
    postmap(inst, table)
    inst.set(relay_domains="lmdb:" + table)
    inst.start()
    assert rcpt_reply(inst, "r@first.example")[0] == 250
    assert rcpt_reply(inst, "r@second.example")[0] == 554
    before = set(inst.children("smtpd"))
    assert before
    write(table, "first.example OK\nsecond.example OK\n")
    postmap(inst, table)
    wait_until(lambda: rcpt_reply(inst, "r@second.example")[0] == 250, 10,
               "the rebuilt table to be used")
    assert set(inst.children("smtpd")) & before, "smtpd was restarted"
    code, _ = inst.send(make_message(), rcpts=("r@second.example",))
    assert code == 250
    sink.wait_count(1, 30, inst.describe)
