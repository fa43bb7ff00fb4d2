#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Reads the per-process logs of `valgrind --log-file=DIR/vg.%p.log
--track-fds=yes --trace-children=yes` and fails on:
  - a memory error in any process (invalid read/write, uninitialised use,
    bad free, bad syscall parameter);
  - a definite leak, or a descriptor opened by this project's code (a
    frame of its creation stack is in one of the project's C files) and
    left open at exit, in a test process: a runner (depth 0) or the worker
    a runner re-executes (depth 1).  Deeper processes are children a test
    forked; they exit holding what their parent held, by design.  The test
    framework's own descriptors (Criterion's pipes and arenas) are not the
    project's."""
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
    fds = []
    lost = 0
    errors = []
    cur = None
    with open(path, errors='replace') as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r'==(\d+)== Parent PID: (\d+)', line)
        if m:
            pid, ppid = int(m.group(1)), int(m.group(2))
        m = re.match(r'==\d+== Open (file descriptor|AF_UNIX socket) (\d+):?(.*)', line)
        if m:
            cur = (int(m.group(2)), m.group(3).strip())
            stack = []
            for nxt in lines[i + 1:i + 40]:
                if not re.match(r'==\d+==\s+(at|by) ', nxt):
                    break
                stack.append(nxt)
            if cur[0] > 2 and ours(stack):
                fds.append(f'fd {cur[0]} {cur[1]}: ' +
                           ' / '.join(x.split(': ', 1)[-1] for x in stack[:3]))
        m = re.match(r'==\d+==\s+definitely lost: ([\d,]+) bytes', line)
        if m:
            lost = int(m.group(1).replace(',', ''))
        if ERR.match(line):
            errors.append(line)
    return pid, ppid, fds, lost, errors


def main(d):
    logs = {}
    for name in sorted(os.listdir(d)):
        p = parse(os.path.join(d, name))
        if p[0] is not None:
            logs[p[0]] = (name,) + p[1:]
    bad = 0

    def depth(pid):
        n = 0
        while pid in logs and n < 10:
            pid = logs[pid][1]
            n += 1
        return n - 1

    for pid, (name, ppid, fds, lost, errors) in sorted(logs.items()):
        dp = depth(pid)
        problems = list(errors)
        if dp <= 1:
            if lost:
                problems.append(f'{lost} bytes definitely lost')
            problems += [f'left open: {x}' for x in fds]
        if problems:
            bad += 1
            print(f'valgrind: {name} (depth {dp}):')
            for x in problems[:10]:
                print('   ', x)
    print(f'valgrind: {len(logs)} process logs, {bad} with problems')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
