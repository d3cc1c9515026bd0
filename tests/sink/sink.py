#!/usr/bin/python3
"""sink.py - an SMTP sink for Postern's demo and system tests.

Listens on 127.0.0.1:PORT and stores every message it accepts as two files
in --dir:

    <n>.eml   the message content exactly as received (after SMTP dot
              un-stuffing, as RFC 5321 requires), byte for byte: CRLF line
              ends, 8-bit bytes and all. Open it with any mail reader.
    <n>.json  the envelope: mail_from, rcpt_tos, mail_options, rcpt_options,
              peer, helo, received (UNIX time), size.

Files appear atomically (written under a dot-name, then renamed), the .json
before the .eml, so a reader that sees <n>.eml always finds <n>.json.
<n> counts from 1 and continues after the highest number already in --dir,
so a restarted sink never overwrites what an earlier one stored.

For every message one line goes to standard output:

    <n> from=<sender> to=<rcpt>[,<rcpt>...] size=<bytes> message-id=<id>

Options:
    --port PORT           TCP port on 127.0.0.1 (required)
    --dir DIR             where to store messages (created if missing)
    --fail-rcpt RE=CODE   answer RCPT TO with CODE (4xx or 5xx) when the
                          address matches the regular expression RE
                          (re.search, case-insensitive); repeatable, first
                          match wins. The split is at the last '='.
    --host ADDR           listen address (default 127.0.0.1)
    --data-delay SECONDS  wait this long after the end of DATA before
                          storing and answering (a slow next hop)

Uses aiosmtpd (Debian: python3-aiosmtpd) with decode_data=False, so nothing
is decoded or re-encoded; lines up to 64 KiB are accepted.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time

from aiosmtpd.smtp import SMTP


class LenientSMTP(SMTP):
    """aiosmtpd's server with a longer line limit: a sink should store
    whatever a relay forwards, not judge it."""
    line_length_limit = 65536


def parse_fail_rcpt(text):
    pattern, sep, code = text.rpartition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError("expected REGEX=CODE, got %r" % text)
    if not re.fullmatch(r"[45][0-9][0-9]", code):
        raise argparse.ArgumentTypeError("CODE must be 4xx or 5xx, got %r" % code)
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise argparse.ArgumentTypeError("bad regex %r: %s" % (pattern, exc))
    return rx, int(code)


def highest_stored(directory):
    top = 0
    for name in os.listdir(directory):
        m = re.fullmatch(r"([0-9]+)\.eml", name)
        if m:
            top = max(top, int(m.group(1)))
    return top


def write_atomic(directory, name, data):
    tmp = os.path.join(directory, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(directory, name))


def message_id_of(content):
    head = content.split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"(?im)^message-id:[ \t]*(\S+)", head)
    return m.group(1).decode("ascii", "replace") if m else "-"


class SinkHandler:
    def __init__(self, directory, fail_rules, data_delay=0.0):
        self.directory = directory
        self.fail_rules = fail_rules
        self.data_delay = data_delay
        self.count = highest_stored(directory)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for rx, code in self.fail_rules:
            if rx.search(address):
                cls = code // 100
                return "%d %d.0.0 sink: refusing <%s> as told (--fail-rcpt)" % (
                    code, cls, address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay > 0:
            await asyncio.sleep(self.data_delay)
        content = envelope.original_content
        self.count += 1
        n = self.count
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "received": time.time(),
            "size": len(content),
        }
        write_atomic(self.directory, "%d.json" % n,
                     (json.dumps(meta, indent=1) + "\n").encode())
        write_atomic(self.directory, "%d.eml" % n, content)
        print("%d from=<%s> to=%s size=%d message-id=%s" % (
            n, envelope.mail_from,
            ",".join("<%s>" % r for r in envelope.rcpt_tos),
            len(content), message_id_of(content)), flush=True)
        return "250 2.0.0 Ok: sink stored %d" % n


def main():
    ap = argparse.ArgumentParser(description="SMTP sink that stores messages byte for byte")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--fail-rcpt", action="append", default=[], type=parse_fail_rcpt,
                    metavar="REGEX=CODE")
    ap.add_argument("--data-delay", type=float, default=0.0, metavar="SECONDS")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    handler = SinkHandler(args.dir, args.fail_rcpt, args.data_delay)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return LenientSMTP(handler, decode_data=False, enable_SMTPUTF8=True,
                           data_size_limit=None, hostname="sink.test",
                           ident="postern-test-sink", loop=loop)

    try:
        server = loop.run_until_complete(
            loop.create_server(factory, host=args.host, port=args.port,
                               reuse_address=True))
    except OSError as exc:
        print("sink: cannot listen on %s:%d: %s" % (args.host, args.port, exc),
              file=sys.stderr, flush=True)
        return 1
    print("sink: listening on %s:%d, storing in %s" % (args.host, args.port, args.dir),
          flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
