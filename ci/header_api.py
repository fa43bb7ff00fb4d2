#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The one reader of the API headers for ci/check-man, ci/check-symbols
and ci/check-consumers.

  ci/header_api.py [--classic] HEADER

prints the functions HEADER declares, one name a line, sorted: the
FDMSG_API functions of include/fdmsg.h or, with --classic, the imsg_*,
ibuf_* and msgbuf_* prototypes of the classic imsg header
(imsg/include/imsg.h).  Exits 1 when it finds none, 2 on a usage error.
As a module: fdmsg_api(path) and classic_api(path) map each name to its
declaration in one spelling (norm), for comparing with a SYNOPSIS."""
import re
import sys


def norm(decl):
    """One spelling per C declaration: single spaces, none around
    punctuation."""
    decl = re.sub(r'\s+', ' ', decl).strip()
    return re.sub(r'\s*([*(),\[\]])\s*', r'\1', decl)


def code(path):
    """The header's text without comments and preprocessor lines."""
    text = open(path).read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    return '\n'.join(l for l in text.split('\n')
                     if not l.lstrip().startswith('#'))


def fdmsg_api(path):
    """FDMSG_API functions: name -> normalised declaration."""
    api = {}
    for m in re.finditer(r'\bFDMSG_API\b([^;{}]*);', code(path)):
        nm = re.search(r'(\w+)\s*\(', m.group(1))
        if nm:
            api[nm.group(1)] = norm(m.group(1))
    return api


def classic_api(path):
    """The classic imsg prototypes that libfdmsg-imsg provides (imsg_*,
    ibuf_*, msgbuf_*): name -> normalised declaration."""
    api = {}
    for chunk in code(path).split(';'):
        nm = re.search(r'\b((?:imsg|ibuf|msgbuf)_\w+)\s*\(', chunk)
        if nm:
            api[nm.group(1)] = norm(re.split(r'[{}]', chunk)[-1])
    return api


def main(args):
    read = fdmsg_api
    if args[:1] == ['--classic']:
        read = classic_api
        args = args[1:]
    if args[:1] in (['-h'], ['--help']):
        print(__doc__.split('\n\n')[1])
        return 0
    if len(args) != 1 or args[0].startswith('-'):
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        return 2
    names = sorted(read(args[0]))
    if not names:
        print(f'{args[0]}: no API function found', file=sys.stderr)
        return 1
    print('\n'.join(names))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
