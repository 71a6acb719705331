# Two set-up commands: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: demo test venv clean-demo

venv: $(STAMP)

# torch/torchvision pins come from pyproject; pip takes them from this machine's
# local wheel store when present, so no other torch build is ever fetched.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[embed,score,t2i,workflow,demo,dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile demo/config.yaml --printshellcmds
	@echo
	@echo "Demo finished. Results:"
	@echo "  tables:     $(CURDIR)/results/tables/"
	@echo "  embeddings: $(CURDIR)/results/embeddings/"
	@echo "  figures:    $(CURDIR)/results/figures/"
	@echo "  scores:     $(CURDIR)/results/{retrieval,align,probe,sts,factors,similarity,...}/"
	@echo "  generated:  $(CURDIR)/results/t2i/"
	@echo "  logs:       $(CURDIR)/logs/"
	@echo "HTML report: $(BIN)/snakemake --configfile demo/config.yaml --report results/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest

clean-demo:
	rm -rf results logs data resources .snakemake
