#!/usr/bin/env python3
"""Keeps the code in docs/*.md, README.md and bench/README.md equal to the tested code it is cut from.

A page marks a snippet like this (the code block between the markers is generated):

    <!-- snippet: examples/00_fashion_mnist.cpp docs:model -->
    ```cpp
    ...
    ```
    <!-- /snippet -->

and the source file marks the region with `// [docs:model]` ... `// [/docs:model]`.

    docs/snippets.py           rewrite every page's snippets from the sources
    docs/snippets.py --check   exit 1 (and say which) if a page differs from its sources; CTest runs this
"""
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- snippet: (\S+) (\S+) -->\n)(.*?)(<!-- /snippet -->)", re.S)


def region(path, name):
    text = (ROOT / path).read_text()
    m = re.search(rf"^[ \t]*// \[{re.escape(name)}\][^\n]*\n(.*?)^[ \t]*// \[/{re.escape(name)}\]", text, re.S | re.M)
    if not m:
        sys.exit(f"plait: snippet {name} not found in {path}. A page refers to a region the source does not mark. "
                 f"Fix: add // [{name}] ... // [/{name}] to {path}, or correct the page.")
    return textwrap.dedent(m.group(1))


def render(page):
    def one(m):
        lang = "cpp" if m.group(2).endswith((".cpp", ".hpp", ".cu")) else ""
        return f"{m.group(1)}```{lang}\n{region(m.group(2), m.group(3))}```\n{m.group(5)}"
    return BLOCK.sub(one, page)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for page in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md", ROOT / "bench" / "README.md"]:
        old = page.read_text()
        new = render(old)
        if new != old:
            stale.append(page.relative_to(ROOT))
            if not check:
                page.write_text(new)
    if check and stale:
        print("plait: docs are out of date: " + ", ".join(map(str, stale)) +
              ". Their snippets differ from the code they are cut from. Fix: run docs/snippets.py and commit.")
        return 1
    print(("docs: up to date" if check else "docs: rewritten ") + (", ".join(map(str, stale)) if not check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
