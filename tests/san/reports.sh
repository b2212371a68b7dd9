#!/bin/sh
# reports.sh DIR CMD [ARG...] — run CMD with every AddressSanitizer (and
# LeakSanitizer) or ThreadSanitizer report of every process it starts written
# to DIR/report.PID, and fail if any was written, whatever CMD's own status.
#
# A sanitizer report only fails a run if someone sees it: a forked child or a
# subprocess whose stderr the test captures, whose exit status it ignores or
# expects to be non-zero (a CLI's refusal exits 1 or 2, and so does ASan),
# would let the suite pass while ASan printed an error. The log files do not
# depend on any of that. gcc loads ASan and UBSan as two runtimes: ASan's
# reports follow UBSAN_OPTIONS' log_path (measured with gcc 12), so both name
# it. UBSan's own diagnostics stay on stderr whatever log_path says (a
# silent child's were lost: tests/san/planted_ub_child.c), so UBSan aborts
# on them (abort_on_error; every sanitized build halts on them) and ASan
# reports that abort (handle_abort) to the log file, its stack naming the
# line of the undefined behaviour; no test aborts on purpose. The builds
# leave out UBSan's object-size check, which would catch a heap overflow
# first (on stderr) where ASan reports it here.
set -u
dir=$1
shift
rm -rf "$dir" && mkdir -p "$dir" || exit 2
dir=$(cd "$dir" && pwd)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/report:handle_abort=1"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/report:exitcode=86:abort_on_error=1"
TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$dir/report"
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS
"$@"
rc=$?
set -- "$dir"/report.*
if [ -e "$1" ]; then
    for f in "$@"; do
        echo "=== sanitizer report: $f" >&2
        head -n 60 "$f" >&2
    done
    echo "sanitizer: $# process(es) reported an error (reports in $dir); failing although the command exited $rc" >&2
    exit 1
fi
exit $rc
