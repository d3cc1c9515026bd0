"""postsuper: hold, release, delete, requeue, check and repair, on a real
instance with a sink (or a stalling SMTP server) behind it.

Messages that must stay deferred are sent while the sink is down, with a
long back-off, so nothing retries them behind the test's back. Tests that
need qmgr's withdraw request (a message in active/) are marked in their
docstring.
"""

import asyncio
import os
import pwd
import re
import signal
import subprocess
import threading
import time

import pytest

from postern import (STATES, binary, is_root, make_message, message_ids, owner_ids,
                     queue_id_from_reply, wait_until)

SLOW_RETRY = {"minimal_backoff_time": "300s", "maximal_backoff_time": "600s",
              "queue_run_delay": "300s"}


def postsuper(inst, *args, stdin=None, timeout=120, user=None):
    """Run postsuper -c <instance> ARGS; returns CompletedProcess (text)."""
    preexec = None
    if user is not None:
        pw = pwd.getpwnam(user)

        def preexec():
            os.setgroups([pw.pw_gid])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
    return subprocess.run([binary("postsuper"), "-c", inst.conf] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def where(inst):
    """{queue ID: [states it is in]} over the whole queue."""
    out = {}
    for state, ids in inst.queue().items():
        for qid in ids:
            out.setdefault(qid, []).append(state)
    return out


def send_many(inst, n, tag):
    """Send n messages; returns [(queue ID, Message-ID)] in order."""
    sent = []
    s = inst.smtp()
    for i in range(n):
        mid = "<%s-%d@test.example>" % (tag, i)
        code, resp = inst.send(make_message(subject="%s %d" % (tag, i), message_id=mid), conn=s)
        assert code == 250
        qid = queue_id_from_reply(resp)
        assert qid, resp
        sent.append((qid, mid))
    s.quit()
    return sent


def wait_deferred(inst, ids, timeout=30):
    wait_until(lambda: set(ids) <= set(inst.queue()["deferred"]), timeout,
               lambda: "%s deferred; %s" % (sorted(ids), inst.describe()))


def delivered_mids(sink):
    out = []
    for content in sink.contents():
        out.extend(message_ids(content))
    return out


def no_trash_left(inst):
    """The background child that frees deleted files has finished."""
    return not [n for n in os.listdir(os.path.join(inst.queue_dir, "tmp"))
                if n.startswith(".postsuper-trash.")]


_inject_seq = [0]


def inject(inst, state, n, rcpt="rcpt@example.net"):
    """Write n valid queue files (format version 1) straight into `state`,
    as cleanup would, without SMTP. Returns their queue IDs."""
    ids = []
    owner = owner_ids()
    for _ in range(n):
        _inject_seq[0] += 1
        mid = "<inject-%d-%d@test.example>" % (os.getpid(), _inject_seq[0])
        content = make_message(subject="injected", message_id=mid, rcpt=rcpt)
        now = time.time()
        sec, usec = int(now), int((now % 1) * 1e6)
        data = (b"POSTERN-QUEUE 1\n"
                + b"Z %012d %012d\n" % (len(content), 0)
                + b"T %d.%06d\n" % (sec, usec)
                + b"S sender@example.com\nN localhost\nA 127.0.0.1\nH test.example\n"
                + b"P ESMTP\nB 7BIT\n"
                + b"I " + mid.encode() + b"\n"
                + b"R P " + rcpt.encode() + b"\n"
                + b"M\n" + content + b"E\n")
        tmp = os.path.join(inst.queue_dir, "tmp", "inject.%d.%d" % (os.getpid(), _inject_seq[0]))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        qid = "%09X%05X%06X" % (sec & 0xFFFFFFFFF, usec, ino)
        if owner:
            os.chown(tmp, *owner)
        os.rename(tmp, os.path.join(inst.queue_dir, state, qid[-2], qid[-1], qid))
        ids.append(qid)
    return ids


def summary(result, text):
    assert ("postsuper: %s" % text) in result.stderr, result.stderr


# --------------------------------------------------------------------------
# The operator's workflow: hold everything, release one, release the rest


def test_hold_all_release_one_then_all(make_instance, make_sink):
    sink = make_sink()                       # not started: deliveries defer
    inst = make_instance("hold", sink=sink, **SLOW_RETRY).start()
    sent = send_many(inst, 5, "hold")
    ids = [qid for qid, _ in sent]
    wait_deferred(inst, ids)

    r = postsuper(inst, "-h", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Placed on hold: 5 messages")
    q = inst.queue()
    assert sorted(q["hold"]) == sorted(ids), inst.queue_summary()
    assert not q["deferred"] and not q["active"] and not q["incoming"]

    sink.start()
    time.sleep(1.0)
    r = postsuper(inst, "-H", ids[0])
    assert r.returncode == 0, r.stderr
    summary(r, "Released from hold: 1 message")
    sink.wait_count(1, 30, inst.describe)
    time.sleep(2.0)                          # nothing else may follow
    assert delivered_mids(sink) == [sent[0][1]]
    assert sorted(inst.queue()["hold"]) == sorted(ids[1:])

    r = postsuper(inst, "-H", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Released from hold: 4 messages")
    sink.wait_count(5, 30, inst.describe)
    wait_until(lambda: inst.queue_count() == 0, 30, inst.describe)
    assert sorted(delivered_mids(sink)) == sorted(mid for _, mid in sent)
    log = inst.log()
    assert re.search(r"(%s: placed on hold|placed on hold:.* %s)" % (ids[1], ids[1]), log), \
        "no hold log line for %s" % ids[1]
    assert "%s: released from hold" % ids[0] in log


def test_hold_and_release_single_messages(make_instance, make_sink):
    sink = make_sink()
    inst = make_instance("single", sink=sink, **SLOW_RETRY).start()
    sent = send_many(inst, 2, "single")
    ids = [qid for qid, _ in sent]
    wait_deferred(inst, ids)

    r = postsuper(inst, "-h", ids[0], "-h", ids[0])
    assert r.returncode == 0, r.stderr
    summary(r, "Placed on hold: 1 message")          # the second is a no-op
    assert inst.queue()["hold"] == [ids[0]]

    # Releasing a message that is not on hold says so, and is not an error.
    r = postsuper(inst, "-H", ids[1])
    assert r.returncode == 0, r.stderr
    assert "postsuper: warning: %s: not on hold" % ids[1] in r.stderr
    summary(r, "Released from hold: 0 messages")

    # Mixed, in the order given: hold the other, then release both.
    sink.start()
    r = postsuper(inst, "-h", ids[1], "-H", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Placed on hold: 1 message")
    summary(r, "Released from hold: 2 messages")
    sink.wait_count(2, 30, inst.describe)


# --------------------------------------------------------------------------
# Delete


def test_delete_all_deferred_keeps_hold(make_instance, make_sink):
    sink = make_sink()
    inst = make_instance("delete", sink=sink, **SLOW_RETRY).start()
    ids = [qid for qid, _ in send_many(inst, 4, "delete")]
    wait_deferred(inst, ids)
    r = postsuper(inst, "-h", ids[0])
    assert r.returncode == 0, r.stderr

    r = postsuper(inst, "-d", "ALL", "deferred")
    assert r.returncode == 0, r.stderr
    summary(r, "Deleted: 3 messages")
    q = inst.queue()
    assert q["hold"] == [ids[0]] and not q["deferred"], inst.queue_summary()

    r = postsuper(inst, "-d", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Deleted: 1 message")
    assert inst.queue_count() == 0, inst.queue_summary()
    wait_until(lambda: no_trash_left(inst), 30, "the deleted files to be freed")
    assert re.search(r"(%s: removed|removed:.* %s)" % (ids[1], ids[1]), inst.log())

    sink.start()
    time.sleep(2.0)
    assert sink.count() == 0


def test_delete_ids_from_stdin(make_instance, make_sink):
    sink = make_sink()
    inst = make_instance("stdin", sink=sink, **SLOW_RETRY).start()
    ids = [qid for qid, _ in send_many(inst, 3, "stdin")]
    wait_deferred(inst, ids)
    missing = "0" * 14 + "ABCDEF"            # well formed, not in the queue
    # Blank lines are skipped; a trailing * or ! (postqueue -p marks) is allowed.
    text = "%s\n\n  %s*  \nnot-an-id\n%s\n" % (ids[0], ids[1], missing)

    r = postsuper(inst, "-d", "-", stdin=text)
    assert r.returncode == 1, r.stderr      # one invalid, one missing
    summary(r, "Deleted: 2 messages")
    assert "postsuper: warning: not-an-id: invalid queue ID" in r.stderr
    assert "postsuper: warning: %s: no such message" % missing in r.stderr
    assert inst.queue()["deferred"] == [ids[2]]
    assert "%s: removed" % ids[0] in inst.log()


# --------------------------------------------------------------------------
# Requeue


def test_requeue_delivers_at_once(make_instance, make_sink):
    sink = make_sink()
    inst = make_instance("requeue", sink=sink, **SLOW_RETRY).start()
    sent = send_many(inst, 3, "requeue")
    ids = [qid for qid, _ in sent]
    wait_deferred(inst, ids)
    assert postsuper(inst, "-h", ids[2]).returncode == 0
    sink.start()
    time.sleep(1.0)
    assert sink.count() == 0                 # the back-off is 300 s

    r = postsuper(inst, "-r", ids[0])
    assert r.returncode == 0, r.stderr
    summary(r, "Requeued: 1 message")
    sink.wait_count(1, 30, inst.describe)
    assert delivered_mids(sink) == [sent[0][1]]

    # ALL takes deferred and hold.
    r = postsuper(inst, "-r", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Requeued: 2 messages")
    sink.wait_count(3, 30, inst.describe)
    wait_until(lambda: inst.queue_count() == 0, 30, inst.describe)


# --------------------------------------------------------------------------
# A message being delivered (qmgr's withdraw)


class StallServer:
    """An SMTP server that answers everything but stalls after DATA until
    released; counts messages it received completely."""

    def __init__(self):
        self.port = None
        self.data_seen = threading.Event()
        self.completed = 0
        self.loop = asyncio.new_event_loop()
        self.go = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.go = asyncio.Event()
        server = self.loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _session(self, reader, writer):
        try:
            writer.write(b"220 stall.test.example ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250 stall.test.example\r\n")
                elif verb == b"DATA":
                    self.data_seen.set()
                    await self.go.wait()
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    while True:
                        body = await reader.readline()
                        if not body:
                            return
                        if body == b".\r\n":
                            break
                    self.completed += 1
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

    def release(self):
        self.loop.call_soon_threadsafe(self.go.set)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_hold_during_a_stalled_delivery(make_instance):
    """Needs qmgr's withdraw: the message is in active/ when postsuper runs."""
    server = StallServer().start()
    try:
        inst = make_instance("stall", sink_port=server.port).start()
        (qid, _), = send_many(inst, 1, "stall")
        assert server.data_seen.wait(30), "the delivery never reached DATA: " + inst.describe()
        assert inst.queue()["active"] == [qid]

        r = postsuper(inst, "-h", qid, timeout=60)
        assert r.returncode == 0, r.stderr
        summary(r, "Placed on hold: 1 message")
        assert inst.queue()["hold"] == [qid], inst.queue_summary()

        server.release()                     # too late: the delivery is gone
        time.sleep(3.0)
        assert server.completed == 0, "a held message was delivered"
        assert inst.queue()["hold"] == [qid], inst.queue_summary()
    finally:
        server.stop()


def test_kill_qmgr_during_hold_all_loses_nothing(make_instance, make_sink):
    """Needs qmgr's withdraw: qmgr keeps moving thousands of messages
    through active/ (the sink is down) while postsuper holds them all and
    qmgr is killed with SIGKILL; every message must still be somewhere,
    exactly once."""
    sink = make_sink()
    inst = make_instance("killq", sink=sink, service_throttle_time="2s",
                         minimal_backoff_time="1s", maximal_backoff_time="2s",
                         queue_run_delay="1s").start()
    ids = set(inject(inst, "incoming", 3000))
    rounds = []
    for rnd in range(3):
        # Let qmgr churn: some messages in active/, some deferred.
        wait_until(lambda: inst.queue()["active"], 30, lambda: "messages in active; "
                   + inst.describe(), interval=0.02)
        qmgr = wait_until(lambda: inst.children("qmgr"), 10, "a running qmgr", 0.05)
        if rnd == 1:
            for pid in qmgr:
                os.kill(pid, signal.SIGKILL)
        p = subprocess.Popen([binary("postsuper"), "-c", inst.conf, "-h", "ALL"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if rnd != 1:
            time.sleep(0.02 * rnd)
            for pid in qmgr:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        out, err = p.communicate(timeout=120)
        rounds.append((p.returncode, err.strip().splitlines()[-1:]))
        found = where(inst)
        assert set(found) == ids, "round %d: %d vanished, %d unknown" % (
            rnd, len(ids - set(found)), len(set(found) - ids))
        twice = {k: v for k, v in found.items() if len(v) > 1}
        assert not twice, "round %d: in two states: %s" % (rnd, list(twice.items())[:3])
        assert p.returncode == 0, "round %d: %s" % (rnd, err)
        assert set(inst.queue()["hold"]) == ids, "round %d: %s" % (rnd, inst.queue_summary())
        # Held means held: qmgr (restarted) leaves them alone.
        time.sleep(1.5)
        assert set(inst.queue()["hold"]) == ids, "round %d: %s" % (rnd, inst.queue_summary())
        r = postsuper(inst, "-H", "ALL")
        assert r.returncode == 0, r.stderr
    print("rounds: %s" % rounds)
    assert sink.count() == 0


# --------------------------------------------------------------------------
# Mail system down: active/ is changed directly


def test_master_down_moves_active_directly(make_instance):
    inst = make_instance("down")
    inst.start()
    inst.stop()
    active = inject(inst, "active", 2)
    deferred = inject(inst, "deferred", 1)
    r = postsuper(inst, "-h", "ALL")
    assert r.returncode == 0, r.stderr
    summary(r, "Placed on hold: 3 messages")
    assert sorted(inst.queue()["hold"]) == sorted(active + deferred)

    corrupt = inject(inst, "corrupt", 1)[0]
    r = postsuper(inst, "-h", corrupt)
    assert r.returncode == 1
    assert "it can only be deleted" in r.stderr
    r = postsuper(inst, "-d", corrupt, "-r", active[0])
    assert r.returncode == 0, r.stderr
    summary(r, "Deleted: 1 message")
    summary(r, "Requeued: 1 message")
    assert inst.queue()["incoming"] == [active[0]]


# --------------------------------------------------------------------------
# -s: check and repair


def test_repair_a_damaged_queue(make_instance, make_sink):
    sink = make_sink()
    inst = make_instance("repair", sink=sink, **SLOW_RETRY).start()
    ids = [qid for qid, _ in send_many(inst, 5, "repair")]
    wait_deferred(inst, ids)
    inst.stop()                              # qmgr has indexed them all
    q = inst.queue_dir
    truncated, misplaced, unlinked = ids[0], ids[1], ids[2]

    path = os.path.join(q, "deferred", truncated[-2], truncated[-1], truncated)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)      # into the content
    wrong = "0/0" if misplaced[-2:] != "00" else "1/1"
    os.rename(os.path.join(q, "deferred", misplaced[-2], misplaced[-1], misplaced),
              os.path.join(q, "deferred", wrong, misplaced))
    os.unlink(os.path.join(q, "deferred", unlinked[-2], unlinked[-1], unlinked))
    stale = os.path.join(q, "tmp", "12345.6")
    fresh = os.path.join(q, "tmp", "12345.7")
    for p in (stale, fresh):
        with open(p, "wb") as f:
            f.write(b"half a message")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    junk = os.path.join(q, "deferred", "3", "F", "junk")
    with open(junk, "wb") as f:
        f.write(b"not a queue file")
    if inst.ids:
        for p in (stale, fresh, junk):
            os.chown(p, *inst.ids)

    r = postsuper(inst, "-s")
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stderr.splitlines() if "repaired:" in ln]
    assert line, r.stderr
    line = line[0]
    assert "1 misplaced" in line and "1 damaged moved to corrupt" in line, line
    assert "1 stale temporary files removed" in line and "1 bad names moved to corrupt" in line, line
    m = re.search(r"index: (\d+) added, (\d+) fixed, (\d+) removed", line)
    assert m and int(m.group(3)) >= 1, line

    found = where(inst)
    assert found[truncated] == ["corrupt"]
    assert found[misplaced] == ["deferred"]
    assert unlinked not in found
    assert os.path.exists(os.path.join(q, "deferred", misplaced[-2], misplaced[-1], misplaced))
    assert not os.path.exists(stale) and os.path.exists(fresh)
    assert os.path.exists(os.path.join(q, "corrupt", "junk"))

    # Nothing left to repair.
    r = postsuper(inst, "-s")
    assert r.returncode == 0, r.stderr
    assert ("repaired: 0 misplaced, 0 damaged moved to corrupt, 0 stale temporary files "
            "removed, 0 bad names moved to corrupt, index: 0 added, 0 fixed, 0 removed"
            in r.stderr), r.stderr

    # The repaired queue still delivers.
    sink.start()
    inst.start()
    assert postsuper(inst, "-r", "ALL").returncode == 0
    sink.wait_count(3, 30, inst.describe)       # the misplaced one and the two intact


# --------------------------------------------------------------------------
# Usage, help, permissions


@pytest.mark.parametrize("args", [
    ["-Z"],
    [],
    ["-h"],
    ["-d", "ALL", "bogus"],
    ["-H", "ALL", "deferred"],
    ["-h", "ALL", "corrupt"],
    ["-s", "stray"],
])
def test_usage_errors(make_instance, args):
    inst = make_instance("usage")
    r = postsuper(inst, *args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert "usage: postsuper" in r.stderr


def test_help_is_a_manual_page():
    r = subprocess.run([binary("postsuper"), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT"):
        assert section in r.stdout
    assert "postsuper" in r.stdout.split("\n")[1]


def test_bad_and_missing_ids(make_instance):
    inst = make_instance("ids")
    inst.start()
    inst.stop()
    r = postsuper(inst, "-d", "../../etc/passwd")
    assert r.returncode == 1
    assert "invalid queue ID" in r.stderr
    r = postsuper(inst, "-h", "0" * 14 + "ABCDEF")
    assert r.returncode == 1
    assert "no such message" in r.stderr
    summary(r, "Placed on hold: 0 messages")


@pytest.mark.skipif(not is_root(), reason="needs root to run as another user")
def test_only_root_or_mail_owner(make_instance):
    inst = make_instance("perm")
    inst.start()
    inst.stop()
    r = postsuper(inst, "-h", "ALL", user="nobody")
    assert r.returncode == 1, r.stderr
    assert "postsuper: fatal: permission denied" in r.stderr
    # As mail_owner it works.
    r = postsuper(inst, "-h", "ALL", user=pwd.getpwuid(inst.ids[0]).pw_name)
    assert r.returncode == 0, r.stderr
