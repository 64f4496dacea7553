# `make test`  installs everything into .venv (first run only) and runs the test suite.
# `make demo`  installs, generates SynthCity, trains and evaluates the demo config.
VENV   ?= .venv
PYTHON ?= $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test demo lint clean

$(VENV)/.install-stamp: setup.py requirements/runtime.txt requirements/tests.txt tools/install.sh
	test -x $(PYTHON) || python3 -m venv $(VENV)
	PYTHON=$(PYTHON) bash tools/install.sh
	touch $@

install: $(VENV)/.install-stamp

test: install
	$(PYTHON) -m pytest -q tests $(PYTEST_ARGS)

lint: install
	$(PYTHON) -m ruff check .

demo: install
	PYTHON=$(PYTHON) bash tools/quickstart.sh

# Removes what `make demo` and the examples of the README and docs/ write (training and test
# runs, generated SynthCity, example outputs; tests/test_first_commands.py checks the list
# against the docs); the installed .venv stays.
CLEAN_OUTPUTS = work_dirs data/synthcity data/synthcity_evidence data/synthcity_evidence_summary.json \
	out vis vis_train m.onnx m.json report.json metrics.json metrics_val.json metrics_tta.json \
	c.png curves.png t.md t.csv table.md table.csv b.json b_tr3.json b_cuda.json b_cuda_amp.json \
	r18.json semi.json r50_semi.json gpu_check.json scale_sweep.json
clean:
	rm -rf $(CLEAN_OUTPUTS)
