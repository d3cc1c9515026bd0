"""postqueue and showq against a real instance.

Most tests read one queue built once for the module, with known contents:

    A1 A2 A3   from alice@a.example to uN@down.example and vN@down.example,
               deferred while nothing listened on the relay port
               ("connect to ...: Connection refused"); A2 then moved to
               hold/ by rename while the instance was stopped (qmgr's
               start-up reconcile puts it in the index as held)
    B1 B2      from bob@b.example to tempfailN@slow.example (the sink
               answers 450: deferred) and okN@fast.example (delivered)
    N1         from <> to tempfail9@Slow.Example (450)

so 6 messages: 5 deferred, 1 on hold; domains down.example (6 recipients,
3 messages) and slow.example (3, 3); senders alice 3, bob 2, <> 1.
Tests that deliver (-f, -s, -i) use instances of their own.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import postern
from postern import binary, wait_until

HEADER = ("-Queue ID-            --Size-- ----Arrival Time---- "
          "-Sender/Recipient-------")
LIST_RE = re.compile(r"^([0-9A-F]{20,40})([*!]?) +([0-9]+) "
                     r"([A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2})  (\S+)$")
SLOW_PARAMS = dict(minimal_backoff_time="1h", maximal_backoff_time="2h",
                   queue_run_delay="1h")


def pq(inst, *args, user=None, timeout=60):
    cmd = [binary("postqueue"), "-c", inst.conf] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          user=user, errors="replace")


def pq_ok(inst, *args):
    res = pq(inst, *args)
    assert res.returncode == 0, (args, res.returncode, res.stderr)
    return res.stdout


def json_ids(inst, *args):
    out = pq_ok(inst, "-j", *args)
    return [json.loads(line)["queue_id"] for line in out.splitlines()]


def count(inst, *args):
    return int(pq_ok(inst, "-n", *args).strip())


def sent_id(resp):
    qid = postern.queue_id_from_reply(resp)
    assert qid, resp
    return qid


def settled(inst, deferred, hold=0):
    """Files and index agree on a queue at rest."""
    q = inst.queue()
    if q["incoming"] or q["active"]:
        return False
    if len(q["deferred"]) != deferred or len(q["hold"]) != hold:
        return False
    return count(inst) == deferred + hold and count(inst, "--queue=hold") == hold


def move_to_hold(inst, qid):
    leaf = os.path.join(qid[-2], qid[-1], qid)
    os.rename(os.path.join(inst.queue_dir, "deferred", leaf),
              os.path.join(inst.queue_dir, "hold", leaf))


def others_may_enter(inst):
    """The queue directory is 0700 (mail_owner); let other users reach
    public/showq (0711) and private/ (0700) so showq's own check and the
    socket permissions are what is tested."""
    os.chmod(inst.queue_dir, 0o711)


@pytest.fixture(scope="module")
def known(base_dir):
    work = os.path.join(base_dir, "postqueue-known")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    sink = postern.Sink(work, fail_rcpt=["^tempfail=450"])
    inst = postern.Instance(work, name="known", sink_port=sink.port,
                            authorized_mailq_users="root", **SLOW_PARAMS)
    ids = {}
    try:
        inst.start()
        for i in (1, 2, 3):
            _, resp = inst.send(postern.make_message(subject="A%d" % i),
                                sender="alice@a.example",
                                rcpts=("u%d@down.example" % i, "v%d@down.example" % i))
            ids["A%d" % i] = sent_id(resp)
        wait_until(lambda: settled(inst, 3), 20, inst.describe)
        inst.stop()
        move_to_hold(inst, ids["A2"])
        inst.start()
        wait_until(lambda: settled(inst, 2, 1), 20, inst.describe)
        time.sleep(2.5)             # A and B differ in age by seconds
        sink.start()
        for i in (1, 2):
            _, resp = inst.send(postern.make_message(subject="B%d" % i),
                                sender="bob@b.example",
                                rcpts=("tempfail%d@slow.example" % i, "ok%d@fast.example" % i))
            ids["B%d" % i] = sent_id(resp)
        _, resp = inst.send(postern.make_message(subject="N1"), sender="",
                            rcpts=("tempfail9@Slow.Example",))
        ids["N1"] = sent_id(resp)
        sink.wait_count(2)
        wait_until(lambda: settled(inst, 5, 1), 20, inst.describe)
        sink.stop()
        others_may_enter(inst)
        inst.ids_by_name = ids
        inst.sink = sink
        yield inst
    finally:
        sink.stop()
        problems = inst.cleanup() + inst.log_problems()
        assert not problems, problems


ORDER = ["A1", "A2", "A3", "B1", "B2", "N1"]


def names(known, ids):
    by_id = {v: k for k, v in known.ids_by_name.items()}
    return [by_id.get(i, i) for i in ids]


# --------------------------------------------------------------------------
# -p

def parse_listing(text):
    """[(id, marker, size, sender, [(reason, rcpt)...])], closing line."""
    lines = text.split("\n")
    assert lines[0] == HEADER, lines[0]
    assert lines[-1] == ""
    body = "\n".join(lines[1:-1])
    blocks = body.split("\n\n")
    closing = blocks.pop()
    out = []
    for block in blocks:
        blines = block.split("\n")
        m = LIST_RE.match(blines[0])
        assert m, blines[0]
        rcpts, reason = [], None
        for line in blines[1:]:
            if line.lstrip().startswith("("):
                # right-aligned to column 80, or from column 0 when longer
                assert line.endswith(")") and (len(line) == 80 or line.startswith("(")), line
                reason = line.strip()[1:-1]
            else:
                assert line.startswith(" " * 52) and not line[52:].startswith(" "), repr(line)
                rcpts.append((reason, line.strip()))
        out.append((m.group(1), m.group(2), int(m.group(3)), m.group(5), rcpts))
    return out, closing


def test_list_layout(known):
    out = pq_ok(known, "-p")
    entries, closing = parse_listing(out)
    assert names(known, [e[0] for e in entries]) == ORDER
    marks = {name: e[1] for name, e in zip(ORDER, entries)}
    assert marks == {"A1": "", "A2": "!", "A3": "", "B1": "", "B2": "", "N1": ""}
    by = dict(zip(ORDER, entries))
    assert by["A1"][3] == "alice@a.example"
    assert by["N1"][3] == "MAILER-DAEMON"
    reason, rcpt = by["A1"][4][0]
    assert rcpt == "u1@down.example"
    assert re.fullmatch(r"connect to 127\.0\.0\.1\[127\.0\.0\.1\]:%d: Connection refused"
                        % known.sink_port, reason), reason
    assert [r for _, r in by["A3"][4]] == ["u3@down.example", "v3@down.example"]
    # one "(reason)" line for two recipients with the same reason
    assert out.count("Connection refused)") == 3
    assert [r for _, r in by["B1"][4]] == ["tempfail1@slow.example"]
    assert "450" in by["B1"][4][0][0]
    sizes = [e[2] for e in entries]
    assert closing == "-- %d Kbytes in 6 Requests." % (sum(sizes) // 1024)


def test_list_matches_json(known):
    listing, _ = parse_listing(pq_ok(known, "-p"))
    objs = [json.loads(line) for line in pq_ok(known, "-j").splitlines()]
    assert [e[0] for e in listing] == [o["queue_id"] for o in objs]
    assert [e[2] for e in listing] == [o["message_size"] for o in objs]
    assert [[r for _, r in e[4]] for e in listing] == \
        [[r["address"] for r in o["recipients"]] for o in objs]


def test_closed_stdout_is_not_an_error(known):
    cmd = "%s -c %s -p | head -1 >/dev/null; echo ${PIPESTATUS[0]}" % (binary("postqueue"),
                                                                         known.conf)
    res = subprocess.run(["/bin/bash", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert res.stdout.strip() == "0"
    assert res.stderr == ""


# --------------------------------------------------------------------------
# -j

def test_json_lines(known):
    out = pq_ok(known, "-j")
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) == 6
    fields = ["queue_name", "queue_id", "arrival_time", "message_size", "force_expired",
              "sender", "recipients"]
    for o in objs:
        assert list(o.keys()) == fields
        assert isinstance(o["arrival_time"], int) and abs(o["arrival_time"] - time.time()) < 600
        assert o["force_expired"] is False
        for r in o["recipients"]:
            assert set(r) == {"address", "delay_reason"}
    by = dict(zip(names(known, [o["queue_id"] for o in objs]), objs))
    assert by["A2"]["queue_name"] == "hold"
    assert {by[n]["queue_name"] for n in ORDER if n != "A2"} == {"deferred"}
    assert by["N1"]["sender"] == ""
    assert by["N1"]["recipients"][0]["address"] == "tempfail9@Slow.Example"
    assert by["A1"]["sender"] == "alice@a.example"
    assert [r["address"] for r in by["A1"]["recipients"]] == ["u1@down.example",
                                                              "v1@down.example"]
    assert "Connection refused" in by["A1"]["recipients"][0]["delay_reason"]
    assert "tempfail1@slow.example" in by["B1"]["recipients"][0]["delay_reason"]


# --------------------------------------------------------------------------
# selection, -n

SELECTIONS = [
    ([], ORDER),
    (["--queue=hold"], ["A2"]),
    (["--queue=deferred"], ["A1", "A3", "B1", "B2", "N1"]),
    (["--queue=active"], []),
    (["--sender=alice"], ["A1", "A2", "A3"]),
    (["--sender=^BOB@b\\.example$"], ["B1", "B2"]),
    (["--sender=^$"], ["N1"]),
    (["--recipient=^tempfail1@"], ["B1"]),
    (["--recipient=v2@down"], ["A2"]),
    (["--recipient=ok1@fast"], []),              # delivered: not pending
    (["--domain=^slow\\.example$"], ["B1", "B2", "N1"]),
    (["--domain=(?-i)^slow\\.example$"], ["B1", "B2"]),
    (["--domain=down"], ["A1", "A2", "A3"]),
    (["--reason=connection refused"], ["A1", "A2", "A3"]),
    (["--reason= 450 "], ["B1", "B2", "N1"]),
    (["--domain=slow", "--reason=refused"], []),  # the same recipient must match both
    (["--domain=down", "--queue=deferred", "--sender=alice"], ["A1", "A3"]),
    (["--older=1h"], []),
    (["--newer=1h"], ORDER),
]


@pytest.mark.parametrize("args,want", SELECTIONS, ids=[" ".join(a) or "all" for a, _ in SELECTIONS])
def test_selection(known, args, want):
    got = names(known, json_ids(known, *args))
    assert got == want
    assert count(known, *args) == len(want)
    listing = pq_ok(known, "-p", *args)
    if want:
        entries, _ = parse_listing(listing)
        assert names(known, [e[0] for e in entries]) == want
    else:
        assert listing == "Mail queue is empty\n"


def test_age_selection(known):
    objs = [json.loads(line) for line in pq_ok(known, "-j").splitlines()]
    arrival = dict(zip(names(known, [o["queue_id"] for o in objs]),
                       [o["arrival_time"] for o in objs]))
    assert arrival["B1"] - arrival["A3"] >= 2
    split = (arrival["A3"] + arrival["B1"]) / 2.0
    age = int(time.time() - split)
    assert names(known, json_ids(known, "--older=%ds" % age)) == ["A1", "A2", "A3"]
    assert names(known, json_ids(known, "--newer=%d" % age)) == ["B1", "B2", "N1"]
    assert count(known, "--older=%ds" % age) == 3
    assert count(known, "--older=0s") == 6


def test_count_matches_json(known):
    assert count(known) == len(pq_ok(known, "-j").splitlines()) == 6
    assert count(known, "--queue=hold") == 1
    assert count(known, "--queue=corrupt") == 0


# --------------------------------------------------------------------------
# -R

def test_report_text(known):
    out = pq_ok(known, "-R")
    rows = dict(re.findall(r"(?m)^(incoming|active|deferred|hold|corrupt|total) +([0-9]+) +[0-9]+$",
                           out))
    assert rows == {"incoming": "0", "active": "0", "deferred": "5", "hold": "1",
                    "corrupt": "0", "total": "6"}
    oldest = re.search(r"(?m)^Oldest message: ([0-9A-F]+) \((\w+)\), .* from (\S+)$", out)
    assert oldest and oldest.group(1) == known.ids_by_name["A1"]
    assert oldest.group(2) == "deferred" and oldest.group(3) == "alice@a.example"
    domains = re.findall(r"(?m)^ +([0-9]+) +([0-9]+)  \S+ +([0-9A-F]+) +(\S+)$", out)
    assert [(d[3], int(d[0]), int(d[1])) for d in domains] == \
        [("down.example", 6, 3), ("slow.example", 3, 3)]
    assert domains[0][2] == known.ids_by_name["A1"]
    assert domains[1][2] == known.ids_by_name["B1"]
    senders = out.split("Top senders\n", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert [line.split() for line in senders] == [["3", "alice@a.example"],
                                                  ["2", "bob@b.example"],
                                                  ["1", "MAILER-DAEMON"]]
    reasons = out.split("Top delay reasons\n", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert reasons[0].split()[0] == "6" and reasons[0].endswith("Connection refused")
    assert len(reasons) == 4 and all(r.split()[0] == "1" for r in reasons[1:])
    shape = out.split("(qshape)\n", 1)[1].splitlines()
    assert shape[0].split() == ["T", "5", "10", "20", "40", "80", "160", "320", "640",
                                "1280", "1280+"]
    assert shape[1].split() == ["TOTAL", "9", "9"] + ["0"] * 9
    assert shape[2].split() == ["down.example", "6", "6"] + ["0"] * 9
    assert "~" not in out


def test_report_json(known):
    rep = json.loads(pq_ok(known, "-R", "-j"))
    assert rep["queues"]["deferred"] == {"messages": 5, "bytes": rep["queues"]["deferred"]["bytes"]}
    assert rep["queues"]["hold"]["messages"] == 1
    assert rep["total"]["messages"] == 6
    sizes = [json.loads(line)["message_size"] for line in pq_ok(known, "-j").splitlines()]
    assert rep["total"]["bytes"] == sum(sizes)
    assert rep["oldest"]["queue_id"] == known.ids_by_name["A1"]
    assert [(d["domain"], d["recipients"], d["messages"]) for d in rep["top_domains"]] == \
        [("down.example", 6, 3), ("slow.example", 3, 3)]
    assert rep["top_domains"][1]["oldest_queue_id"] == known.ids_by_name["B1"]
    assert rep["top_domains"][0]["age_histogram"] == [6] + [0] * 9
    assert [(s["sender"], s["messages"]) for s in rep["top_senders"]] == \
        [("alice@a.example", 3), ("bob@b.example", 2), ("", 1)]
    assert rep["top_reasons"][0]["recipients"] == 6
    assert "Connection refused" in rep["top_reasons"][0]["reason"]
    assert rep["recipients"] == 9
    assert rep["age_buckets_minutes"] == [5, 10, 20, 40, 80, 160, 320, 640, 1280]
    assert rep["floors"] == {"senders": 0, "domains": 0, "reasons": 0}
    assert not any(x["approximate"] for x in rep["top_senders"] + rep["top_domains"])


def test_report_selection(known):
    rep = json.loads(pq_ok(known, "-R", "-j", "--domain=slow"))
    assert rep["total"]["messages"] == 3
    assert [(d["domain"], d["recipients"]) for d in rep["top_domains"]] == [("slow.example", 3)]
    assert [s["sender"] for s in rep["top_senders"]] == ["bob@b.example", ""]
    rep = json.loads(pq_ok(known, "-R", "-j", "--queue=hold"))
    assert rep["queues"]["hold"]["messages"] == 1 and rep["total"]["messages"] == 1
    assert rep["oldest"]["queue_id"] == known.ids_by_name["A2"]
    rep = json.loads(pq_ok(known, "-R", "-j", "--older=1h"))
    assert rep["total"]["messages"] == 0 and rep["oldest"] is None


# --------------------------------------------------------------------------
# refusals

def test_deliver_held_message(known):
    res = pq(known, "-i", known.ids_by_name["A2"])
    assert res.returncode == 1, res
    assert "hold" in res.stderr.lower() or "held" in res.stderr.lower(), res.stderr
    assert count(known, "--queue=hold") == 1


def test_deliver_unknown_message(known):
    res = pq(known, "-i", "0" * 14 + "ABCDEF")
    assert res.returncode == 1, res
    assert res.stderr
    res = pq(known, "-i", "not-an-id")
    assert res.returncode == 1 and "invalid queue ID" in res.stderr


def need_root():
    if not postern.is_root():
        pytest.skip("switching to another user needs root")


def test_unauthorized_user(known):
    need_root()
    res = pq(known, "-p", user="nobody")
    assert res.returncode == 77, (res.returncode, res.stdout, res.stderr)
    assert "permission denied" in res.stderr
    assert res.stdout == ""
    assert known.log_lines(r"showq.*may not list the queue")


def test_control_needs_mail_owner(known):
    need_root()
    for args in (["-f"], ["-s", "slow.example"], ["-i", known.ids_by_name["A1"]]):
        res = pq(known, *args, user="nobody")
        assert res.returncode == 77, (args, res.returncode, res.stderr)
        assert "permission denied" in res.stderr and "root" in res.stderr


@pytest.mark.parametrize("args", [
    [], ["-Z"], ["-p", "-f"], ["-p", "-n"], ["-j", "-p"], ["-p", "--older=abc"],
    ["-p", "--newer=5x"], ["-p", "--sender=("], ["-n", "--domain=[a-"], ["-p", "--queue=nosuch"],
    ["-f", "--queue=hold"], ["-w"], ["-p", "-w"], ["-i", "X", "-v"], ["-p", "extra"],
    ["-s"], ["--bogus"],
])
def test_bad_usage(args):
    res = subprocess.run([binary("postqueue")] + args, capture_output=True, text=True, timeout=10)
    assert res.returncode == 2, (args, res.returncode, res.stderr)
    assert "usage:" in res.stderr
    assert res.stdout == ""


def test_help():
    res = subprocess.run([binary("postqueue"), "--help"], capture_output=True, text=True,
                         timeout=10)
    assert res.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT"):
        assert "\n" + section + "\n" in "\n" + res.stdout, section
    assert "postqueue" in res.stdout.split("\n")[1]
    for status in ("69", "77"):
        assert status in res.stdout


# --------------------------------------------------------------------------
# instances of their own

def test_empty_queue_and_anyone(make_instance):
    inst = make_instance(name="empty", **SLOW_PARAMS)
    inst.start()
    assert pq_ok(inst, "-p") == "Mail queue is empty\n"
    assert pq_ok(inst, "-j") == ""
    assert pq_ok(inst, "-n") == "0\n"
    rep = json.loads(pq_ok(inst, "-R", "-j"))
    assert rep["total"]["messages"] == 0 and rep["top_domains"] == []
    assert "No message matches." in pq_ok(inst, "-R")
    if postern.is_root():
        # authorized_mailq_users = static:anyone (the default)
        others_may_enter(inst)
        res = pq(inst, "-p", user="nobody")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "Mail queue is empty\n"


def test_mail_system_down(make_instance):
    inst = make_instance(name="down", **SLOW_PARAMS)
    inst.start()
    inst.stop()
    for args in (["-p"], ["-j"], ["-n"], ["-R"]):
        res = pq(inst, *args)
        assert res.returncode == 69, (args, res.returncode, res.stderr)
        assert res.stderr == "postqueue: fatal: Queue report unavailable - mail system is down\n"
    res = pq(inst, "-f")
    assert res.returncode == 69
    assert "Cannot flush mail queue - mail system is down" in res.stderr


class Tarpit:
    """Accepts TCP connections on a port and never says anything."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.conns = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_active_marker(make_instance):
    inst = make_instance(name="active", smtp_helo_timeout="60s", shutdown_timeout="2s",
                         **SLOW_PARAMS)
    tarpit = Tarpit(inst.sink_port)
    try:
        inst.start()
        _, resp = inst.send(postern.make_message(), rcpts=("slow@tarpit.example",))
        qid = sent_id(resp)
        wait_until(lambda: tarpit.conns and count(inst, "--queue=active") == 1, 20,
                   inst.describe)
        entries, closing = parse_listing(pq_ok(inst, "-p"))
        assert [(e[0], e[1]) for e in entries] == [(qid, "*")]
        assert closing.endswith("in 1 Request.")
        obj = json.loads(pq_ok(inst, "-j"))
        assert obj["queue_name"] == "active"
        assert "delay_reason" not in obj["recipients"][0]
    finally:
        tarpit.close()


def deferred_instance(make_instance, make_sink, name, fail_rcpt=()):
    """An instance whose relay (a sink, not started yet) is down."""
    sink = make_sink(fail_rcpt=fail_rcpt)
    inst = make_instance(name=name, sink=sink, **SLOW_PARAMS)
    inst.start()
    return inst, sink


def test_flush(make_instance, make_sink):
    inst, sink = deferred_instance(make_instance, make_sink, "flush")
    for i in range(2):
        inst.send(postern.make_message(subject="f%d" % i), rcpts=("r%d@example.net" % i,))
    wait_until(lambda: settled(inst, 2), 20, inst.describe)
    sink.start()
    res = pq(inst, "-f")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "postqueue: flushing 2 deferred messages\n"
    sink.wait_count(2, extra=inst.describe)
    wait_until(lambda: settled(inst, 0), 20, inst.describe)
    assert pq_ok(inst, "-p") == "Mail queue is empty\n"


def test_flush_site(make_instance, make_sink):
    inst, sink = deferred_instance(make_instance, make_sink, "site")
    _, r1 = inst.send(postern.make_message(subject="one"), rcpts=("a@one.example",))
    _, r2 = inst.send(postern.make_message(subject="two"), rcpts=("b@two.example",))
    wait_until(lambda: settled(inst, 2), 20, inst.describe)
    sink.start()
    res = pq(inst, "-s", "ONE.example")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "postqueue: flushing 1 message for ONE.example\n"
    sink.wait_count(1, extra=inst.describe)
    assert sink.messages()[0]["rcpt_tos"] == ["a@one.example"]
    wait_until(lambda: settled(inst, 1), 20, inst.describe)
    time.sleep(1)
    assert sink.count() == 1
    assert json_ids(inst) == [sent_id(r2)]
    res = pq(inst, "-s", "nowhere.example")
    assert res.returncode == 0 and "flushing 0 messages" in res.stdout


def watch_lines(out, qid):
    return [line for line in out.splitlines() if line.startswith(qid + ": to=")]


def test_deliver_and_watch(make_instance, make_sink):
    inst, sink = deferred_instance(make_instance, make_sink, "watch",
                                   fail_rcpt=["^tempfail=450", "^permfail=550"])
    _, resp = inst.send(postern.make_message(subject="mixed"),
                        rcpts=("ok@x.example", "tempfail@x.example", "permfail@x.example"))
    mixed = sent_id(resp)
    _, resp = inst.send(postern.make_message(subject="good"), rcpts=("fine@y.example",))
    good = sent_id(resp)
    _, resp = inst.send(postern.make_message(subject="later"), rcpts=("later@z.example",))
    later = sent_id(resp)
    wait_until(lambda: settled(inst, 3), 20, inst.describe)
    sink.start()

    res = pq(inst, "-i", mixed, "-w")
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = watch_lines(res.stdout, mixed)
    relay = r"127\.0\.0\.1\[127\.0\.0\.1\]:%d" % sink.port
    assert len(lines) == 3, res.stdout
    by_rcpt = {re.search(r"to=<([^>]*)>", line).group(1): line for line in lines}
    assert re.fullmatch(mixed + r": to=<ok@x\.example>, relay=" + relay +
                        r", dsn=2\.[0-9.]+, status=sent \(250 .*\)", by_rcpt["ok@x.example"])
    assert re.fullmatch(mixed + r": to=<tempfail@x\.example>, relay=" + relay +
                        r", dsn=4\.[0-9.]+, status=deferred \(.*450.*\)",
                        by_rcpt["tempfail@x.example"])
    assert re.fullmatch(mixed + r": to=<permfail@x\.example>, relay=" + relay +
                        r", dsn=5\.[0-9.]+, status=bounced \(.*550.*\)",
                        by_rcpt["permfail@x.example"])
    assert res.stdout.splitlines()[-1].startswith(mixed + ": done, message ")
    assert not any(line.startswith("  ") for line in res.stdout.splitlines())
    assert [m["rcpt_tos"] for m in sink.messages()] == [["ok@x.example"]]

    res = pq(inst, "-i", good, "-w", "-v")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert len(watch_lines(res.stdout, good)) == 1
    assert "status=sent" in watch_lines(res.stdout, good)[0]
    trace = [line for line in res.stdout.splitlines() if line.startswith("  ")]
    assert trace and any("MAIL FROM" in line.upper() for line in trace), res.stdout

    res = pq(inst, "-i", later)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "postqueue: %s: delivery started\n" % later
    sink.wait_count(3, extra=inst.describe)
    wait_until(lambda: settled(inst, 1), 20, inst.describe)
    assert json_ids(inst) == [mixed]
    assert [r["address"] for r in json.loads(pq_ok(inst, "-j"))["recipients"]] == \
        ["tempfail@x.example"]
