#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Every source and build file of the tree names its licence.

    spdx.py SRCROOT

Fails, naming each file, when a C source or header, a meson file, a
version script, a man page, a Lua, Python or shell script, a Dockerfile
or a YAML file under SRCROOT lacks an SPDX-License-Identifier line among
its first three lines (after the shebang, if any).  Seed corpora, fuzzer
dictionaries and .options files are data, not source, and are skipped,
as are build directories.  Also fails if it finds fewer than 50 files, so
a wrong SRCROOT cannot pass by finding nothing.
"""
import os
import re
import sys

DIRS = ('src', 'include', 'tools', 'tests', 'fuzz', 'bench', 'examples',
        'imsg', 'man', 'ci', 'contrib', '.github', '.clusterfuzzlite')
TOP = ('meson.build', 'meson_options.txt')
SOURCE = re.compile(r'(\.(c|h|cc|sym|lua|py|sh|[13]|ya?ml)|^meson\.build'
                    r'|^meson_options\.txt|^Dockerfile)$')
TAG = re.compile(r'SPDX-License-Identifier: [A-Za-z0-9.+-]+')


def wanted(rel):
    name = os.path.basename(rel)
    if SOURCE.search(name):
        return True
    # ci/ holds scripts without a suffix; everything there is code.
    return rel.startswith('ci' + os.sep)


def walk(root):
    for d in DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            # Build directories made inside the tree are not source.
            dirnames[:] = [n for n in dirnames if not os.path.exists(
                os.path.join(dirpath, n, 'meson-private'))]
            for f in filenames:
                yield os.path.relpath(os.path.join(dirpath, f), root)
    for f in TOP:
        if os.path.exists(os.path.join(root, f)):
            yield f


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: spdx.py SRCROOT')
    root = sys.argv[1]
    seen, missing = 0, []
    for rel in sorted(walk(root)):
        if not wanted(rel):
            continue
        seen += 1
        with open(os.path.join(root, rel), encoding='utf-8',
                  errors='replace') as fp:
            head = [fp.readline() for _ in range(3)]
        if not any(TAG.search(line) for line in head):
            missing.append(rel)
    for rel in missing:
        print(f'FAIL {rel}: no SPDX-License-Identifier line at the top')
    if seen < 50:
        print(f'FAIL only {seen} source files under {root}: wrong root?')
        return 1
    print(f'{seen} files checked, {len(missing)} without a licence line')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
