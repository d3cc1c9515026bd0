"""Fixtures for Postern's system tests (see postern.py for the harness).

    make_instance(name="postern", sink=None, **params) -> started? no: an
        Instance, configured (relayhost points at `sink` when given); call
        .start(). Stopped at teardown; on failure its maillog tail is printed.
    make_sink(name="sink", port=None, fail_rcpt=()) -> a Sink, not started.
    sink -> a started Sink.
    workdir -> a 0755 directory for this test under the session base dir.

The session base dir (/tmp/postern-systest-*) is removed when every test
passed and kept (its path printed) otherwise; POSTERN_KEEP_TMP=1 keeps it.
"""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import postern  # noqa: E402


def pytest_report_header(config):
    lines = ["postern build dir: %s" % postern.build_dir()]
    missing = postern.missing_binaries()
    if missing:
        lines.append("MISSING: " + "; ".join(missing))
    return lines


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        item.session.postern_failed = True


@pytest.fixture(scope="session")
def base_dir(request):
    path = postern.make_base_dir()
    yield path
    if getattr(request.session, "postern_failed", False) or os.environ.get("POSTERN_KEEP_TMP"):
        sys.stderr.write("\nsystem test files kept in %s\n" % path)
    else:
        postern.remove_tree(path)


@pytest.fixture
def workdir(base_dir, request):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    path = os.path.join(base_dir, name)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture
def make_sink(workdir):
    sinks = []

    def factory(name="sink", port=None, fail_rcpt=(), data_delay=0.0):
        s = postern.Sink(workdir, name=name, port=port, fail_rcpt=fail_rcpt,
                         data_delay=data_delay)
        sinks.append(s)
        return s

    yield factory
    for s in sinks:
        s.stop()


@pytest.fixture
def sink(make_sink):
    return make_sink().start()


@pytest.fixture
def make_instance(workdir, request):
    """Instances are checked at teardown (when the test itself passed):
    master must exit 0 on SIGTERM and leave no daemon behind, and the
    maillog must hold no panic: line, nor fatal: unless the instance was
    made with allow_fatal=True."""
    instances = []

    def factory(name="postern", sink=None, allow_fatal=False, **params):
        if sink is not None and "sink_port" not in params:
            params["sink_port"] = sink.port
        inst = postern.Instance(workdir, name=name, **params)
        inst.allow_fatal = allow_fatal
        instances.append(inst)
        return inst

    yield factory
    failed = _failed(request)
    problems = []
    for inst in instances:
        for p in inst.cleanup():
            problems.append("%s: %s" % (inst.name, p))
        for line in inst.log_problems(inst.allow_fatal):
            problems.append("%s: maillog: %s" % (inst.name, line))
        if failed:
            print("\n===== %s: queue %s; master output:\n%s\n===== maillog tail:\n%s"
                  % (inst.name, inst.queue_summary(), inst.master_output()[-2000:],
                     inst.log_tail(60)))
    if problems and not failed:
        pytest.fail("after the test:\n  " + "\n  ".join(problems[:20]), pytrace=False)
