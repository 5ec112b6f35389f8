#!/usr/bin/env python3
"""Refresh the code excerpts of docs/library.md from the files they come from.

Every ```rust block that follows a `<!-- from FILE -->` marker is replaced by FILE's text
(for Rust sources, without the file's leading `//!` comment), so the page shows the code that
examples/downstream compiles and runs. tests/library_doc.rs fails when they drift apart.

Usage: python3 scripts/sync_library_doc.py
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "library.md")


def body(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines) and (lines[i].startswith("//!") or lines[i] == ""):
        i += 1
    return "\n".join(lines[i:]).rstrip("\n")


def main():
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()
    pattern = re.compile(r"(<!-- from (\S+) -->\n```rust\n)(.*?)(\n```)", re.S)
    page, n = pattern.subn(lambda m: m.group(1) + body(m.group(2)) + m.group(4), page)
    tmp = PAGE + ".partial.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, PAGE)
    print(f"{n} excerpts refreshed in {os.path.relpath(PAGE, ROOT)}")


if __name__ == "__main__":
    main()
