#!/usr/bin/env python3
"""Rewrites one CUDA source file into C++ for the CUDA emulator (emulator.h).

Usage: rewrite_launches.py SOURCE.cu OUTPUT.cpp

Two constructs are CUDA syntax rather than C++; everything else compiles as it is, against the
emulator's cuda_runtime.h, cublas_v2.h, cuda_bf16.h and cuda_fp16.h:

    kernel<<<grid, block, shared, stream>>>(args);
becomes
    cuda_emulator_launch("kernel", KERNEL, grid, block, shared, stream, [=] { kernel(args); });

where KERNEL is (const void *)kernel, the key of cudaFuncSetAttribute's shared memory opt-in, for
launches with dynamic shared memory, and nullptr for the others (whose kernel may then be a
template or overloaded, which has no address without its parameter types); and

    extern __shared__ T name[];
becomes
    T *name = (T *)cuda_emulator::dynamic_shared_memory();

The output starts with #include "emulator.h" (nvcc includes cuda_runtime.h implicitly) and a
#line directive, and keeps every line where it was, so compiler messages and __FILE__/__LINE__
name the .cu file. A launch the script cannot parse stops it with the file and line.
"""
import re
import sys
from pathlib import Path

DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(\w+)\s+(\w+)\s*\[\s*\]\s*;")


class RewriteError(Exception):
    pass


def line_of(text, index):
    return text.count("\n", 0, index) + 1


def code_mask(text):
    """For each character: True where it is code, False inside a comment or a literal."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
        elif text[i] in "\"'":
            end = i + 1
            while end < n and text[end] != text[i]:
                end += 2 if text[end] == "\\" else 1
            end += 1
        else:
            i += 1
            continue
        for j in range(i, min(end, n)):
            mask[j] = False
        i = end
    return mask


def matching(text, start, open_char, close_char):
    """The index of the bracket closing the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_char:
            depth += 1
        elif text[i] == close_char:
            depth -= 1
            if depth == 0:
                return i
    raise RewriteError(f"no {close_char} closes the {open_char}")


def split_arguments(text):
    """Splits a comma-separated list at its top level (not inside brackets)."""
    parts, depth, current = [], 0, ""
    for c in text:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += c
    parts.append(current.strip())
    return parts


def kernel_start(text, launch):
    """Where the kernel's name (with its template arguments, if any) begins before <<<."""
    end = launch
    while end > 0 and text[end - 1].isspace():
        end -= 1
    if text[end - 1] == ">":  # name<template arguments>
        depth = 0
        for i in range(end - 1, -1, -1):
            depth += {">": 1, "<": -1}.get(text[i], 0)
            if depth == 0:
                end = i
                break
    name = re.search(r"[A-Za-z_][A-Za-z_0-9:]*$", text[:end])
    if not name:
        raise RewriteError("no kernel name before <<<")
    return name.start()


def rewrite_launch(text, mask, launch):
    """The replacement of the launch whose <<< is at `launch`: (start, end, new text)."""
    start = kernel_start(text, launch)
    kernel = text[start:launch].strip()
    config_end = text.find(">>>", launch)
    if config_end < 0:
        raise RewriteError("<<< without >>>")
    config = split_arguments(text[launch + 3 : config_end])
    if not 2 <= len(config) <= 4:
        raise RewriteError(f"{len(config)} launch parameters, expected 2 to 4")
    config += ["0", "0"][: 4 - len(config)]
    grid, block, shared_bytes, stream = (" ".join(part.split()) for part in config)
    arguments_start = config_end + 3
    while text[arguments_start].isspace():
        arguments_start += 1
    if text[arguments_start] != "(":
        raise RewriteError("no argument list after >>>")
    if not all(mask[start:arguments_start]):
        raise RewriteError("a comment inside the kernel name or launch parameters")
    arguments_end = matching(text, arguments_start, "(", ")")
    address = "nullptr" if shared_bytes == "0" else f"(const void *){kernel}"
    # The arguments stay as they are, comments and line breaks included, and the line breaks of
    # the name and parameters come before them: every later line keeps its number.
    return (
        start,
        arguments_end + 1,
        f'cuda_emulator_launch("{kernel}", {address}, {grid}, {block}, {shared_bytes}, {stream}, '
        f"[=] {{ {kernel}("
        + "\n" * text.count("\n", start, arguments_start)
        + text[arguments_start + 1 : arguments_end]
        + "); })",
    )


def rewrite(text):
    mask = code_mask(text)
    launches = [m.start() for m in re.finditer("<<<", text) if mask[m.start()]]
    pieces, done = [], 0
    for launch in launches:
        try:
            start, end, replacement = rewrite_launch(text, mask, launch)
        except (RewriteError, IndexError) as error:
            raise RewriteError(
                f"line {line_of(text, launch)}: cannot parse the kernel launch: {error}"
            ) from None
        if start < done:
            raise RewriteError(f"line {line_of(text, launch)}: overlapping launches")
        pieces += [text[done:start], replacement]
        done = end
    pieces.append(text[done:])
    text = "".join(pieces)
    return DYNAMIC_SHARED.sub(r"\1 *\2 = (\1 *)cuda_emulator::dynamic_shared_memory();", text)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    source, output = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    try:
        text = rewrite(source.read_text())
    except RewriteError as error:
        sys.exit(f"{source}: {error}")
    mask = code_mask(text)
    for left in re.finditer(r"<<<|extern\s+__shared__", text):
        if mask[left.start()]:
            sys.exit(f"{source}:{line_of(text, left.start())}: CUDA syntax left after the rewrite")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f'#include "emulator.h"\n#line 1 "{source}"\n' + text)


if __name__ == "__main__":
    main()
