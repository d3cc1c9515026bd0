#!/usr/bin/python3
"""Regenerate the parameter tables of docs/configuration.md from lib/mail/params.c.

The one table of parameters lives in lib/mail/params.c; this script prints it as
Markdown between the markers in docs/configuration.md. tests/unit/test_config
fails when a parameter is missing from the document.
"""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
src = (root / "lib/mail/params.c").read_text()
body = src[src.index("param_table[] = {"):]
rows = []
section = None
for m in re.finditer(r'/\* ([A-Za-z][^*]*?) \*/|(STR|NUM|TIME|SIZE)\(\s*"([a-z_0-9]+)",\s*(?:"((?:[^"\\]|\\.)*)"|[A-Z_]+)(.*?)"((?:[^"\\]|\\.)*)"\)', body, re.S):
    if m.group(1):
        section = m.group(1).strip()
        rows.append(("section", section))
        continue
    kind, name, default, _, doc = m.group(2), m.group(3), m.group(4) or "", m.group(5), m.group(6)
    doc = re.sub(r'"\s*"', "", doc).replace('\\"', '"')
    kinds = {"STR": "text", "NUM": "number", "TIME": "time", "SIZE": "bytes"}
    if name in ("config_directory", "daemon_directory", "command_directory",
                "queue_directory", "data_directory"):
        default = "(set at build time from the meson prefix)"
    rows.append(("param", name, kinds[kind], default, doc))

out = []
for row in rows:
    if row[0] == "section":
        out.append(f"\n### {row[1]}\n")
        out.append("| parameter | kind | default | meaning |")
        out.append("|---|---|---|---|")
    else:
        _, name, kind, default, doc = row
        shown = f"`{default}`" if default else "(empty)"
        cell = doc.replace("|", "\\|")
        out.append(f"| `{name}` | {kind} | {shown} | {cell} |")
table = "\n".join(out).strip() + "\n"

doc_path = root / "docs/configuration.md"
text = doc_path.read_text()
begin, end = "<!-- BEGIN PARAMETERS -->", "<!-- END PARAMETERS -->"
head, rest = text.split(begin)
_, tail = rest.split(end)
doc_path.write_text(head + begin + "\n" + table + end + tail)
print(f"{doc_path}: {sum(1 for r in rows if r[0] == 'param')} parameters")
