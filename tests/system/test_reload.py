"""A reload is invisible to clients: many reloads under many concurrent
senders, and a reload in the middle of slow deliveries.

What a user would check: every SMTP transaction during the reloads gets its
250 (no 4xx, no 5xx, no dropped connection), every accepted message reaches
the next hop exactly once (counted by Message-ID at the sink), master keeps
running with the same PID, and the new configuration is in force afterwards.
"""
import collections
import smtplib
import threading
import time

from postern import make_message, message_ids, wait_until

SENDERS = 12
RELOADS = 10
RELOAD_EVERY = 0.5


class Senders:
    """SENDERS threads, each sending messages with unique Message-IDs in a
    loop until stopped; every outcome is recorded."""

    def __init__(self, inst, count=SENDERS):
        self.inst = inst
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted = []
        self.failures = []
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(count)]

    def run(self, n):
        i = 0
        while not self.stop.is_set():
            mid = "<reload-%d-%d@test.example>" % (n, i)
            i += 1
            try:
                self.inst.send(make_message(subject="reload %d" % i, message_id=mid))
            except (smtplib.SMTPException, OSError) as exc:
                with self.lock:
                    self.failures.append("%s: %r" % (mid, exc))
                continue
            with self.lock:
                self.accepted.append(mid)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def delivered_ids(sink):
    counts = collections.Counter()
    for m in sink.messages():
        for mid in message_ids(m["content"]):
            counts[mid] += 1
    return counts


def assert_each_delivered_once(sink, accepted, inst):
    wait_until(lambda: len(delivered_ids(sink)) >= len(set(accepted)), 90,
               lambda: "all %d accepted messages at the sink (have %d); %s" % (
                   len(set(accepted)), len(delivered_ids(sink)), inst.describe()))
    time.sleep(1.0)                 # a late duplicate would show up now
    counts = delivered_ids(sink)
    twice = sorted(mid for mid, n in counts.items() if n > 1)
    missing = sorted(set(accepted) - set(counts))
    assert not twice, "delivered more than once: %s" % twice[:10]
    assert not missing, "accepted but never delivered: %s" % missing[:10]


def test_many_reloads_under_many_senders(make_instance, sink):
    inst = make_instance("reloads", sink=sink, smtpd_banner="$myhostname ESMTP gen0").start()
    master_pid = inst.proc.pid
    with Senders(inst) as senders:
        time.sleep(0.5)
        for gen in range(1, RELOADS + 1):
            inst.set(smtpd_banner="$myhostname ESMTP gen%d" % gen)
            inst.reload()
            time.sleep(RELOAD_EVERY)
            assert inst.running(), "master exited after reload %d: %s" % (gen, inst.describe())
        time.sleep(0.5)
    assert inst.running() and inst.proc.pid == master_pid
    assert not senders.failures, "%d of %d sends failed during the reloads: %s" % (
        len(senders.failures), len(senders.failures) + len(senders.accepted),
        senders.failures[:5])
    assert len(senders.accepted) > RELOADS * SENDERS
    wait_until(lambda: "gen%d" % RELOADS in inst.banner(), 20,
               lambda: "the last banner (got %r)" % inst.banner())
    assert_each_delivered_once(sink, senders.accepted, inst)


def test_reload_during_slow_deliveries_delivers_once(make_instance, make_sink):
    # The next hop takes 2 s to answer the end of DATA, so every reload
    # below lands while deliveries are in progress: qmgr and smtp must
    # finish them (and record them) instead of leaving them to be sent again.
    sink = make_sink(data_delay=2.0).start()
    inst = make_instance("slowreload", sink=sink).start()
    accepted = []
    for i in range(6):
        mid = "<slow-%d@test.example>" % i
        inst.send(make_message(subject="slow %d" % i, message_id=mid))
        accepted.append(mid)
    time.sleep(0.5)
    inst.set(smtpd_banner="$myhostname ESMTP after-slow-reload")
    inst.reload()
    time.sleep(0.5)
    inst.reload()
    assert_each_delivered_once(sink, accepted, inst)
    log = inst.log()
    # The scenario happened: the old qmgr waited for deliveries in progress,
    # and the new one for the old one.
    assert "qmgr" in log and "stopping: waiting for" in log, inst.log_tail()
    assert "delivery agent private/smtp failed" not in log, inst.log_tail()
    assert inst.running()


def test_kill_9_master_then_a_new_master_recovers(make_instance, make_sink):
    # master dies without a word while deliveries are in progress. Its
    # daemons must not go on serving the old listeners unsupervised: they
    # get SIGTERM (parent death), close their listeners and finish what
    # they were doing. A new master then starts cleanly (the old lock died
    # with the old master) and delivers whatever is left in active/.
    import os
    import signal
    from postern import port_open
    sink = make_sink(data_delay=1.5).start()
    inst = make_instance("killmaster", sink=sink).start()
    accepted = []
    for i in range(5):
        mid = "<killmaster-%d@test.example>" % i
        inst.send(make_message(subject="killmaster %d" % i, message_id=mid))
        accepted.append(mid)
    time.sleep(0.3)
    daemons = inst.children()
    assert daemons, inst.describe()
    os.kill(inst.proc.pid, signal.SIGKILL)
    inst.proc.wait(10)
    wait_until(lambda: not port_open(inst.port), 10,
               "nothing listening on the old SMTP port after master's death")
    def alive(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    wait_until(lambda: not any(alive(pid) for pid in daemons), 30,
               lambda: "the old daemons to exit: %s" % [pid for pid in daemons if alive(pid)])
    inst.proc = None
    inst.start()
    mid = "<killmaster-after@test.example>"
    inst.send(make_message(subject="after", message_id=mid))
    accepted.append(mid)
    wait_until(lambda: set(accepted) <= set(delivered_ids(sink)), 60,
               lambda: "every accepted message delivered; %s" % inst.describe())
    wait_until(lambda: not any(inst.queue().values()), 20,
               lambda: "an empty queue; %s" % inst.describe())
