# re6st registry software release on slapos.core's embedded SlapOS.
#
#   make run [PARAMS='<json object>' | PARAMS_FILE=<path>]
#                                      deploy or update the registry; the last
#                                      line printed is its connection parameters
#                                      (with secrets: PARAMS_FILE, or PARAMS in
#                                      the environment: other users see the
#                                      command line, never the environment)
#   make stop                          stop what `make run` started (data kept)
#   make token NAME=<reference>        request a shared token instance, print
#                                      its parameters once its token works
#   make drop-token NAME=<reference>   destroy it (token deleted, node revoked)
#   make prepare                       install what make test needs (system
#                                      packages, the Python environments),
#                                      run nothing
#   make test                          the whole test suite: units (pytest),
#                                      then the SlapOS-level suite as SlapOS's
#                                      test runner runs it (tools/sr-test)
#   make bench                         the benchmark (figures, never fails)
#   make test-node                     (root) the release on a SlapOS node
#                                      as SlapOS's node packages make one:
#                                      Debian 11, Python 3.9, slapos.core
#                                      1.22.1, zc.buildout 3.0.1
#
# As root, the system packages are installed and everything runs as the
# user slapos-re6st (SlapOS refuses to run buildout as root).

RUN_AS ?= slapos-re6st
PYTHON ?= /usr/bin/python3
WORK := $(CURDIR)/.work
VENV := $(WORK)/venv
# PARAMS, PARAMS_FILE and NAME are passed on as they were given, in the
# environment: never expanded by make ($ kept), never on a command line
# (and never exported as they are: make would expand them on the way)
unexport PARAMS PARAMS_FILE NAME
ifdef PARAMS
export RE6ST_PARAMS := $(value PARAMS)
endif
ifdef PARAMS_FILE
export RE6ST_PARAMS_FILE := $(abspath $(value PARAMS_FILE))
endif
ifdef NAME
export RE6ST_NAME := $(value NAME)
endif
ENV_STAMP := $(VENV)/.installed-$(shell cat tools/make-env tools/requirements*.txt | md5sum | cut -c1-12)
SR_VENV := $(WORK)/sr-venv
SR_STAMP := $(SR_VENV)/.installed-$(shell cat tools/make-env tools/requirements*.txt test/setup.py | md5sum | cut -c1-12)
# loopback only: the embedded SlapOS, its partitions and the tests
export SLAPOS_TEST_IPV4 := 127.0.0.1
export SLAPOS_TEST_IPV6 := ::1
export PATH := $(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run stop test bench env sr-env prepare token drop-token test-node

ifeq ($(shell id -u),0)

run stop test bench token drop-token prepare:
	@tools/as-user $(RUN_AS) $@

test-node:
	@tools/test-node $(RUN_AS)

else

env: $(ENV_STAMP)

$(ENV_STAMP): tools/make-env tools/requirements.txt tools/requirements-buildout.txt
	@echo "Creating the Python environment in $(WORK) ..." >&2
	@PYTHON=$(PYTHON) tools/make-env $(WORK)
	@chmod 0700 $(WORK)
	@touch $@

# the environment SlapOS's test runner gives the test egg (test/setup.py)
sr-env: $(SR_STAMP)

prepare: env sr-env

$(SR_STAMP): tools/make-env tools/requirements-sr.txt tools/requirements-buildout.txt test/setup.py
	@echo "Creating the test runner's Python environment in $(SR_VENV) ..." >&2
	@PYTHON=$(PYTHON) tools/make-env --sr $(WORK)
	@touch $@

run: env
	@$(VENV)/bin/python -m tools.embedded run --base $(WORK)/slapos

stop: env
	@$(VENV)/bin/python -m tools.embedded stop --base $(WORK)/slapos

token drop-token: env
	@$(VENV)/bin/python -m tools.embedded $@ --base $(WORK)/slapos

# The tests' registries listen where `make run`'s does: it is stopped first
# (data kept; `make run` brings it back).
test: env sr-env
	@$(VENV)/bin/python -m tools.embedded stop --base $(WORK)/slapos --quiet
	@mkdir -p $(WORK)/test
	@status=0; \
	(cd test && $(VENV)/bin/python -m pytest -p no:cacheprovider -v -rs --durations=15) || status=$$?; \
	SLAPOS_TEST_WORKING_DIR=$(WORK)/test tools/sr-test || status=$$?; \
	$(VENV)/bin/python -m tools.embedded stop --base $(WORK)/test --quiet; exit $$status

test-node:
	@echo "make test-node needs root (debootstrap, chroot, mounts): run it as root." >&2; exit 1

# Same addresses as `make run` too: stopped first as well.
bench: env
	@$(VENV)/bin/python -m tools.embedded stop --base $(WORK)/slapos --quiet
	@$(VENV)/bin/python -m tools.bench --base $(WORK)/bench

endif
