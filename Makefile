# Two commands for students: `make lab` and `make test`. Nothing else is needed first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Windows venvs keep their scripts in Scripts/.
ifeq ($(OS),Windows_NT)
BIN := $(VENV)/Scripts
endif
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: lab test check report bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_RUN)

# A notebook path on the command line would make its folder the server's root (and hide
# exercises/), so the root is this folder and lesson 00 is the page the browser opens.
lab: $(STAMP_RUN)  ## start JupyterLab at this folder with lesson 00 open; Ctrl-C twice stops it
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.allow_root=True \
		--LabApp.default_url=/lab/tree/notebooks/00_meet_your_machine.ipynb

test: $(STAMP_TEST)  ## unit tests, then every notebook folder under nbval (quick mode)
	MEMWALL_QUICK=1 $(BIN)/python -m pytest tests
	MEMWALL_QUICK=1 $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider $(wildcard notebooks solutions exercises)

check: $(STAMP_RUN)  ## check exercise notebooks: make check, or make check NB=exercises/04_*.ipynb
	$(BIN)/memwall-lab check $(NB)

report: $(STAMP_RUN)  ## measure this machine and print the report
	$(BIN)/memwall-lab report

bench: $(STAMP_RUN)  ## accuracy and roofline benchmarks: numpy vs C, decoder vs this machine
	$(BIN)/python benchmarks/memory_accuracy.py
	$(BIN)/python benchmarks/decode_roofline.py
	$(BIN)/python benchmarks/widget_updates.py

lint: $(STAMP_TEST)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
