"""postern.py - harness for Postern's system tests: real processes on loopback.

    Instance(base_dir, name="a", sink_port=None, **params)
        A private Postern instance under base_dir/name: conf/ (main.cf and
        master.cf), queue/, data/, libexec/ (symlinks to the built daemons),
        maillog. Keyword parameters override main.cf settings (a value of
        None removes a default). .start(), .stop(), .kill(), .restart(),
        .send(), .smtp(), .queue(), .log(), .children(name), .run_master().
    Sink(base_dir, name="sink", port=None, fail_rcpt=(), data_delay=0.0)
        tests/sink/sink.py as a subprocess; .start(), .stop(), .messages(),
        .count(), .wait_count(n).
    wait_until(predicate, timeout, what)   poll until predicate() is truthy.
    free_port()                            an unused TCP port on 127.0.0.1.
    make_message(...)                      a small CRLF message as bytes.

Binaries come from $POSTERN_BUILD_DIR (default: build/ in the source tree); a missing
binary is an error (HarnessError), never a skip. When the tests run as root,
master drops its daemons to mail_owner: the harness creates the system user
"postern" if it is missing and makes every directory a daemon needs reachable
by it. Every directory is below a 0755 base directory in /tmp (pytest's own
temporary directories are 0700 root).
"""

import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SINK_SCRIPT = os.path.join(REPO, "tests", "sink", "sink.py")
PYTHON = "/usr/bin/python3"
DAEMONS = ("master", "smtpd", "cleanup", "qmgr", "smtp", "showq")
TOOLS = ("postcat", "postqueue", "postsuper")
STATES = ("incoming", "active", "deferred", "hold", "corrupt")
TEST_USER = "postern"
QUEUE_ID_RE = re.compile(r"\b([0-9A-F]{20,40})\b")


class HarnessError(Exception):
    """The test environment is broken (missing binary, process won't start)."""


# --------------------------------------------------------------------------
# Build directory and binaries

def build_dir():
    value = os.environ.get("POSTERN_BUILD_DIR", os.path.join(REPO, "build"))
    if os.path.isabs(value):
        return value
    for root in (os.getcwd(), REPO):
        candidate = os.path.abspath(os.path.join(root, value))
        if os.path.isdir(candidate):
            return candidate
    return os.path.abspath(os.path.join(REPO, value))


def binary(name):
    """Absolute path of a built program (build/<name>/<name>); raise if missing."""
    path = os.path.join(build_dir(), name, name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise HarnessError("%s is not built: %s does not exist or is not executable "
                           "(POSTERN_BUILD_DIR=%s)" % (name, path, build_dir()))
    return path


def missing_binaries(names=DAEMONS + ("postcat",)):
    out = []
    for name in names:
        try:
            binary(name)
        except HarnessError as exc:
            out.append(str(exc))
    return out


# --------------------------------------------------------------------------
# Small helpers

def is_root():
    return os.geteuid() == 0


def ensure_test_user():
    """As root: the unprivileged account daemons run as. Returns its name."""
    try:
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    except KeyError:
        pass
    res = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                          "/usr/sbin/nologin", TEST_USER],
                         capture_output=True, text=True)
    try:
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    except KeyError:
        pass
    try:
        pwd.getpwnam("nobody")
        return "nobody"
    except KeyError:
        raise HarnessError("cannot create user %s: %s" % (TEST_USER, res.stderr.strip()))


def owner_ids():
    """(uid, gid) that daemons run as, or None when not root."""
    if not is_root():
        return None
    pw = pwd.getpwnam(ensure_test_user())
    return pw.pw_uid, pw.pw_gid


def make_base_dir(prefix="postern-systest-"):
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout=10.0, what="condition", interval=0.1):
    """Poll predicate() until it returns something truthy; return that value.
    On timeout raise AssertionError naming `what` (a string or a callable
    that returns one, for a description of the state at the time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, desc))
        time.sleep(interval)


def make_message(subject="test", message_id=None, body=b"hello\r\n", sender="sender@example.com",
                 rcpt="rcpt@example.net", extra_headers=b"", size=None):
    """A CRLF message as bytes. size pads the body with 76-char lines to about
    that many bytes."""
    head = b""
    head += b"From: <" + sender.encode() + b">\r\n"
    head += b"To: <" + rcpt.encode() + b">\r\n"
    head += b"Subject: " + subject.encode() + b"\r\n"
    if message_id:
        head += b"Message-ID: " + message_id.encode() + b"\r\n"
    head += extra_headers
    msg = head + b"\r\n" + body
    if size is not None:
        line = b"0123456789" * 7 + b"abcdef\r\n"
        while len(msg) + len(line) <= size:
            msg += line
    return msg


def header_block(content):
    return content.split(b"\r\n\r\n", 1)[0]


def message_ids(content):
    """All Message-ID values in the header block of a message (bytes in)."""
    return [m.decode("ascii", "replace")
            for m in re.findall(rb"(?im)^message-id:[ \t]*(\S+)", header_block(content))]


def queue_id_from_reply(reply):
    """Queue ID from an end-of-data reply text like b'2.0.0 Ok: queued as ID'."""
    text = reply.decode("ascii", "replace") if isinstance(reply, bytes) else reply
    m = QUEUE_ID_RE.search(text)
    return m.group(1) if m else None


def read_smtp_replies(sock, timeout=10.0):
    """Read from sock until EOF or timeout; return (raw bytes, list of final
    reply lines as text, e.g. ['250 2.0.0 Ok', '221 2.0.0 Bye'])."""
    sock.settimeout(0.5)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    finals = []
    for line in data.split(b"\r\n"):
        if re.match(rb"^[0-9]{3}( |$)", line):
            finals.append(line.decode("ascii", "replace"))
    return data, finals


# --------------------------------------------------------------------------
# The sink

class Sink:
    """tests/sink/sink.py in a subprocess; messages stored under dir."""

    def __init__(self, base_dir, name="sink", port=None, fail_rcpt=(), data_delay=0.0):
        self.port = port or free_port()
        self.data_delay = data_delay
        self.dir = os.path.join(base_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.fail_rcpt = list(fail_rcpt)
        self.proc = None
        self.out_path = os.path.join(base_dir, name + ".out")

    def start(self, timeout=10.0):
        if not os.path.isfile(SINK_SCRIPT):
            raise HarnessError("sink script missing: " + SINK_SCRIPT)
        cmd = [PYTHON, SINK_SCRIPT, "--port", str(self.port), "--dir", self.dir]
        for rule in self.fail_rcpt:
            cmd += ["--fail-rcpt", rule]
        if self.data_delay:
            cmd += ["--data-delay", str(self.data_delay)]
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise HarnessError("sink exited (%s): %s" % (self.proc.returncode, self.output()))
            if time.monotonic() > deadline:
                raise HarnessError("sink did not listen on port %d" % self.port)
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def output(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def eml_numbers(self):
        nums = []
        for name in os.listdir(self.dir):
            m = re.fullmatch(r"([0-9]+)\.eml", name)
            if m:
                nums.append(int(m.group(1)))
        return sorted(nums)

    def count(self):
        return len(self.eml_numbers())

    def contents(self):
        """The stored contents (bytes) in arrival order, without envelopes."""
        out = []
        for n in self.eml_numbers():
            with open(os.path.join(self.dir, "%d.eml" % n), "rb") as f:
                out.append(f.read())
        return out

    def messages(self):
        """List of dicts: n, content (bytes), mail_from, rcpt_tos, ... ."""
        out = []
        for n in self.eml_numbers():
            with open(os.path.join(self.dir, "%d.eml" % n), "rb") as f:
                content = f.read()
            with open(os.path.join(self.dir, "%d.json" % n)) as f:
                meta = json.load(f)
            meta["n"] = n
            meta["content"] = content
            out.append(meta)
        return out

    def wait_count(self, n, timeout=30.0, extra=None):
        def describe():
            text = "%d messages at the sink (have %d)" % (n, self.count())
            return text + (("; " + extra()) if extra else "")
        wait_until(lambda: self.count() >= n, timeout, describe, interval=0.2)
        return self.count()


# --------------------------------------------------------------------------
# A Postern instance

class Instance:
    def __init__(self, base_dir, name="postern", sink_port=None, smtp_port=None,
                 master_cf=None, **params):
        for prog in DAEMONS:
            binary(prog)  # fail loudly, right away
        self.name = name
        self.root = os.path.join(base_dir, name)
        self.conf = os.path.join(self.root, "conf")
        self.queue_dir = os.path.join(self.root, "queue")
        self.data_dir = os.path.join(self.root, "data")
        self.libexec = os.path.join(self.root, "libexec")
        self.maillog = os.path.join(self.root, "maillog")
        self.master_out = os.path.join(self.root, "master.out")
        self.port = smtp_port or free_port()
        self.sink_port = sink_port or free_port()
        self.proc = None
        self.env = None         # master's environment (None: the harness's own)
        self.ids = owner_ids()
        for d in (self.root, self.conf, self.data_dir, self.libexec):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        if self.ids:
            os.chown(self.data_dir, *self.ids)
        self._make_libexec()
        self.params = self.default_params()
        for key, value in params.items():
            if value is None:
                self.params.pop(key, None)
            else:
                self.params[key] = str(value)
        self.master_cf_text = master_cf
        self.write_config()
        if not os.path.exists(self.maillog):
            open(self.maillog, "ab").close()
        os.chmod(self.maillog, 0o644)
        if self.ids:
            os.chown(self.maillog, *self.ids)

    def _make_libexec(self):
        for prog in DAEMONS + TOOLS:
            link = os.path.join(self.libexec, prog)
            target = os.path.join(build_dir(), prog, prog)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(target, link)

    def default_params(self):
        p = {
            "config_directory": self.conf,
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "daemon_directory": self.libexec,
            "command_directory": self.libexec,
            "maillog_file": self.maillog,
            "syslog_name": "postern-" + self.name,
            "myhostname": "postern-%s.test.example" % self.name,
            "relayhost": "[127.0.0.1]:%d" % self.sink_port,
            "mynetworks": "127.0.0.0/8",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "queue_run_delay": "2s",
            "smtp_connect_timeout": "5s",
        }
        if self.ids:
            p["mail_owner"] = pwd.getpwuid(self.ids[0]).pw_name
        return p

    def default_master_cf(self):
        # Daemon-to-daemon sockets are private (private/NAME, mail_proto.h),
        # as in conf/master.cf; showq's is public (public/showq, postqueue).
        return ("127.0.0.1:%d inet n - n - - smtpd\n"
                "cleanup          unix - - n - 0 cleanup\n"
                "qmgr             unix - - n 300 1 qmgr\n"
                "smtp             unix - - n - - smtp\n"
                "showq            unix n - n - - showq\n" % self.port)

    def write_config(self):
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("# written by tests/system/postern.py\n")
            for key, value in self.params.items():
                f.write("%s = %s\n" % (key, value))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(self.master_cf_text or self.default_master_cf())
        for fname in ("main.cf", "master.cf"):
            os.chmod(os.path.join(self.conf, fname), 0o644)

    def set(self, **params):
        """Change main.cf parameters (written at once; SIGHUP or restart to apply)."""
        for key, value in params.items():
            if value is None:
                self.params.pop(key, None)
            else:
                self.params[key] = str(value)
        self.write_config()

    # ---- processes

    def master_cmd(self, *extra):
        return [binary("master"), "-c", self.conf] + list(extra)

    def run_master(self, *extra, timeout=20):
        """Run master with extra arguments to completion (e.g. "-t");
        returns CompletedProcess with text stdout/stderr."""
        return subprocess.run(self.master_cmd(*extra), capture_output=True, text=True,
                              timeout=timeout, errors="replace")

    def start(self, timeout=15.0):
        if self.proc and self.proc.poll() is None:
            raise HarnessError("instance %s already started" % self.name)
        self._log_mark_start = self.log_size()
        out = open(self.master_out, "ab")
        self.proc = subprocess.Popen(self.master_cmd(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=self.env)
        out.close()
        deadline = time.monotonic() + timeout
        while not self.banner_ok():
            if self.proc.poll() is not None:
                raise HarnessError("master of %s exited with %s before serving port %d\n"
                                   "--- master output:\n%s\n--- maillog tail:\n%s"
                                   % (self.name, self.proc.returncode, self.port,
                                      self.master_output()[-3000:], self.log_tail()))
            if time.monotonic() > deadline:
                raise HarnessError("master of %s: no SMTP greeting on port %d within %.0fs\n"
                                   "--- master output:\n%s\n--- maillog tail:\n%s"
                                   % (self.name, self.port, timeout,
                                      self.master_output()[-3000:], self.log_tail()))
            time.sleep(0.1)
        return self

    def banner_ok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.settimeout(2)
                data = s.recv(512)
                return data.startswith(b"220")
        except OSError:
            return False

    def banner(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.settimeout(5)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            return data.decode("ascii", "replace").strip()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM master and wait; returns its exit status (None if it
        had to be killed)."""
        if not self.proc:
            return None
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.proc = None
            return rc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL master and every process in its session (test teardown)."""
        if not self.proc:
            return
        pid = self.proc.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def cleanup(self):
        """Teardown: stop master with SIGTERM; kill whatever is left of its
        session. Returns a list of problems (empty when master exited 0 and
        took every daemon with it)."""
        problems = []
        if self.proc is None:
            return problems
        pid = self.proc.pid
        rc = self.stop(timeout=20)
        if rc is None:
            problems.append("master did not exit within 20s of SIGTERM (killed)")
        elif rc != 0:
            problems.append("master exited %s on SIGTERM" % rc)
        time.sleep(0.2)
        left = session_pids(pid)
        if left:
            problems.append("processes left after master exited: %s" % ", ".join(
                "%d (%s)" % (p, proc_name(p)) for p in left))
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        return problems

    def log_problems(self, allow_fatal=False):
        """panic (always) and fatal (unless allowed) lines in the maillog."""
        rx = r"\b(panic|fatal):" if not allow_fatal else r"\bpanic:"
        return self.log_lines(rx)

    def restart(self):
        self.stop()
        return self.start()

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def master_output(self):
        try:
            with open(self.master_out, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def children(self, name=None):
        """PIDs of master's direct children, optionally only those running
        the daemon `name` (matched on /proc/PID/exe, else argv[0])."""
        if not self.running():
            return []
        master_pid = self.proc.pid
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    stat = f.read()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != master_pid:
                    continue
                if name is None:
                    out.append(pid)
                    continue
                prog = None
                try:
                    prog = os.path.basename(os.readlink("/proc/%d/exe" % pid))
                    if prog.endswith(" (deleted)"):
                        prog = prog[:-len(" (deleted)")]
                except OSError:
                    pass
                if prog != name:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        argv0 = f.read().split(b"\0", 1)[0].decode("utf-8", "replace")
                    prog = os.path.basename(argv0)
                if prog == name:
                    out.append(pid)
            except (OSError, IndexError, ValueError):
                continue
        return out

    # ---- SMTP

    def smtp(self, timeout=30):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=timeout)
        s.ehlo("client.test.example")
        return s

    def send(self, msg, sender="sender@example.com", rcpts=("rcpt@example.net",),
             conn=None):
        """Send one message; returns (code, reply bytes) of the end of data.
        Raises smtplib exceptions for a refused sender/recipient/data."""
        own = conn is None
        s = conn or self.smtp()
        try:
            opts = ["BODY=8BITMIME"] if s.has_extn("8bitmime") else []
            code, resp = s.mail(sender, opts)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, sender)
            for r in rcpts:
                code, resp = s.rcpt(r)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({r: (code, resp)})
            code, resp = s.data(msg)
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
            return code, resp
        finally:
            if own:
                try:
                    s.quit()
                except smtplib.SMTPException:
                    s.close()
                except OSError:
                    s.close()

    # ---- queue

    def queue(self, states=STATES):
        """{state: [queue IDs]} from walking queue/STATE/*/*/*."""
        out = {}
        for state in states:
            ids = []
            top = os.path.join(self.queue_dir, state)
            if os.path.isdir(top):
                for dirpath, _dirnames, filenames in os.walk(top):
                    ids.extend(filenames)
            out[state] = sorted(ids)
        return out

    def queue_count(self, states=STATES):
        return sum(len(v) for v in self.queue(states).values())

    def queue_summary(self):
        return ", ".join("%s=%d" % (k, len(v)) for k, v in self.queue().items())

    def tmp_files(self):
        top = os.path.join(self.queue_dir, "tmp")
        found = []
        if os.path.isdir(top):
            for dirpath, _dirnames, filenames in os.walk(top):
                found.extend(filenames)
        return found

    # ---- log

    def log_size(self):
        try:
            return os.path.getsize(self.maillog)
        except OSError:
            return 0

    def log(self, since=0):
        try:
            with open(self.maillog, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, pattern=None, since=0):
        lines = self.log(since).splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [line for line in lines if rx.search(line)]

    def log_tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def describe(self):
        return "queue: %s; last log lines:\n%s" % (self.queue_summary(), self.log_tail(15))


def session_pids(sid):
    """PIDs of live (non-zombie) processes in session `sid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return out


def proc_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def debug(*args):
    print(*args, file=sys.stderr, flush=True)
