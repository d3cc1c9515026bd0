"""Least privilege: master keeps root for itself only; every daemon runs as
mail_owner; the queue belongs to mail_owner and is closed to others. Without
root, everything runs as the invoking user."""
import os
import stat

from postern import is_root, make_message, owner_ids, wait_until


def proc_ids(pid):
    """(real uid, effective uid, groups) of a process, from /proc."""
    uids = groups = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uids = [int(x) for x in line.split()[1:]]
            elif line.startswith("Groups:"):
                groups = [int(x) for x in line.split()[1:]]
    return uids, groups


def test_daemons_run_as_mail_owner(make_instance, sink):
    inst = make_instance("priv", sink=sink).start()
    code, _ = inst.send(make_message(subject="priv"))
    assert code == 250
    sink.wait_count(1, 30, inst.describe)
    wait_until(lambda: len(inst.children()) >= 3, 10, "daemons running")
    want = owner_ids()[0] if is_root() else os.geteuid()
    master_uids, _ = proc_ids(inst.proc.pid)
    assert master_uids[1] == os.geteuid()
    for pid in inst.children():
        uids, groups = proc_ids(pid)
        assert uids == [want] * 4, "pid %d runs with uids %s, want %d" % (pid, uids, want)
        if is_root():
            assert groups == [owner_ids()[1]], "pid %d keeps groups %s" % (pid, groups)


def test_queue_belongs_to_mail_owner_and_is_closed(make_instance):
    inst = make_instance("privq").start()
    owner = owner_ids()[0] if is_root() else os.geteuid()
    top = os.stat(inst.queue_dir)
    assert top.st_uid == owner
    assert stat.S_IMODE(top.st_mode) == 0o711, oct(top.st_mode)
    for sub in ("incoming", "active", "deferred", "hold", "corrupt", "private", "tmp", "pid"):
        st = os.stat(os.path.join(inst.queue_dir, sub))
        assert st.st_uid == owner, sub
        assert stat.S_IMODE(st.st_mode) & 0o077 == 0, "%s is open to others: %o" % (sub, st.st_mode)


def test_root_mail_owner_is_refused(make_instance):
    inst = make_instance("privroot", allow_fatal=True, mail_owner="root")
    res = inst.run_master("-t")
    text = res.stdout + res.stderr
    assert res.returncode != 0, text
    assert "mail_owner" in text and "root" in text, text
