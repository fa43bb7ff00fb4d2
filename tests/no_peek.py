#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""THREATS 50: no code path of the library uses MSG_PEEK or MSG_OOB.

    no_peek.py SRCDIR

A peek on a socket that can carry descriptors installs a fresh copy of
every descriptor on every peek (THREATS.md, Linux facts), and an
out-of-band read on a stream socket is a second, unframed channel
(THREATS 37).  The library needs neither, so this check fails, naming
file:line, as soon as either name appears in SRCDIR/*.c or SRCDIR/*.h
outside comments and string literals.  It also fails if it finds no
recvmsg call at all, so a wrong SRCDIR cannot pass by finding nothing.
"""
import os
import re
import sys

FORBIDDEN = re.compile(r'\bMSG_(PEEK|OOB)\b')
RECV = re.compile(r'\brecv(msg|mmsg|from)?\s*\(')


def strip(text):
    """C source with comments and string/char literals blanked out;
    newlines kept so that line numbers still match."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two == '/*':
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:end]))
            i = end
        elif two == '//':
            end = text.find('\n', i)
            end = n if end < 0 else end
            # A backslash-newline continues a // comment.
            while end < n and end > 0 and text[end - 1] == '\\':
                nxt = text.find('\n', end + 1)
                end = n if nxt < 0 else nxt
            out.append(re.sub(r'[^\n]', ' ', text[i:end]))
            i = end
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r'[^\n]', ' ', text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    srcdir = argv[1]
    files = sorted(f for f in os.listdir(srcdir)
                   if f.endswith('.c') or f.endswith('.h'))
    found = []
    recv_calls = 0
    for name in files:
        path = os.path.join(srcdir, name)
        with open(path, encoding='utf-8', errors='replace') as fh:
            code = strip(fh.read())
        for lineno, line in enumerate(code.split('\n'), 1):
            recv_calls += len(RECV.findall(line))
            for m in FORBIDDEN.finditer(line):
                found.append('src/%s:%d: %s' % (name, lineno, m.group(0)))
    if not files or recv_calls == 0:
        print('no_peek: no receive call found in %d files under %s: '
              'wrong directory?' % (len(files), srcdir))
        return 1
    for f in found:
        print('%s (THREATS 50: never peek or read out of band a socket '
              'that can carry descriptors)' % f)
    if found:
        return 1
    print('no_peek: %d files, %d receive calls, no MSG_PEEK or MSG_OOB'
          % (len(files), recv_calls))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
