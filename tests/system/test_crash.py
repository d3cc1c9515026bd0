"""Crashes and outages: nothing that got a 250 is lost."""

import collections
import itertools
import os
import signal
import smtplib
import threading
import time

from postern import make_message, message_ids, wait_until


def delivered_ids(sink):
    seen = collections.Counter()
    for content in sink.contents():
        for mid in message_ids(content):
            seen[mid] += 1
    return seen


def test_sink_down_then_restart_delivers_everything(make_instance, make_sink):
    sink = make_sink()  # not started: connections to its port are refused
    inst = make_instance("outage", sink=sink).start()
    n = 20
    mids = ["<outage-%d@test.example>" % i for i in range(n)]
    s = inst.smtp()
    for i, mid in enumerate(mids):
        code, _ = inst.send(make_message(subject="outage %d" % i, message_id=mid), conn=s)
        assert code == 250
    s.quit()

    wait_until(lambda: len(inst.queue()["deferred"]) == n, 30,
               lambda: "%d messages in deferred/; %s" % (n, inst.describe()))
    assert inst.log_lines(r"status=deferred"), "no status=deferred log line"

    assert inst.stop() == 0, "master did not exit 0 on SIGTERM"
    q = inst.queue()
    assert len(q["deferred"]) == n, "after stop: %s" % inst.queue_summary()

    sink.start()
    inst.start()
    sink.wait_count(n, 60, inst.describe)
    wait_until(lambda: inst.queue_count() == 0, 30, inst.describe)
    time.sleep(0.5)
    seen = delivered_ids(sink)
    assert set(seen) == set(mids), "missing: %s" % sorted(set(mids) - set(seen))
    assert all(v == 1 for v in seen.values()), {k: v for k, v in seen.items() if v > 1}


# --------------------------------------------------------------------------
# kill -9 of every daemon in turn while 2,000 messages go through

class Sender:
    """20 threads, 100 messages each; a message counts only once it got a 250.
    Connection errors and temporary failures are retried (the retry may
    duplicate a message whose 250 was lost, which is allowed)."""

    def __init__(self, inst, total=2000, conns=20):
        self.inst = inst
        self.total = total
        self.conns = conns
        self.accepted = set()
        self.failures = collections.Counter()
        self.lock = threading.Lock()
        self.threads = []
        self.gave_up = []

    def worker(self, k):
        per = self.total // self.conns
        s = None
        for i in range(k * per, (k + 1) * per):
            mid = "<crash-%d@test.example>" % i
            msg = make_message(subject="crash %d" % i, message_id=mid, size=1500)
            for attempt in range(200):
                try:
                    if s is None:
                        s = self.inst.smtp(timeout=20)
                    code, _ = self.inst.send(msg, conn=s)
                    if code == 250:
                        with self.lock:
                            self.accepted.add(mid)
                        break
                except (smtplib.SMTPException, OSError) as exc:
                    with self.lock:
                        self.failures[type(exc).__name__] += 1
                    try:
                        if s is not None:
                            s.close()
                    except Exception:
                        pass
                    s = None
                    time.sleep(0.05)
            else:
                with self.lock:
                    self.gave_up.append(mid)
        if s is not None:
            try:
                s.quit()
            except Exception:
                pass

    def start(self):
        self.threads = [threading.Thread(target=self.worker, args=(k,)) for k in range(self.conns)]
        for t in self.threads:
            t.start()

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return not self.running()


def test_kill_9_each_daemon_during_load(make_instance, sink):
    inst = make_instance("crash", sink=sink, service_throttle_time="2s").start()
    sender = Sender(inst)
    sender.start()
    kills = collections.Counter()
    kills_under_load = 0
    order = itertools.cycle(["smtpd", "cleanup", "qmgr", "smtp"])
    time.sleep(1.0)
    rounds = 0
    # Keep killing while the load runs; make sure each daemon got one kill
    # even if the load finishes early.
    while (sender.running() and rounds < 8) or (rounds == 0 and len(kills) < 4):
        name = next(order)
        # The daemon may be between lives (restart back-off): wait for one.
        try:
            pids = wait_until(lambda: inst.children(name), 8, "a running %s" % name, 0.05)
        except AssertionError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                kills[name] += 1
                kills_under_load += sender.running()
            except ProcessLookupError:
                pass
        if name == "smtp":
            rounds += 1
        time.sleep(0.5)
    assert sender.join(240), "sender threads did not finish"
    assert inst.running(), "master died"
    for name in ("smtpd", "cleanup", "qmgr", "smtp"):
        assert kills[name] > 0, "never found a %s process to kill (kills: %s)" % (name, dict(kills))
    assert kills_under_load >= 4, "only %d kills while the load ran" % kills_under_load
    assert not sender.gave_up, "%d messages never got a 250" % len(sender.gave_up)

    accepted = sender.accepted
    assert len(accepted) == sender.total

    def all_delivered():
        return accepted <= set(delivered_ids(sink))

    def describe():
        missing = accepted - set(delivered_ids(sink))
        return ("%d accepted messages delivered; %d missing, e.g. %s; %s"
                % (len(accepted), len(missing), sorted(missing)[:3], inst.describe()))

    wait_until(all_delivered, 120, describe, interval=1.0)
    # master restarted every daemon: a fresh message still goes through.
    code, _ = inst.send(make_message(subject="after", message_id="<after-crash@test.example>"))
    assert code == 250
    wait_until(lambda: "<after-crash@test.example>" in delivered_ids(sink), 30, inst.describe)
    seen = delivered_ids(sink)
    dups = sum(1 for v in seen.values() if v > 1)
    print("kills %s; sender retries %s; duplicates %d" % (dict(kills), dict(sender.failures), dups))
