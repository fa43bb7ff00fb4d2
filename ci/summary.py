#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""usage: ci/summary.py [--extra-passed=N] [--extra-failed=N]
                     [--extra-skipped=N] TESTLOG.json...

Totals every meson testlog.json given: each TAP subtest counts once
(`ok` passed, `not ok` failed, `# SKIP` skipped); a test without TAP counts
once by its result.  Prints one line per log and a last plain line
`N passed, M failed, K skipped` that CI reads.  The --extra-* options add
checks that are not meson tests (scripts run by ci/test)."""
import json
import re
import sys

TAP = re.compile(r'^(not ok|ok)\b(.*)$')


def count(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            subs = 0
            for out in (t.get('stdout') or '').splitlines():
                m = TAP.match(out.strip())
                if not m:
                    continue
                subs += 1
                if '# SKIP' in m.group(2).upper():
                    skipped += 1
                elif m.group(1) == 'ok':
                    passed += 1
                else:
                    failed += 1
            result = t.get('result', '')
            if subs == 0:
                if result == 'OK':
                    passed += 1
                elif result == 'SKIP':
                    skipped += 1
                else:
                    failed += 1
            elif result not in ('OK', 'SKIP'):
                # the binary failed beyond its subtests (crash, timeout)
                failed += 1
    return passed, failed, skipped


def main(paths):
    tot = [0, 0, 0]
    for p in paths:
        try:
            c = count(p)
        except OSError as e:
            print(f'{p}: {e}')
            tot[1] += 1
            continue
        print(f'{p}: {c[0]} passed, {c[1]} failed, {c[2]} skipped')
        tot = [a + b for a, b in zip(tot, c)]
    return tot


if __name__ == '__main__':
    extra = {'--extra-passed': 0, '--extra-failed': 0, '--extra-skipped': 0}
    args = sys.argv[1:]
    if args[:1] in (['-h'], ['--help']):
        print(__doc__)
        sys.exit(0)
    while args and args[0].split('=', 1)[0] in extra:
        k, v = args.pop(0).split('=', 1)
        extra[k] = int(v)
    p, f, s = main(args)
    p += extra['--extra-passed']
    f += extra['--extra-failed']
    s += extra['--extra-skipped']
    print(f'{p} passed, {f} failed, {s} skipped')
    sys.exit(1 if f else 0)
