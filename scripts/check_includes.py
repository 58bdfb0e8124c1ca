#!/usr/bin/env python3
"""Checks that every C++ source of weft compiles on its own: each file includes what it uses.

The normal build hides a missing #include twice over: a precompiled header brings the standard
headers into every source, and a unity build (scripts/unity_groups.cmake) compiles a source after
its batch-mates, whose includes it then sees. This configures a second build folder with neither
(CMAKE_DISABLE_PRECOMPILE_HEADERS=ON, WEFT_UNITY_BUILD=OFF) and runs each C++ source's compile
command from its compile_commands.json with -fsyntax-only (parsing and templates, no code), as
many at once as there are cores. Exit status 1 and each failing file's first errors if any fails.

  python3 scripts/check_includes.py [--build build-includes] [PATTERN...]  (make check-includes)

PATTERNs (substrings of a source's path, e.g. engine/train/) check only the sources that match.

About 5 minutes on 2 cores. Not part of `make test`: CI's budget is for the suite.
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def syntax_only(command):
    """The compile command without its outputs (-o, -MD/-MT/-MF dependency files), -fsyntax-only."""
    words, out, skip = shlex.split(command), [], False
    for word in words:
        if skip:
            skip = False
        elif word in ('-o', '-MT', '-MF'):
            skip = True
        elif word not in ('-MD', '-c'):
            out.append(word)
    return out + ['-fsyntax-only', '-c']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--build', default=os.path.join(SOURCE_DIR, 'build-includes'),
                        help='the build folder to configure (default: build-includes)')
    parser.add_argument('patterns', nargs='*', help='check only sources whose path contains one')
    args = parser.parse_args()
    subprocess.run(['cmake', '-S', SOURCE_DIR, '-B', args.build, '-DCMAKE_BUILD_TYPE=Release',
                    '-DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON', '-DWEFT_UNITY_BUILD=OFF',
                    '-DCMAKE_EXPORT_COMPILE_COMMANDS=ON'], check=True, stdout=subprocess.DEVNULL)
    # The engine includes a header the build generates (the kernels' identity).
    subprocess.run(['cmake', '--build', args.build, '--target', 'weft_kernels_id'], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(args.build, 'compile_commands.json')) as f:
        entries = [e for e in json.load(f) if e['file'].endswith('.cpp') and
                   (not args.patterns or any(p in e['file'] for p in args.patterns))]

    def check(entry):
        result = subprocess.run(syntax_only(entry['command']), cwd=entry['directory'],
                                capture_output=True, text=True)
        return entry['file'], result.returncode, result.stderr

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for path, status, errors in pool.map(check, entries):
            if status != 0:
                failed += 1
                print(f'{path}: does not compile on its own')
                print('\n'.join([line for line in errors.splitlines() if 'error' in line][:6]))
    print(f'check_includes: {len(entries)} sources, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
