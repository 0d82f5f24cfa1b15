#!/usr/bin/env python3
"""Turns the ```cpp blocks of a Markdown file into translation units that the test suite builds.

A block with `int main(` is a whole program: it becomes a file of its own, which the tests build
and run. Every other block is a fragment: its class and struct definitions go to namespace scope and
its statements into a function of their own, all fragments of the file in one translation unit that
includes backprop/backprop.hpp and uses namespace bp (so a later block may use a class an earlier
one defined). An HTML comment right before a block's fence can say:

  <!-- cpp context: CODE -->   statements that run first (the variables the block takes as given)
  <!-- cpp: not compiled (why) -->   leaves the block out

Usage: extract_cpp_blocks.py MARKDOWN OUTDIR NAME. Writes OUTDIR/NAME_fragments.cpp and
OUTDIR/NAME_program_K.cpp, and prints the programs' paths, one per line.
"""
import pathlib
import re
import sys

HEADER = """// Generated from {source} by tests/docs/extract_cpp_blocks.py: do not edit.
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backprop/backprop.hpp"
"""

COMMENT = re.compile(r"<!--\s*cpp(?P<kind>:| context:)(?P<body>.*?)-->", re.S)


def blocks(text):
    """Yields (line number, code, marker) for each ```cpp block; marker is the comment before it."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            before = "\n".join(lines[max(0, i - 30) : i]).rstrip()
            marker = None
            if before.endswith("-->"):
                found = list(COMMENT.finditer(before))
                if found and before.endswith(found[-1].group(0)):
                    marker = found[-1]
            yield start + 1, "\n".join(lines[start:end]), marker
            i = end
        i += 1


def split_fragment(code):
    """(includes, namespace-scope definitions, statements) of a fragment."""
    includes, definitions, statements = [], [], []
    depth, target = 0, None
    for line in code.split("\n"):
        stripped = line.strip()
        if depth == 0 and stripped.startswith("#include"):
            includes.append(stripped)
            continue
        if depth == 0 and target is None and re.match(r"(class|struct)\s+\w+[^;]*$", stripped):
            target = definitions
        (target if target is not None else statements).append(line)
        depth += line.count("{") - line.count("}")
        if target is definitions and depth == 0 and stripped.endswith("};"):
            target = None
    return includes, definitions, statements


def write_if_changed(path, text):
    """Writes only a changed file, so that reconfiguring rebuilds nothing that stayed the same."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main():
    source, outdir, name = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    outdir.mkdir(parents=True, exist_ok=True)
    fragments, programs, includes = [], [], set()
    for k, (line, code, marker) in enumerate(blocks(source.read_text()), start=1):
        origin = f"{source.name}:{line}"
        where = f'#line {line} "{source}"'
        if marker and marker.group("kind") == ":":
            if "not compiled" not in marker.group("body"):
                sys.exit(f"{origin}: unknown marker {marker.group(0)!r}")
            continue
        if re.search(r"\bint\s+main\s*\(", code):
            path = outdir / f"{name}_program_{len(programs) + 1}.cpp"
            write_if_changed(path, f'// Generated from {origin}: do not edit.\n{where}\n{code}\n')
            programs.append(path)
            continue
        context = marker.group("body").strip() if marker else ""
        inc, definitions, statements = split_fragment(code)
        includes.update(inc)
        fragments.append(
            f"// {origin}\n"
            + (f"{where}\n" + "\n".join(definitions) + "\n" if definitions else "")
            + f"[[maybe_unused]] void block_{k}() {{\n"
            + (f"  {context}\n" if context else "")
            + f"{where}\n"
            + "\n".join(statements)
            + "\n}\n"
        )
    unit = HEADER.format(source=source.name) + "".join(f"{i}\n" for i in sorted(includes))
    unit += "\nnamespace doc {\nusing namespace bp;\n\n" + "\n".join(fragments)
    unit += "}  // namespace doc\n"
    write_if_changed(outdir / f"{name}_fragments.cpp", unit)
    for path in programs:
        print(path)


if __name__ == "__main__":
    main()
