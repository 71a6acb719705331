"""The second study's published files (synesthesia.data.vlca): fetched over HTTP from a
local server or copied from a local folder, its folds read back and regenerated, and
its frequency and polysemy bins reproduced, on the copies in tests/data/vlca (SOURCE.md)."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT

from synesthesia.data import concepts as cd
from synesthesia.data import vlca
from synesthesia.factors import FREQUENCY_BINS, POLYSEMY_BINS, frequency_bins, polysemy_bins

DATA = ROOT / "tests" / "data" / "vlca"
SHIPPED = vlca.study_files(("imagenet-ul-ex-1k",))
# The other published dictionaries, without their folds (tests/test_concepts_dictionary.py reads them).
OTHER_DICTIONARIES = ("data/imagenet-ul-1k.json", "data/cldi.json")
NO_WORDNET = (
    "WordNet 3.0 unavailable: install Debian's wordnet-base and wordnet-sense-index "
    "(as .ci/run does) or run nltk.download('wordnet')"
)


@functools.cache
def dictionary() -> dict[str, list[str]]:
    return cd.load_published(DATA / "data" / "imagenet-ul-ex-1k.json")


@functools.cache
def folds() -> list[vlca.Fold]:
    return vlca.read_folds(DATA, "imagenet-ul-ex-1k")


def binned_test_pairs(factor: str) -> dict[tuple[int, str, str], str]:
    """``{(fold, wnid, alias): study's bin}`` over the five folds."""
    return {(fold, *pair): name for fold in vlca.FOLDS
            for pair, name in vlca.read_study_bins(DATA, factor, fold).items()}


@pytest.fixture(scope="module")
def wn(tmp_path_factory):
    if all((cd.DEBIAN_WORDNET_DIR / name).is_file() for name in cd.REQUIRED_DICT_FILES):
        return cd.wordnet_from_dict_files(cd.DEBIAN_WORDNET_DIR, tmp_path_factory.mktemp("nltk_data"))
    import nltk

    for data_dir in list(nltk.data.path):
        try:
            return cd.load_wordnet(data_dir)
        except LookupError:
            continue
    pytest.skip(NO_WORDNET)


# ---------------------------------------------------------------- the shipped copies and the pinned files


def test_every_shipped_copy_is_a_pinned_file_and_passes_its_check():
    shipped = {path.relative_to(DATA).as_posix() for path in DATA.rglob("*") if path.is_file()}
    assert shipped - {f.path for f in SHIPPED} == {"SOURCE.md", "LICENSE-f7006b3-CC-BY-NC-4.0", "LICENSE-83c0b1b-MIT",
                                                   *OTHER_DICTIONARIES}
    assert {f.path for f in SHIPPED} <= shipped
    assert set(OTHER_DICTIONARIES) <= {f.path for f in vlca.STUDY_FILES}
    for path in [*(f.path for f in SHIPPED), *OTHER_DICTIONARIES]:
        vlca.check_study_file(DATA / path, path)
    assert sum(path.stat().st_size for path in DATA.rglob("*") if path.is_file()) < 2_000_000


def test_files_are_pinned_to_full_commits_as_raw_urls():
    assert len(vlca.STUDY_FILES) == 65 == len({f.path for f in vlca.STUDY_FILES})
    commits = {f.path: f.commit for f in vlca.STUDY_FILES}
    assert commits["data/imagenet-ul-ex-1k.json"] == commits["LICENSE"] == vlca.HEAD_COMMIT
    assert commits["data/dicts/imagenet/base/train_1_cleaned.txt"] == commits["data/cldi.json"] == vlca.DICTS_COMMIT
    assert commits["data/aliases_freq.json"] == vlca.FREQUENCIES_COMMIT
    assert all(len(commit) == 40 for commit in commits.values())
    assert vlca.StudyFile("data/cldi.json", vlca.DICTS_COMMIT).url() == (
        "https://raw.githubusercontent.com/jiaangli/VLCA/f7006b3e92b01d6b5803bcee89fd57b7ed94e772/data/cldi.json")
    assert len(SHIPPED) == 43
    with pytest.raises(ValueError, match="unknown study dictionaries"):
        vlca.study_files(("imagenet21k",))


# ---------------------------------------------------------------- fetching


def _same_files(dest: Path, files) -> None:
    for study_file in files:
        assert (dest / study_file.path).read_bytes() == (DATA / study_file.path).read_bytes(), study_file.path
    assert not list(dest.rglob("*.part"))


def test_fetch_copies_from_a_local_folder_in_either_layout(tmp_path):
    # The repository layout (these copies), then the reference copies' layout (../shared/reference/vlca).
    written = vlca.fetch_study_files(tmp_path / "a", local=DATA, files=SHIPPED)
    assert written == [tmp_path / "a" / f.path for f in SHIPPED]
    _same_files(tmp_path / "a", SHIPPED)

    reference = tmp_path / "reference"
    for study_file in SHIPPED:
        target = reference / study_file.path.replace("data/dicts/", "folds/").replace("data/", "")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / study_file.path, target)
    assert (reference / "folds" / "imagenet" / "base" / "train_1_cleaned.txt").is_file()
    assert (reference / "aliases_freq.json").is_file()
    vlca.fetch_study_files(tmp_path / "b", local=reference, files=SHIPPED)
    _same_files(tmp_path / "b", SHIPPED)

    with pytest.raises(FileNotFoundError, match=r"no data/cldi.json .*cldi.json"):
        vlca.fetch_study_files(tmp_path / "c", local=reference, files=vlca.study_files(("cldi",)))


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server with the copies at ``<commit>/<path>``, as raw.githubusercontent.com has them."""
    monkeypatch.setenv("no_proxy", "*")
    root = tmp_path / "served"
    for study_file in SHIPPED:
        target = root / study_file.commit / study_file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATA / study_file.path, target)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_each_file_with_progress(tmp_path, server, caplog):
    _, base_url = server
    with caplog.at_level(logging.INFO, logger=vlca.__name__):
        written = vlca.fetch_study_files(tmp_path / "dest", files=SHIPPED, base_url=base_url)
    assert len(written) == 43
    _same_files(tmp_path / "dest", SHIPPED)
    first = SHIPPED[0]
    assert f"[1/43] {base_url}/{first.commit}/{first.path}" in caplog.text
    assert "[43/43]" in caplog.text


def test_fetch_refuses_missing_and_broken_files_and_leaves_no_partial(tmp_path, server):
    root, base_url = server
    missing = vlca.StudyFile("data/dicts/imagenet/base/train_9_cleaned.txt", vlca.DICTS_COMMIT)
    with pytest.raises(OSError, match=r"could not download .*train_9_cleaned.txt.*404"):
        vlca.fetch_study_files(tmp_path / "dest", files=[missing], base_url=base_url)

    broken = {"data/imagenet-ul-ex-1k.json": '{"n01557185": ["thrush"]',
              "data/dicts/imagenet/base/test_1_cleaned.txt": "n01557185 thrush\nn04038338\n",
              "data/aliases_freq.json": '{"thrush": "often"}'}
    for path, text in broken.items():
        study_file = next(f for f in SHIPPED if f.path == path)
        (root / study_file.commit / path).write_text(text)
        with pytest.raises(ValueError, match="not valid JSON|:2: expected `wnid alias`|counts"):
            vlca.fetch_study_files(tmp_path / "dest", files=[study_file], base_url=base_url)
        assert not (tmp_path / "dest" / path).exists()
    assert not list((tmp_path / "dest").rglob("*.part"))


# ---------------------------------------------------------------- folds


def test_folds_read_back_exactly():
    assert [(len(f.train), len(f.test)) for f in folds()] == [(4160, 1782)] * 5
    assert all(not f.train & f.test for f in folds())
    assert len(dictionary()) == 5942 and sum(map(len, dictionary().values())) == 7194
    vlca.check_fold_coverage(folds(), dictionary())
    assert sum(len(f.test_pairs) for f in folds()) == 10_815
    assert folds()[0].train_pairs[0] == tuple(
        (DATA / "data/dicts/imagenet/base/train_1_cleaned.txt").read_text().split("\n")[0].split())


def test_the_study_recipe_regenerates_the_published_folds_byte_for_byte():
    made = vlca.study_folds(dictionary())
    for fold in made:
        for part in ("train", "test"):
            path = DATA / vlca.FOLD_PATTERNS["imagenet-ul-ex-1k"].format(part=part, fold=fold.index)
            assert fold.lines(part) == path.read_text(encoding="utf-8"), path
    assert [f.keys() for f in made] == [f.keys() for f in folds()]


def test_study_folds_split_at_the_studys_index_rule():
    toy = {f"k{i}": [f"w{i}", f"v{i}"] for i in range(10)}
    # j <= 10 * 70 / 100 = 7: eight of ten keys train, the study's arithmetic.
    assert {len(f.train) for f in vlca.study_folds(toy)} == {8}
    assert {len(f.train) for f in vlca.study_folds(toy, n_train=3)} == {3}
    first = vlca.study_folds(toy, seeds=(1,))[0]
    assert all(first.train_pairs[i][0] == first.train_pairs[i + 1][0] for i in range(0, 16, 2))


def _write_fold(root: Path, fold: int, train: str, test: str) -> None:
    for part, text in (("train", train), ("test", test)):
        path = root / vlca.FOLD_PATTERNS["imagenet-ul-ex-1k"].format(part=part, fold=fold)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_folds_that_overlap_or_miss_pairs_are_refused_by_name(tmp_path):
    _write_fold(tmp_path, 1, "n00000001 cat\nn00000002 dog", "n00000002 hound\nn00000003 cow")
    with pytest.raises(ValueError, match=r"train_1_cleaned.txt and .*test_1_cleaned.txt: fold 1 puts 1 keys in both"
                                         r".*n00000002"):
        vlca.read_folds(tmp_path, folds=[1])

    _write_fold(tmp_path, 2, "n00000001 cat\nn00000002 dog", "n00000003 cow\nn00000004 pig")
    fold = vlca.read_folds(tmp_path, folds=[2])
    toy = {"n00000001": ["cat", "kitty"], "n00000002": ["dog"], "n00000003": ["cow"]}
    with pytest.raises(ValueError, match=r"fold 2 .*1 missing \(e.g. \[\('n00000001', 'kitty'\)\]\), "
                                         r"1 extra \(e.g. \[\('n00000004', 'pig'\)\]\)"):
        vlca.check_fold_coverage(fold, toy)

    _write_fold(tmp_path, 3, "n00000001 cat\nn0001 dog", "n00000003 cow")
    with pytest.raises(ValueError, match=r"train_3_cleaned.txt:2: expected `wnid alias`"):
        vlca.read_folds(tmp_path, folds=[3])


# ---------------------------------------------------------------- frequency


def test_frequency_bin_boundaries_are_the_studys():
    assert vlca.frequency_bin(23_929) == "freq10000"
    assert vlca.frequency_bin(23_928) == "freq100000"  # the study's `23928 < x` for the top bin
    assert vlca.frequency_bin(727) == "freq100000"  # `727 <= x <= 23928`
    assert vlca.frequency_bin(726) == "freq_end"
    assert vlca.frequency_bin(0) == "freq_end"
    assert vlca.frequency_bin(None) is None
    # The published bins pin the lower edge exactly (726 and 727 both occur) and bracket the upper one.
    table = vlca.read_frequencies(DATA / "data" / "aliases_freq.json")
    counts: dict[str, list[int]] = {name: [] for name in vlca.FREQUENCY_BIN_NAMES}
    for (_, _, alias), name in binned_test_pairs("frequency").items():
        counts[name].append(table[vlca.frequency_key(alias)])
    assert (min(counts["freq10000"]), max(counts["freq100000"])) == (23_937, 23_781)
    assert (min(counts["freq100000"]), max(counts["freq_end"])) == (727, 726)


def test_count_bins_reproduce_the_studys_frequency_bins():
    table = vlca.read_frequencies(DATA / "data" / "aliases_freq.json")
    study = binned_test_pairs("frequency")
    assert len(study) == 10_815
    assert Counter(study.values()) == {"freq10000": 483, "freq100000": 3500, "freq_end": 6832}
    counts = vlca.alias_counts(sorted({alias for _, _, alias in study}), table)
    agree = sum(vlca.frequency_bin(counts[alias]) == name for (_, _, alias), name in study.items())
    print(f"\ncount-based frequency bins agree with the study's on {agree} of {len(study)} test pairs")
    assert agree / len(study) >= 0.95
    assert agree == len(study)


def test_wordfreq_zipf_bins_against_the_studys_are_measured_not_asserted():
    pytest.importorskip("wordfreq")
    study = binned_test_pairs("frequency")
    labels = dict(zip(vlca.FREQUENCY_BIN_NAMES, FREQUENCY_BINS))
    pairs = sorted(study)
    ours = frequency_bins([cd.zipf(alias) for _, _, alias in pairs])
    agree = sum(label == labels[study[pair]] for pair, label in zip(pairs, ours))
    print(f"\nwordfreq Zipf bins agree with the study's on {agree} of {len(study)} test pairs "
          f"({agree / len(study):.1%})")
    assert 0 < agree < len(study)


def test_alias_counts_look_aliases_up_as_the_study_did_and_log_the_missing(caplog):
    table = {"ice cream": 900, "thrush": 6107}
    with caplog.at_level(logging.WARNING, logger=vlca.__name__):
        counts = vlca.alias_counts(["ice_cream", "Thrush", "glyptodont", "zzz_yyy"], table)
    assert counts == {"ice_cream": 900, "Thrush": 6107, "glyptodont": None, "zzz_yyy": None}
    assert "2 of 4 aliases are not in the frequency table" in caplog.text and "glyptodont" in caplog.text
    shipped = vlca.read_frequencies(DATA / "data" / "aliases_freq.json")
    assert len(shipped) == 7194 and shipped["thrush"] == 6107


def test_the_dictionary_carries_counts_when_its_config_names_the_table(tmp_path):
    pytest.importorskip("wordfreq")
    published = tmp_path / "published.json"
    published.write_text(json.dumps({"n01557185": ["thrush"], "n07925327": ["lime_juice"], "n0": ["nosuchword"]}))
    table = tmp_path / "aliases_freq.json"
    table.write_text(json.dumps({"thrush": 6107, "lime juice": 136}))
    out = cd.prepare_dictionary("toy", {"source": "published", "path": str(published), "frequencies": str(table)},
                                tmp_path / "toy.json", tmp_path / "nltk")
    aliases = cd.read_dictionary(out).aliases
    assert {alias: meta["count"] for alias, meta in aliases.items()} == {
        "thrush": 6107, "lime_juice": 136, "nosuchword": None}
    plain = cd.prepare_dictionary("toy", {"source": "published", "path": str(published)}, tmp_path / "plain.json",
                                  tmp_path / "nltk")
    assert not any("count" in meta for meta in cd.read_dictionary(plain).aliases.values())


# ---------------------------------------------------------------- polysemy


def test_wordnet_sense_counts_reproduce_the_studys_polysemy_bins(wn):
    study = binned_test_pairs("polysemy")
    assert len(study) == 1412
    labels = dict(zip(vlca.POLYSEMY_BIN_NAMES, POLYSEMY_BINS))
    pairs = sorted(study)
    ours = polysemy_bins([cd.polysemy(wn, alias) for _, _, alias in pairs])
    agree = sum(label == labels[study[pair]] for pair, label in zip(pairs, ours))
    print(f"\nWordNet polysemy bins agree with the study's on {agree} of {len(study)} test pairs")
    assert agree == len(study)
