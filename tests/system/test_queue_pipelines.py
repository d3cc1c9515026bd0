"""The operator's one-liners from the seeds: select with postqueue, act with
postsuper, e.g.

    postqueue -j --sender='^bulk@' | jq -r .queue_id | postsuper -d -

run as real pipelines (the jq step done by a small Python filter, since jq
is not a dependency)."""
import json
import subprocess

import postern
from postern import binary, wait_until

SLOW = dict(minimal_backoff_time="1h", maximal_backoff_time="2h", queue_run_delay="1h")
QUEUE_IDS = [postern.PYTHON, "-c",
             "import json,sys\n"
             "for line in sys.stdin:\n"
             "    print(json.loads(line)['queue_id'])\n"]


def postqueue(inst, *args):
    res = subprocess.run([binary("postqueue"), "-c", inst.conf] + list(args),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, (args, res.stderr)
    return res.stdout


def count(inst, *args):
    return int(postqueue(inst, "-n", *args).strip())


def pipeline(inst, select, action):
    """postqueue -j SELECT | queue_ids | postsuper ACTION -; returns postsuper's result."""
    pq = subprocess.Popen([binary("postqueue"), "-c", inst.conf, "-j"] + select,
                          stdout=subprocess.PIPE)
    ids = subprocess.Popen(QUEUE_IDS, stdin=pq.stdout, stdout=subprocess.PIPE)
    pq.stdout.close()
    ps = subprocess.run([binary("postsuper"), "-c", inst.conf, action, "-"],
                        stdin=ids.stdout, capture_output=True, text=True, timeout=60)
    ids.stdout.close()
    assert pq.wait(30) == 0 and ids.wait(30) == 0
    return ps


def senders(inst, *args):
    return sorted(json.loads(line)["sender"] for line in postqueue(inst, "-j", *args).splitlines())


def test_select_and_delete_and_hold(make_instance, make_sink):
    sink = make_sink()                      # never started: everything defers
    inst = make_instance("pipes", sink=sink, **SLOW).start()
    for i in range(5):
        code, _ = inst.send(postern.make_message(subject="bulk %d" % i),
                            sender="bulk@lists.example", rcpts=("u%d@a.example" % i,))
        assert code == 250
    for i in range(3):
        code, _ = inst.send(postern.make_message(subject="ops %d" % i),
                            sender="ops@corp.example", rcpts=("v%d@b.example" % i,))
        assert code == 250
    wait_until(lambda: count(inst, "--queue=deferred") == 8, 30, inst.describe)

    # Delete everything from the bulk sender, and only that.
    res = pipeline(inst, ["--sender=^bulk@"], "-d")
    assert res.returncode == 0, res.stderr
    assert "Deleted: 5 messages" in res.stderr, res.stderr
    assert count(inst) == 3
    assert senders(inst) == ["ops@corp.example"] * 3
    assert len(inst.queue()["deferred"]) == 3

    # Hold what goes to one recipient domain; the rest stays deferred.
    res = pipeline(inst, ["--domain=^b\\.example$", "--recipient=^v[01]@"], "-h")
    assert res.returncode == 0, res.stderr
    assert "Placed on hold: 2 messages" in res.stderr, res.stderr
    assert count(inst, "--queue=hold") == 2
    assert count(inst, "--queue=deferred") == 1
    q = inst.queue()
    assert len(q["hold"]) == 2 and len(q["deferred"]) == 1
