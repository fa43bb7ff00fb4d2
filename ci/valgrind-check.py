#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The one reader of valgrind's per-process logs (ci/test, ci/soak): the
logs of `meson test --setup=valgrind` (meson.build: --log-file=
meson-logs/valgrind/vg.%p.log, --track-fds=yes, --trace-children=yes).

  ci/valgrind-check.py [--whole REGEX] DIR

Fails on:
  - a memory error in any process (invalid read/write, uninitialised use,
    bad free, bad syscall parameter);
  - a definite leak, or a descriptor opened by this project's code (a
    frame of its creation stack is in one of the project's C files) and
    left open at exit, in a test process: a runner (depth 0) or the worker
    a runner re-executes (depth 1).  Deeper processes are children a test
    forked; they exit holding what their parent held, by design.  The test
    framework's own descriptors (Criterion's pipes and arenas) are not the
    project's;
  - with --whole REGEX, in a process whose command line matches REGEX (a
    program under test, such as `fdmsg serve`), at any depth: a definite
    leak or any descriptor above 2 it did not inherit, left open at exit;
    and no such process at all (the program did not run under valgrind)."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = {os.path.basename(f) for d in ('src', 'tests', 'tools', 'fuzz',
                                      'examples', 'bench')
        for f in glob.glob(os.path.join(ROOT, d, '**', '*.[ch]'),
                           recursive=True)}
FRAME = re.compile(r'==\d+==\s+(at|by) 0x[0-9A-Fa-f]+: .*\(([^():]+):\d+\)')


def ours(stack):
    for line in stack:
        m = FRAME.match(line)
        if m and m.group(2) in OURS:
            return True
    return False

ERR = re.compile(r'==\d+== (Invalid (read|write|free)|Mismatched free|'
                 r'Conditional jump or move depends on uninitialised|'
                 r'Use of uninitialised|Syscall param|Source and destination overlap)')


def parse(path):
    pid = ppid = None
    command = ''
    fds = []
    own = []
    lost = 0
    errors = []
    cur = None
    with open(path, errors='replace') as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'==(\d+)== Parent PID: (\d+)', line)
        if m:
            pid, ppid = int(m.group(1)), int(m.group(2))
        m = re.match(r'==\d+== Command: (.*)', line)
        if m:
            command = m.group(1)
        m = re.match(r'==\d+== Open (file descriptor|AF_UNIX socket) (\d+):?(.*)', line)
        if m:
            cur = (int(m.group(2)), m.group(3).strip())
            stack = []
            for nxt in lines[i + 1:i + 40]:
                if not re.match(r'==\d+==\s+(at|by) ', nxt):
                    break
                stack.append(nxt)
            what = f'fd {cur[0]} {cur[1]}: ' + \
                ' / '.join(x.split(': ', 1)[-1] for x in stack[:3])
            inherited = i + 1 < len(lines) and \
                'inherited from parent' in lines[i + 1]
            if cur[0] > 2 and not inherited:
                own.append(what)
                if ours(stack):
                    fds.append(what)
        m = re.match(r'==\d+==\s+definitely lost: ([\d,]+) bytes', line)
        if m:
            lost = int(m.group(1).replace(',', ''))
        if ERR.match(line):
            errors.append(line)
    return pid, ppid, command, fds, own, lost, errors


def main(d, whole=None):
    logs = {}
    for name in sorted(os.listdir(d)):
        p = parse(os.path.join(d, name))
        if p[0] is not None:
            logs[p[0]] = (name,) + p[1:]
    bad = wholes = 0

    def depth(pid):
        n = 0
        while pid in logs and n < 10:
            pid = logs[pid][1]
            n += 1
        return n - 1

    for pid, (name, ppid, command, fds, own, lost, errors) in \
            sorted(logs.items()):
        dp = depth(pid)
        problems = list(errors)
        held = whole is not None and re.search(whole, command)
        wholes += bool(held)
        if held or dp <= 1:
            if lost:
                problems.append(f'{lost} bytes definitely lost')
            problems += [f'left open: {x}' for x in (own if held else fds)]
        if problems:
            bad += 1
            print(f'valgrind: {name} (depth {dp}):')
            for x in problems[:10]:
                print('   ', x)
    print(f'valgrind: {len(logs)} process logs, {bad} with problems')
    if not logs:
        # Nothing ran under valgrind (or its logs went elsewhere).
        print(f'valgrind: no process log in {d}')
        bad += 1
    if whole is not None:
        print(f'valgrind: {wholes} processes matching {whole!r}')
        if not wholes:
            bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] in (['-h'], ['--help']):
        print(__doc__.split('\n\n', 1)[1])
        sys.exit(0)
    whole = None
    if args[:1] == ['--whole'] and len(args) >= 2:
        whole = args[1]
        args = args[2:]
    if len(args) != 1:
        print(__doc__.split('\n\n')[1], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(args[0], whole))
