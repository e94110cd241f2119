# The two commands of the course (see README.md):
#   make book   build the whole executed book into _build/html (profile "course")
#   make test   the import-layer contract, unit tests, every chapter under the "smoke" profile, and nbval
# Both create the virtual environment .venv first if it is missing or out of date.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= course
# The GitHub address of this copy of the course, for `make online` (README.md, "The book online").
REPOSITORY_URL ?=
BRANCH ?= main
# Keep trained populations and decoded data inside the checkout unless told otherwise.
export COURSE_CACHE_DIR ?= $(CURDIR)/_build/cache

.PHONY: env data book execute test unit smoke student-check nbval lab timings claims clean online student

env: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-warn-script-location -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## data: fetch what can be fetched into $COURSE_DATA_DIR and verify what is there (DATA_ARGS=--cifar10 adds CIFAR-10)
data: $(STAMP)
	$(BIN)/python tools/data.py $(DATA_ARGS)

## book: execute every chapter under $(PROFILE) with papermill, then build the HTML book
book: execute
	$(BIN)/jupyter-book build _build/book-src --path-output . -n -W --keep-going
	@cat _build/book-src/skipped.txt
	@echo "The book is in _build/html/index.html"

execute: $(STAMP)
	$(BIN)/python tools/execute.py --profile $(PROFILE) --out _build/book-src

## test: unit tests, smoke execution of every chapter and of every student notebook, nbval on the executed notebooks
test: unit smoke student-check nbval

unit: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest tests

smoke: $(STAMP)
	$(BIN)/python tools/execute.py --profile smoke --out _build/smoke

student-check: $(STAMP)
	$(BIN)/python tools/student.py --profile smoke --out _build/student-smoke --execute

nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider _build/smoke/chapters

## online: point the book at its repository (REPOSITORY_URL=https://github.com/<owner>/<name>, BRANCH=main):
## writes _config.yml and the first cell of every chapter; commit both
online: $(STAMP)
	$(BIN)/python tools/online.py --repository "$(REPOSITORY_URL)" --branch "$(BRANCH)"

## student: the classroom edition in _build/student (README.md, "Teaching with the course"): student notebooks
## and autograders under $(PROFILE), and the executed book without its solutions
student: execute
	$(BIN)/python tools/student.py --profile $(PROFILE) --out _build/student --book _build/book-src
	$(BIN)/jupyter-book build _build/student/book-src --path-output _build/student -n -W --keep-going
	@echo "Student notebooks: _build/student/notebooks; autograders: _build/student/autograder;" \
	      "the book without solutions: _build/student/_build/html/index.html"

## lab: open the chapters in JupyterLab from the course environment
lab: $(STAMP)
	$(BIN)/jupyter lab chapters/

clean:
	rm -rf _build

## timings: measure every chapter under smoke and course; updates timings.csv (shown in the introduction)
timings: $(STAMP)
	$(BIN)/python tools/execute.py --profile smoke --out _build/smoke --record timings.csv
	$(BIN)/python tools/execute.py --profile course --out _build/book-src --record timings.csv

## claims: re-execute every chapter under "course" for each DATA_SEED:SEED_OFFSET of CLAIM_RUNS and count how
## often each asserted claim holds; writes claims.csv (shown on the instructors page). Not part of make test.
CLAIM_RUNS ?= 0:0 1:1 2:2
claims: $(STAMP)
	$(BIN)/python tools/claims.py --out _build/claims --table claims.csv $(CLAIM_RUNS)
