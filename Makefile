# Two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: demo test lint venv clean-demo

venv: $(STAMP)

# torch/torchvision pins come from pyproject; pip takes them from this machine's
# local wheel store when present, so no other torch build is ever fetched.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[embed,score,t2i,workflow,demo,dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile demo/config.yaml
	$(BIN)/synesthesia report --configfile demo/config.yaml --output results/report.html
	@echo
	@echo "Demo finished. Open first:"
	@echo "  report:  $(CURDIR)/results/report.html"
	@echo "  tables:  $(CURDIR)/results/tables/paper/text_understanding_general.md"
	@echo "           $(CURDIR)/results/tables/paper/concepts_shapes-concepts.md"
	@echo "All results: $(CURDIR)/results/{tables,figures,...}/  logs: $(CURDIR)/logs/"

test: $(STAMP)
	$(BIN)/python -m pytest

# The style gate CI runs before the tests: Python (ruff, settings in pyproject.toml),
# the rule files' format (snakefmt) and Snakemake's own workflow lint.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile demo/config.yaml

clean-demo:
	rm -rf results logs data resources .snakemake
