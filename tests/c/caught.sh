#!/bin/sh
# caught.sh WHAT PATTERN CMD [ARG...] — run a planted-bug build, CMD, and
# say whether it caught its bug: a line of CMD's output (stdout and stderr)
# must match PATTERN (grep -E), the failure expected of it: the FAIL line
# of the test that should catch the bug ("^FAIL name \["; the runner's
# watchdog writes one for a hung test too), or a sanitizer's report. An exit
# status alone is no catch: a build that crashes, or a runner that dies, for
# another reason before that test fails, exits nonzero too.
set -u
what=$1
pattern=$2
shift 2
out=$("$@" 2>&1)
rc=$?
line=$(printf '%s\n' "$out" | grep -E -m 1 -- "$pattern")
if [ -n "$line" ]; then
    echo "$what caught: $line"
    exit 0
fi
echo "$what went unseen: no line matches /$pattern/ (exit $rc); the last lines:"
printf '%s\n' "$out" | tail -n 5 | sed 's/^/    /'
exit 1
