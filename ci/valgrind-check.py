#!/usr/bin/env python3
"""Reads the per-process logs of `valgrind --log-file=DIR/vg.%p.log
--track-fds=yes --trace-children=yes` and fails on:
  - a memory error in any process (invalid read/write, uninitialised use,
    bad free, bad syscall parameter);
  - a definite leak or a descriptor the process opened itself and left open
    at exit, in a test process: a runner (depth 0) or the worker a runner
    re-executes (depth 1).  Deeper processes are children a test forked;
    they exit holding what their parent held, by design."""
import os
import re
import sys

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
            nxt = lines[i + 1] if i + 1 < len(lines) else ''
            if '<inherited from parent>' not in nxt and cur[0] > 2:
                fds.append(f'fd {cur[0]} {cur[1]}: {nxt.split("==", 2)[-1].strip()}')
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
