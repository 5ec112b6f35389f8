"""Paths the fixture scripts share.

`mini_dir()` is the full odyssey-mini corpus that parity fixtures are drawn from: the
environment variable ODYSSEY_MINI_DIR, else ../shared/data/odyssey-mini beside the repository.
The repository itself ships only a sample of it (data/odyssey-mini-sample), which the tests
read; regenerating a fixture from the full corpus needs the corpus, and stops with a message
naming the variable when it is absent.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "data", "odyssey-mini-sample")


def mini_dir():
    path = os.environ.get("ODYSSEY_MINI_DIR") or os.path.join(
        ROOT, "..", "shared", "data", "odyssey-mini"
    )
    if not os.path.isfile(os.path.join(path, "manifest.json")):
        sys.exit(
            f"odyssey-mini not found at {os.path.abspath(path)} (no manifest.json): set "
            "ODYSSEY_MINI_DIR to the full corpus to regenerate this fixture"
        )
    return path
