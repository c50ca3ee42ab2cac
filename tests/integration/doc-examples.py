"""The shell examples of the documentation, as a reader would try them.

    doc-examples.py list FILE...        the examples, one JSON object per line
    doc-examples.py same EXPECTED ACTUAL   exit 0 when ACTUAL reads as EXPECTED

An example is a line "$ COMMAND" in a ```sh block (a line ending in a
backslash goes on on the next), followed by the output the document shows
for it, up to the next "$" line or the end of the block. Outputs are
compared with every number made N (ids, times, durations differ from run
to run) and trailing blanks dropped."""

import json
import re
import sys


def examples(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    in_sh = False
    current = None
    for no, line in enumerate(lines, 1):
        if line.startswith("```"):
            if in_sh and current:
                yield current
                current = None
            in_sh = line.strip() == "```sh" and not in_sh
            continue
        if not in_sh:
            continue
        if current and current["command"].endswith("\\"):
            current["command"] += "\n" + line
            continue
        if line.startswith("$ "):
            if current:
                yield current
            current = {"file": path, "line": no, "command": line[2:], "output": []}
        elif current:
            current["output"].append(line)


def normal(text):
    out = [re.sub(r"[0-9]+", "N", line).rstrip() for line in text.split("\n")]
    while out and not out[-1]:
        out.pop()
    return out


def main():
    if sys.argv[1] == "list":
        for path in sys.argv[2:]:
            for e in examples(path):
                e["output"] = "\n".join(e["output"])
                print(json.dumps(e))
        return 0
    if sys.argv[1] == "same":
        expected = open(sys.argv[2], encoding="utf-8").read()
        actual = open(sys.argv[3], encoding="utf-8", errors="replace").read()
        return 0 if normal(expected) == normal(actual) else 1
    return 2


sys.exit(main())
