# mk/gclab.mk — the `pause` (issue 3) and pacing (issue 4) benchmarks:
# benchmarks/gclab.py builds its own programs into build/gclab/, runs them,
# prints the tables and target lines and writes benchmarks/results-gclab.json
# (see benchmarks/README-gclab.md).
#
#   make bench-gclab               both, ~10-15 minutes (GCLAB_QUICK=1: ~1-2)
#   make bench-pause               issue 3's pause table only
#   make bench-pacing              issue 4's gogc curves and mark workers only
#
# The top-level `bench` target calls bench-gclab (the Makefile's owner adds it).

GCLAB_RUN = $(PYTHON) benchmarks/gclab.py

.PHONY: bench-gclab bench-pause bench-pacing gclab-setup

bench-gclab: gclab-setup
	$(GCLAB_RUN)

bench-pause: gclab-setup
	GCLAB_ONLY=pause $(GCLAB_RUN)

bench-pacing: gclab-setup
	GCLAB_ONLY=pacing $(GCLAB_RUN)

# gclab-setup — what bench-setup installs, plus Debian's golang-go for the Go
# curves; a failed Go install only skips the Go rows (the driver says so).
gclab-setup: bench-setup
	@command -v go >/dev/null 2>&1 || { \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "gclab: installing golang-go"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends golang-go \
	    || echo "gclab: golang-go did not install: the Go rows will be skipped"; }
