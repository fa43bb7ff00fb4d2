#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Every C function definition puts its return type on a line of its own.

    defstyle.py SRCROOT

The tree's one definition style (docs/DESIGN.md, "Conventions"):

    static const struct fdmsg_hdr *
    hdr_find(const uint8_t *buf, size_t n,
             unsigned flags)
    {

Fails, naming FILE:LINE, for every definition in the C sources and
headers under SRCROOT's code directories whose name does not begin its
line or whose opening brace shares a line with other code.  Prototypes,
macro bodies, macro invocations that open a body (Criterion's Test(),
the suites' TEST() families), initialisers and function-pointer objects
are not definitions and are not looked at.  Also fails if it finds fewer
than 20 definitions, so a wrong SRCROOT cannot pass by finding nothing.

The parser is also what the one-off restyle used; `definitions()` is its
interface.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from no_peek import strip  # noqa: E402  comments and literals blanked
from spdx import walk  # noqa: E402  the tree's files, build dirs left out

DIRS = ('src', 'include', 'tools', 'tests', 'fuzz', 'bench', 'examples',
        'imsg')
SUFFIX = ('.c', '.h')
IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*$')
NOT_A_NAME = {'if', 'while', 'for', 'switch', 'return', 'sizeof',
              '__attribute__', '_Alignas', 'alignas', '_Static_assert',
              'static_assert', '__typeof__', 'typeof', '_Generic'}


def mask(text):
    """The code of TEXT with comments, literals and preprocessor lines
    blanked (newlines kept, so offsets and lines stay), and the set of
    offsets that lie in preprocessor lines."""
    out = list(strip(text))
    if out.count('\n') != text.count('\n'):
        # strip() ends an unterminated literal at its newline.
        raise ValueError('unterminated quote')
    pp = set()
    i, in_pp = 0, False
    for line in ''.join(out).split('\n'):
        in_pp = in_pp or line.lstrip().startswith('#')
        if in_pp:
            for j in range(i, i + len(line)):
                out[j] = ' '
                pp.add(j)
        # A directive goes on past a line ending in a backslash.
        in_pp = in_pp and line.endswith('\\')
        i += len(line) + 1
    return ''.join(out), pp


class Definition:
    """One function definition: the offsets of its header's first
    character, its name, the '(' and ')' of its parameters and its '{'."""

    def __init__(self, start, name, lparen, rparen, brace):
        self.start, self.name = start, name
        self.lparen, self.rparen, self.brace = lparen, rparen, brace


def header(code, start, brace):
    """The Definition whose header is CODE[START:BRACE], or None when
    that is no function definition with a return type."""
    head = code[start:brace]
    end = len(head.rstrip())
    if end == 0 or head[end - 1] != ')':
        return None
    depth, i = 0, end - 1
    while i >= 0:
        if head[i] == ')':
            depth += 1
        elif head[i] == '(':
            depth -= 1
            if depth == 0:
                break
        i -= 1
    if i < 0:
        return None
    lparen = i
    j = lparen
    while j > 0 and head[j - 1] in ' \t\n':
        j -= 1
    m = IDENT.search(head[:j])
    if m is None or m.group(0) in NOT_A_NAME:
        # '(*f(int))(void)' and the like: none in the tree, left alone.
        return None
    # An '=' outside parentheses makes an initialiser, not a body.
    depth = 0
    for c in head[:lparen]:
        depth += c == '('
        depth -= c == ')'
        if c == '=' and depth == 0:
            return None
    if head[:m.start()].strip() == '':
        # Test(...), TEST(...): a macro invocation opening a body.
        return None
    return Definition(start, start + m.start(), start + lparen,
                      start + end - 1, brace)


def definitions(text):
    """Every function definition in the C source TEXT, in order.  Raises
    ValueError when the braces do not balance (a definition split across
    #if branches, say): such a file needs a human."""
    code, pp = mask(text)
    defs = []
    depth = 0
    start = None
    for i, c in enumerate(code):
        if depth == 0 and i in pp:
            start = None
            continue
        if c in ' \t\n':
            continue
        if depth == 0 and start is None and c not in '{};':
            start = i
        if c == '{':
            if depth == 0 and start is not None:
                d = header(code, start, i)
                if d is not None:
                    defs.append(d)
            depth += 1
            start = None
        elif c == '}':
            depth -= 1
            if depth < 0:
                raise ValueError(f'unbalanced }} at offset {i}')
            start = None
        elif c == ';' and depth == 0:
            start = None
    if depth != 0:
        raise ValueError('unbalanced braces at end of file')
    return defs


def line_of(text, off):
    return text.count('\n', 0, off) + 1


def bol(text, off):
    return text.rfind('\n', 0, off) + 1


def eol(text, off):
    e = text.find('\n', off)
    return len(text) if e < 0 else e


def problems(code, d):
    """What is wrong with definition D of the masked CODE, as (offset,
    message) pairs."""
    out = []
    if code[bol(code, d.name):d.name].strip():
        out.append((d.name, 'return type not on a line of its own'))
    if (code[bol(code, d.brace):d.brace].strip()
            or code[d.brace + 1:eol(code, d.brace)].strip()):
        out.append((d.brace, 'opening brace not on a line of its own'))
    return out


def sources(root):
    """The C sources and headers under ROOT's code directories, build
    directories left out (spdx.py's walk)."""
    for rel in sorted(walk(root)):
        if rel.split(os.sep)[0] in DIRS and rel.endswith(SUFFIX):
            yield rel


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: defstyle.py SRCROOT')
    root = sys.argv[1]
    seen, bad = 0, 0
    for rel in sources(root):
        with open(os.path.join(root, rel), encoding='utf-8') as fp:
            text = fp.read()
        try:
            defs = definitions(text)
        except ValueError as e:
            print(f'FAIL {rel}: cannot parse: {e}')
            bad += 1
            continue
        code, _ = mask(text)
        for d in defs:
            seen += 1
            for off, msg in problems(code, d):
                name = re.match(r'\w+', text[d.name:]).group(0)
                print(f'FAIL {rel}:{line_of(text, off)}: {name}: {msg}')
                bad += 1
    if seen < 20:
        print(f'FAIL only {seen} definitions under {root}: wrong root?')
        return 1
    print(f'{seen} definitions checked, {bad} problems')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
