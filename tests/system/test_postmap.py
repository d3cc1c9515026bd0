"""postmap: compile a text table into FILE.lmdb atomically, query every table
type with exit codes an operator can script (0 found, 1 not found, 75 try
again), list, delete, add; a bad line changes nothing. Also prints (does not
assert) the time to import 1,000,000 entries."""
import os
import subprocess
import time

import pytest

from postern import binary


def postmap(*args, stdin=None, timeout=60):
    return subprocess.run([binary("postmap")] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def table(workdir):
    path = write(os.path.join(workdir, "transport"),
                 "# transport map\n"
                 "Example.COM      smtp:[relay.example.net]:25\n"
                 "user@example.org discard:\n"
                 "example.com      second-is-ignored\n"
                 "long.example     first part\n"
                 "    continued\n")
    out = postmap(path)
    assert out.returncode == 0, out.stderr
    assert "duplicate entry" in out.stderr and "transport:4" in out.stderr
    return path


def test_compile_and_query(table):
    assert os.path.exists(table + ".lmdb")
    out = postmap("-q", "example.com", "lmdb:" + table)
    assert (out.returncode, out.stdout) == (0, "smtp:[relay.example.net]:25\n")
    out = postmap("-q", "EXAMPLE.com", table)          # folded; default type lmdb
    assert (out.returncode, out.stdout) == (0, "smtp:[relay.example.net]:25\n")
    out = postmap("-q", "long.example", table)
    assert out.stdout == "first part    continued\n"
    out = postmap("-q", "nowhere.example", table)
    assert (out.returncode, out.stdout) == (1, "")


def test_query_stdin(table):
    out = postmap("-q", "-", table, stdin="user@example.org\nnope\nexample.com\n")
    assert out.returncode == 0
    assert out.stdout == "user@example.org\tdiscard:\nexample.com\tsmtp:[relay.example.net]:25\n"
    out = postmap("-q", "-", table, stdin="nope\n")
    assert (out.returncode, out.stdout) == (1, "")


def test_verbose_query_names_the_entry(table):
    out = postmap("-v", "-q", "Example.com", table)
    assert out.returncode == 0
    assert "lmdb:%s key=example.com" % table in out.stderr


def test_dump(table):
    out = postmap("-s", table)
    assert out.returncode == 0
    assert out.stdout.splitlines() == [
        "example.com\tsmtp:[relay.example.net]:25",
        "long.example\tfirst part    continued",
        "user@example.org\tdiscard:",
    ]


def test_delete_and_add(table):
    out = postmap("-d", "user@example.org", table)
    assert out.returncode == 0, out.stderr
    assert postmap("-q", "user@example.org", table).returncode == 1
    assert postmap("-d", "user@example.org", table).returncode == 1   # nothing to delete
    # The text source is untouched (as in Postfix): a rebuild brings it back.
    assert "user@example.org" in open(table).read()

    out = postmap("-i", table, stdin="new.example relay:[new]\nexample.com keep-old\n")
    assert out.returncode == 0, out.stderr
    assert postmap("-q", "new.example", table).stdout == "relay:[new]\n"
    assert postmap("-q", "example.com", table).stdout == "smtp:[relay.example.net]:25\n"
    out = postmap("-r", "-i", table, stdin="example.com replaced\n")
    assert out.returncode == 0, out.stderr
    assert postmap("-q", "example.com", table).stdout == "replaced\n"

    out = postmap("-d", "-", table, stdin="new.example\nexample.com\n")
    assert out.returncode == 0
    assert postmap("-s", table).stdout.splitlines() == ["long.example\tfirst part    continued"]


def test_bad_line_changes_nothing(table):
    before = open(table + ".lmdb", "rb").read()
    inode = os.stat(table + ".lmdb").st_ino
    write(table, "good.example ok\n  \nbroken-line-without-value\nother ok\n")
    out = postmap(table)
    assert out.returncode == 1
    assert out.stderr.strip().endswith(
        "postmap: %s:3: expected format: key whitespace value" % table)
    assert os.stat(table + ".lmdb").st_ino == inode
    assert open(table + ".lmdb", "rb").read() == before
    assert postmap("-q", "example.com", table).returncode == 0
    assert postmap("-q", "good.example", table).returncode == 1
    leftovers = [n for n in os.listdir(os.path.dirname(table)) if ".tmp" in n]
    assert leftovers == []


def test_rebuild_replaces_atomically(table):
    inode = os.stat(table + ".lmdb").st_ino
    write(table, "fresh.example yes\n")
    assert postmap(table).returncode == 0
    assert os.stat(table + ".lmdb").st_ino != inode     # renamed into place
    assert postmap("-q", "fresh.example", table).stdout == "yes\n"
    assert postmap("-q", "example.com", table).returncode == 1


def test_other_table_types(workdir):
    pcre = write(os.path.join(workdir, "checks"),
                 "/^Subject: (.*)spam/  REJECT $1\n"
                 "/^(a|a)*(b|c|d)$/     never\n")
    cidr = write(os.path.join(workdir, "clients"), "192.0.2.0/24 OK\n[2001:db8::]/32 V6\n")
    out = postmap("-q", "Subject: more SPAM", "pcre:" + pcre)
    assert (out.returncode, out.stdout) == (0, "REJECT more \n")
    out = postmap("-q", "192.0.2.55", "cidr:" + cidr)
    assert (out.returncode, out.stdout) == (0, "OK\n")
    assert postmap("-q", "2001:db8::1", "cidr:" + cidr).stdout == "V6\n"
    assert postmap("-q", "198.51.100.1", "cidr:" + cidr).returncode == 1
    out = postmap("-q", "K", "inline:{ k=v, {x = y z} }")
    assert out.stdout == "v\n"
    assert postmap("-q", "x", "inline:{ k=v, {x = y z} }").stdout == "y z\n"
    assert postmap("-q", "anything", "static:{ a b }").stdout == "a b\n"
    out = postmap("-s", "inline:{ b=2, a=1 }")
    assert out.stdout == "b\t2\na\t1\n"
    # first table that has the key wins
    assert postmap("-q", "k", "inline:{x=1}", "inline:{k=2}", "static:3").stdout == "2\n"

    # A runaway pattern hits the match limit: temporary failure, exit 75.
    out = postmap("-q", "a" * 40 + "!", "pcre:" + pcre)
    assert out.returncode == 75, (out.returncode, out.stderr)
    assert "match limit" in out.stderr
    assert out.stdout == ""

    # -s on a type without entries; compiling a pcre table.
    out = postmap("-s", "pcre:" + pcre)
    assert out.returncode == 1 and "not supported" in out.stderr
    out = postmap("pcre:" + pcre)
    assert out.returncode == 1 and "only lmdb" in out.stderr


def test_open_errors(workdir):
    bad = write(os.path.join(workdir, "bad.pcre"), "/ok/ fine\nif /x/\n/(/ broken\nendif\n")
    out = postmap("-q", "x", "pcre:" + bad)
    assert out.returncode == 1
    assert "%s:3: bad regex" % bad in out.stderr
    out = postmap("-q", "x", "hash:/etc/aliases")
    assert out.returncode == 1 and "use lmdb:" in out.stderr
    out = postmap("-q", "x", os.path.join(workdir, "never-built"))
    assert out.returncode == 1 and "run postmap" in out.stderr


def test_usage():
    out = postmap("-Z", "x")
    assert out.returncode == 2 and "usage:" in out.stderr
    out = postmap("-q", "k", "-s", "x")
    assert out.returncode == 2
    out = postmap()
    assert out.returncode == 2
    out = postmap("--help")
    assert out.returncode == 0
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT"):
        assert section in out.stdout


def test_million_entry_import(workdir):
    path = os.path.join(workdir, "big")
    with open(path, "w") as f:
        f.writelines("host%07d.example%d.com smtp:[relay%d.example.net]:25\n"
                     % (i, i % 1000, i % 50) for i in range(1000000))
    start = time.monotonic()
    out = postmap(path, timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    print("\npostmap: 1,000,000 entries imported in %.2f s" % took)
    assert postmap("-q", "host0999999.example999.com", path).stdout == "smtp:[relay49.example.net]:25\n"
    keys = "".join("host%07d.example%d.com\n" % (i, i % 1000) for i in range(0, 1000000, 10))
    start = time.monotonic()
    out = postmap("-q", "-", path, stdin=keys, timeout=120)
    took = time.monotonic() - start
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == 100000
    print("postmap: 100,000 queries through postmap -q - in %.2f s" % took)
