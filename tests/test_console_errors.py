"""A failing job's last error line reaches the console; a model missing offline is named with how to cache it."""

import os
import subprocess
import sys
import textwrap


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_the_error_line_goes_to_the_console_and_the_traceback_to_the_log(tmp_path):
    log = tmp_path / "job.log"
    result = _python(f"""
        from synesthesia.logs import log_to_file
        log_to_file({str(log)!r})
        def score():
            raise ValueError("results/embeddings/shapes/tiny-vit.h5: 1 rows are not finite (first: id 'c7')\\nmore")
        score()
    """)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error (full traceback in {log}): ValueError: results/embeddings/shapes/"
                                     "tiny-vit.h5: 1 rows are not finite (first: id 'c7')")
    written = log.read_text()
    assert "Traceback (most recent call last)" in written and "in score" in written and "more" in written


def test_a_hub_model_missing_offline_is_named_with_how_to_cache_it():
    result = _python("""
        from synesthesia.models import load_encoder
        try:
            load_encoder("llama-7b", {"source": "hf", "id": "meta-llama/Llama-2-7b-hf", "modality": "text"},
                         device="cpu")
        except OSError as error:
            print(error)
    """, HF_HUB_OFFLINE="1", HF_HOME=os.environ.get("HF_HOME", "/nonexistent-hf-home"))
    message = result.stdout.strip()
    assert message.startswith("model 'llama-7b': 'meta-llama/Llama-2-7b-hf' could not be loaded from the internet "
                              "or the local cache ("), result.stderr
    assert "`huggingface-cli download meta-llama/Llama-2-7b-hf`" in message and "HF_HUB_OFFLINE=1" in message


def test_a_failing_rules_error_line_reaches_snakemakes_console(tmp_path):
    """Snakemake itself prints only "check log file(s)"; the line log_to_file forwards must survive its output."""
    (tmp_path / "fail.py").write_text(textwrap.dedent("""
        from synesthesia.logs import log_to_file
        log_to_file(snakemake.log[0])
        raise ValueError("results/embeddings/shapes/tiny-vit.h5: id 'c7' is not finite; delete it and rerun")
    """))
    (tmp_path / "Snakefile").write_text(textwrap.dedent("""
        rule fail:
            output: "out.txt"
            log: "logs/fail.log"
            script: "fail.py"
    """))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(tmp_path),
                             "--snakefile", str(tmp_path / "Snakefile")],
                            capture_output=True, text=True, timeout=300)
    console = result.stdout + result.stderr
    assert result.returncode == 1, console
    assert ("error (full traceback in logs/fail.log): ValueError: results/embeddings/shapes/tiny-vit.h5: "
            "id 'c7' is not finite; delete it and rerun") in console
    assert "Traceback (most recent call last)" in (tmp_path / "logs" / "fail.log").read_text()
    assert not (tmp_path / "out.txt").exists()
