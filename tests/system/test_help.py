"""Every program prints a manual page with --help (and -h where -h is not an
option of its own), and rejects a bad option with a usage line and exit 2."""
import subprocess

import pytest

from postern import binary

PROGRAMS = ["master", "smtpd", "cleanup", "qmgr", "smtp", "showq", "postcat", "postmap", "postqueue", "postsuper", "postroute"]


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_is_a_manual_page(program):
    out = subprocess.run([binary(program), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION"):
        assert section in out.stdout, f"{program} --help lacks {section}"
    assert program in out.stdout.split("\n")[1]


@pytest.mark.parametrize("program", ["smtpd", "cleanup", "qmgr", "smtp", "master"])
def test_dash_h_is_help(program):
    out = subprocess.run([binary(program), "-h"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert "SYNOPSIS" in out.stdout


@pytest.mark.parametrize("program", PROGRAMS)
def test_bad_option_gives_usage(program):
    out = subprocess.run([binary(program), "-Z"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "usage:" in out.stderr
