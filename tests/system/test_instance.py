"""Instances: locking, configuration checks, side by side, reload, postcat."""

import re
import subprocess
import threading
import time

from postern import binary, make_message, queue_id_from_reply, wait_until


def test_second_master_on_same_config_refuses(make_instance, sink):
    inst = make_instance("lock", sink=sink, allow_fatal=True).start()
    mark = inst.log_size()
    res = inst.run_master(timeout=20)
    text = res.stdout + res.stderr
    assert res.returncode != 0, "second master exited 0:\n%s" % text
    said = text + inst.log(mark)
    assert re.search(r"already running", said, re.I), (
        "second master did not say 'already running'; stdout+stderr:\n%s\nmaillog:\n%s"
        % (text, inst.log(mark)))
    assert re.search(r"already running", text, re.I), (
        "'already running' only in the maillog, not on the terminal:\n%s" % text)
    # The first one is unharmed.
    assert inst.running()
    code, _ = inst.send(make_message(subject="still here"))
    assert code == 250
    sink.wait_count(1, 30, inst.describe)


def test_master_t_accepts_good_config(make_instance):
    inst = make_instance("check-good")
    res = inst.run_master("-t")
    assert res.returncode == 0, res.stdout + res.stderr


def test_master_t_names_unknown_parameter(make_instance):
    inst = make_instance("check-param", allow_fatal=True, bogus_parameter_xyz="1")
    res = inst.run_master("-t")
    text = res.stdout + res.stderr
    assert res.returncode != 0, "master -t accepted an unknown parameter:\n%s" % text
    assert "bogus_parameter_xyz" in text, text
    assert "main.cf" in text, text


def test_master_t_names_bad_master_cf_line(make_instance):
    inst = make_instance("check-mcf", allow_fatal=True)
    base = inst.default_master_cf()
    inst.master_cf_text = base + "# a comment\n" + "bogus            fifo n - n - - smtpd\n"
    bad_line = base.count("\n") + 2
    inst.write_config()
    res = inst.run_master("-t")
    text = res.stdout + res.stderr
    assert res.returncode != 0, "master -t accepted a bad master.cf line:\n%s" % text
    assert re.search(r"master\.cf:%d\b" % bad_line, text), \
        "no 'master.cf:%d' in:\n%s" % (bad_line, text)


def test_two_instances_side_by_side(make_instance, make_sink):
    sink_a = make_sink("sink-a").start()
    sink_b = make_sink("sink-b").start()
    a = make_instance("side-a", sink=sink_a).start()
    b = make_instance("side-b", sink=sink_b).start()
    assert a.queue_dir != b.queue_dir and a.port != b.port
    for i in range(5):
        a.send(make_message(subject="for a %d" % i, message_id="<a-%d@test.example>" % i))
        b.send(make_message(subject="for b %d" % i, message_id="<b-%d@test.example>" % i))
    sink_a.wait_count(5, 30, a.describe)
    sink_b.wait_count(5, 30, b.describe)
    time.sleep(1.0)
    assert all(b"for a " in c for c in sink_a.contents()) and sink_a.count() == 5
    assert all(b"for b " in c for c in sink_b.contents()) and sink_b.count() == 5
    # Each instance logs under its own name, and only its own mail.
    assert "<a-0@test.example>" not in b.log()
    assert "<b-0@test.example>" not in a.log()
    # Stopping one leaves the other serving.
    assert a.stop() == 0
    b.send(make_message(subject="for b after", message_id="<b-after@test.example>"))
    sink_b.wait_count(6, 30, b.describe)
    assert sink_a.count() == 5


def test_sighup_reload_keeps_serving(make_instance, sink):
    inst = make_instance("reload", sink=sink, smtpd_banner="$myhostname ESMTP before-reload").start()
    assert "before-reload" in inst.banner()
    master_pid = inst.proc.pid
    results = {"ok": 0, "fail": []}
    stop = threading.Event()

    def keep_sending():
        i = 0
        while not stop.is_set():
            try:
                code, _ = inst.send(make_message(subject="reload %d" % i,
                                                 message_id="<reload-%d@test.example>" % i))
                results["ok"] += 1
            except Exception as exc:
                results["fail"].append(repr(exc))
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=keep_sending)
    t.start()
    try:
        time.sleep(1.0)
        inst.set(smtpd_banner="$myhostname ESMTP after-reload")
        inst.reload()
        wait_until(lambda: "after-reload" in inst.banner(), 20,
                   lambda: "the new banner after SIGHUP (got %r)" % inst.banner())
        time.sleep(1.0)
    finally:
        stop.set()
        t.join(30)
    assert inst.running() and inst.proc.pid == master_pid
    assert not results["fail"], "sends failed across the reload: %s" % results["fail"][:5]
    assert results["ok"] > 0
    sink.wait_count(results["ok"], 60, inst.describe)


def test_postcat_q_shows_deferred_message(make_instance, make_sink):
    sink = make_sink()  # never started: delivery is deferred
    inst = make_instance("postcat", sink=sink).start()
    body = b"postcat body line \xc3\xa9\r\n"
    msg = make_message(subject="postcat subject", message_id="<postcat-1@test.example>",
                       body=body)
    code, resp = inst.send(msg, sender="carol@example.com",
                           rcpts=("dave@example.net", "erin@example.org"))
    qid = queue_id_from_reply(resp)
    assert qid, resp
    wait_until(lambda: qid in inst.queue()["deferred"], 30,
               lambda: "%s in deferred/; %s" % (qid, inst.describe()))
    res = subprocess.run([binary("postcat"), "-c", inst.conf, "-q", qid],
                         capture_output=True, timeout=20)
    out = res.stdout
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    for part in (b"carol@example.com", b"dave@example.net", b"erin@example.org",
                 b"Subject: postcat subject", b"Message-ID: <postcat-1@test.example>",
                 b"postcat body line"):
        assert part in out, "%r missing from postcat -q output:\n%s" % (
            part, out.decode(errors="replace"))
    # An unknown ID is an error, not an empty success.
    res = subprocess.run([binary("postcat"), "-c", inst.conf, "-q", "F" * 20],
                         capture_output=True, timeout=20)
    assert res.returncode != 0
