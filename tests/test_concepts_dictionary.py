"""Concept dictionaries: WordNet offline, the built ImageNet dictionary against the
study's published one, per-alias metadata, the published loader and the rule output."""

from __future__ import annotations

import json
import zipfile

import pytest
from conftest import ROOT

from synesthesia.data import concepts as cd

REFERENCE = ROOT.parent / "shared" / "reference" / "vlca"
NO_WORDNET = (
    "WordNet 3.0 unavailable: install Debian's wordnet-base and wordnet-sense-index "
    "(as .ci/run does) or run nltk.download('wordnet')"
)


@pytest.fixture(scope="module")
def wn(tmp_path_factory):
    if all((cd.DEBIAN_WORDNET_DIR / name).is_file() for name in cd.REQUIRED_DICT_FILES):
        return cd.wordnet_from_dict_files(cd.DEBIAN_WORDNET_DIR, tmp_path_factory.mktemp("nltk_data"))
    import nltk

    for data_dir in list(nltk.data.path):  # where nltk.download('wordnet') puts it
        try:
            return cd.load_wordnet(data_dir)
        except LookupError:
            continue
    pytest.skip(NO_WORDNET)


def reference(name: str) -> dict[str, list[str]]:
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"{path} not found (the study's dictionaries live in ../shared/reference/)")
    return cd.load_published(path)


def overlap(built: dict, published: dict) -> dict[str, float]:
    """Shares of synsets and of (synset, alias) pairs in common, each way."""
    built_pairs, published_pairs = pairs(built), pairs(published)
    common_keys = len(built.keys() & published.keys())
    common_pairs = len(built_pairs & published_pairs)
    return {
        "synsets_of_published": common_keys / len(published),
        "synsets_of_built": common_keys / len(built),
        "aliases_of_published": common_pairs / len(published_pairs),
        "aliases_of_built": common_pairs / len(built_pairs),
    }


def pairs(concepts: dict) -> set[tuple[str, str]]:
    return {(key, alias) for key, aliases in concepts.items() for alias in aliases}


def published_words() -> set[str]:
    """The aliases the study kept: a stand-in for its sentence vocabulary (common-words-79k)."""
    return {alias for name in ("imagenet-ul-ex-1k.json", "imagenet-ul-1k.json")
            for aliases in reference(name).values() for alias in aliases}


# ---------------------------------------------------------------- WordNet offline

def test_lexnames_are_wordnets_45_lexicographer_files():
    lines = [line.split("\t") for line in cd.lexnames_text().splitlines()]
    assert len(lines) == 45
    assert lines[0] == ["00", "adj.all", "3"]
    assert lines[3] == ["03", "noun.Tops", "1"]
    assert lines[29] == ["29", "verb.body", "2"]
    assert lines[2] == ["02", "adv.all", "4"]
    assert lines[44] == ["44", "adj.ppl", "3"]


def test_lexnames_fit_the_data_files(wn):
    # Every synset's lexicographer file number must name a file of its own part of speech.
    category = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
    for pos in ("noun", "verb", "adj", "adv"):
        with wn.open(f"data.{pos}") as handle:
            for line in handle:
                if line.startswith("  "):  # the licence header
                    continue
                _, lexfile, ss_type = line.split(" ", 3)[:3]
                assert cd.LEXICOGRAPHER_FILES[int(lexfile)].split(".")[0] == category[ss_type], line[:40]


def test_wordnet_from_dict_files_reads_wordnet_30(wn):
    assert wn.get_version() == "3.0"
    assert wn.synset("dog.n.01").lexname() == "noun.animal"
    assert wn.synset_from_pos_and_offset("n", 12596709).lemma_names() == ["royal_palm", "Roystonea_regia"]


def test_load_wordnet_reads_nltks_zip(wn, tmp_path):
    # nltk.download leaves corpora/wordnet.zip unless told to extract it.
    (tmp_path / "corpora").mkdir()
    with zipfile.ZipFile(tmp_path / "corpora" / "wordnet.zip", "w") as archive:
        for name in ("lexnames", *cd.REQUIRED_DICT_FILES):
            with wn.open(name) as source:
                archive.writestr(f"wordnet/{name}", source.read())
    reader = cd.load_wordnet(tmp_path)
    assert str(reader.root).endswith("wordnet.zip/wordnet")
    assert [s.name() for s in reader.synsets("glockenspiel")] == ["glockenspiel.n.01"]


def test_missing_dict_files_are_named(tmp_path):
    (tmp_path / "dict").mkdir()
    (tmp_path / "dict" / "data.noun").write_text("")
    with pytest.raises(FileNotFoundError, match="index.sense.*wordnet-sense-index"):
        cd.wordnet_from_dict_files(tmp_path / "dict", tmp_path / "nltk_data")


def test_download_wordnet_is_nltks_downloader_then_the_reader(tmp_path, monkeypatch):
    # The real-run path, without the network: both ends are stand-ins.
    import nltk

    calls = []
    monkeypatch.setattr(nltk, "download", lambda *args, **kwargs: calls.append((args, kwargs)) or True)
    monkeypatch.setattr(cd, "load_wordnet", lambda data_dir: ("reader", data_dir))
    assert cd.download_wordnet(tmp_path) == ("reader", tmp_path)
    assert calls == [(("wordnet",), {"download_dir": str(tmp_path), "quiet": True, "raise_on_error": True})]
    monkeypatch.setattr(nltk, "download", lambda *args, **kwargs: False)
    with pytest.raises(RuntimeError, match="nltk.download"):
        cd.download_wordnet(tmp_path)


# ---------------------------------------------------------------- building imagenet21k

def test_timm_ships_the_imagenet_synset_lists():
    synsets21k = cd.timm_synsets(cd.IMAGENET21K_SYNSETS)
    synsets1k = cd.timm_synsets(cd.IMAGENET1K_SYNSETS)
    assert (len(synsets21k), len(set(synsets21k)), len(synsets1k)) == (21843, 21843, 1000)
    assert synsets21k[0] == "n00004475"


def test_normalise_alias():
    assert cd.normalise_alias("Roystonea_regia") == "roystonea_regia"
    assert cd.normalise_alias("call-in") == "call_in"
    assert cd.normalise_alias("lime juice") == "lime_juice"


def test_shared_aliases_drop_every_synset_that_has_them():
    concepts = {"a": ["flip"], "b": ["flip", "somersault"], "c": ["pest"]}
    assert cd.shared_alias_synsets(concepts) == {"a", "b"}


def test_hypernym_collision_drops_the_hypernym(wn):
    # puppy.n.01 lies below dog.n.01, the first sense of "dog": the dog synset goes.
    concepts = {"n02084071": ["dog"], "n01322604": ["puppy"], "n04379243": ["table"]}
    assert cd.hypernym_collision_synsets(wn, concepts) == {"n02084071"}


def test_vocabulary_restricts_aliases(wn):
    concepts = cd.wordnet_aliases(wn, ["n12596709", "n03440682"], vocabulary=["royal palm"])
    assert concepts == {"n12596709": ["royal_palm"]}


@pytest.mark.parametrize("variant, published", [("ex-1k", "imagenet-ul-ex-1k.json"), ("1k", "imagenet-ul-1k.json")])
def test_built_dictionary_matches_the_published_one(wn, variant, published):
    # The study's cleaning, given the words it could embed. What remains (about 4%)
    # are synsets whose alias the full 21K list shares with a synset the study's
    # own list lacked (see build_imagenet_dictionary).
    target = reference(published)
    built = cd.build_imagenet_dictionary(wn, variant=variant, vocabulary=published_words())
    shares = overlap(built, target)
    print(f"\n{variant}: built {len(built)} synsets, published {len(target)}; "
          + ", ".join(f"{name} {share:.2%}" for name, share in shares.items()))
    assert all(share >= 0.95 for share in shares.values()), shares


def test_without_a_vocabulary_the_dictionary_keeps_rare_aliases(wn):
    target = reference("imagenet-ul-ex-1k.json")
    built = cd.build_imagenet_dictionary(wn)
    shares = overlap(built, target)
    print(f"\nno vocabulary: built {len(built)} synsets; "
          + ", ".join(f"{name} {share:.2%}" for name, share in shares.items()))
    assert 12000 < len(built) < 14000
    assert shares["synsets_of_published"] > 0.8
    assert not built.keys() & set(cd.timm_synsets(cd.IMAGENET1K_SYNSETS))


def test_unknown_variant_is_refused(wn):
    with pytest.raises(ValueError, match="variant"):
        cd.build_imagenet_dictionary(wn, variant="22k")


# ---------------------------------------------------------------- per-alias metadata

def test_alias_metadata(wn):
    metadata = cd.alias_metadata(wn, ["dog", "royal_palm"])
    assert metadata["dog"] == {"polysemy": 8, "zipf": 5.1}  # 7 noun senses and 1 verb
    assert metadata["royal_palm"]["polysemy"] == 1
    assert metadata["royal_palm"]["zipf"] > 0
    assert cd.zipf("apple") == 4.76


def test_zipf_rank_follows_wordfreqs_list():
    from wordfreq import top_n_list, zipf_frequency

    words = top_n_list("en", 100_000)
    assert cd.zipf_rank(zipf_frequency(words[0], "en")) == 1
    for rank in (1_000, 10_000, 100_000):
        # Words of one Zipf value share the best rank among them.
        assert cd.zipf_rank(zipf_frequency(words[rank - 1], "en")) <= rank
        assert cd.zipf_rank(zipf_frequency(words[rank - 1], "en") - 0.01) > rank


def test_zipf_to_rank_bin():
    assert cd.zipf_to_rank_bin(7.73) == "1-10000"  # "the"
    assert cd.zipf_to_rank_bin(3.77) == "1-10000"
    assert cd.zipf_to_rank_bin(3.0) == "10001-100000"
    assert cd.zipf_to_rank_bin(1.0) == ">100000"
    assert cd.zipf_to_rank_bin(0.0) == ">100000"  # unknown to wordfreq


# ---------------------------------------------------------------- published dictionaries

def test_published_dictionaries_load():
    assert (len(reference("imagenet-ul-ex-1k.json")), len(reference("imagenet-ul-1k.json"))) == (5942, 491)
    assert sum(map(len, reference("imagenet-ul-ex-1k.json").values())) == 7194
    cldi = reference("cldi.json")
    assert len(cldi) == 1690
    assert all(aliases == [word] for word, aliases in cldi.items())


def test_published_loader_reads_a_local_file(tmp_path):
    path = tmp_path / "words.json"
    path.write_text(json.dumps({"easy": ["easy"], "n01557185": ["thrush"]}))
    assert cd.load_published(path) == {"easy": ["easy"], "n01557185": ["thrush"]}


def test_published_loader_fetches_from_the_hub(tmp_path, monkeypatch):
    import huggingface_hub

    path = tmp_path / "cldi.json"
    path.write_text(json.dumps({"easy": ["easy"]}))
    calls = []

    def fake_download(repo_id, filename, repo_type, revision):
        calls.append((repo_id, filename, repo_type, revision))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert cd.load_published(cd.PUBLISHED_HUB_DATASETS["cldi"], filename="cldi.json") == {"easy": ["easy"]}
    assert calls == [("jaagli/en-cldi", "cldi.json", "dataset", None)]
    with pytest.raises(FileNotFoundError, match="name the JSON file"):
        cd.load_published("jaagli/en-cldi")


@pytest.mark.parametrize("content", [[["easy"]], {}, {"easy": []}, {"easy": "easy"}, {"easy": [""]}])
def test_published_loader_refuses_other_shapes(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError):
        cd.load_published(path)


# ---------------------------------------------------------------- the rule output

def test_dictionary_round_trip(wn, tmp_path):
    dictionary = cd.make_dictionary(wn, "imagenet21k", "wordnet-3.0", {"n12596709": ["royal_palm", "roystonea_regia"]})
    path = cd.write_dictionary(dictionary, tmp_path / "out" / "imagenet21k.json")
    assert not list(path.parent.glob("*.partial"))
    assert cd.read_dictionary(path) == dictionary
    assert set(dictionary.aliases) == {"royal_palm", "roystonea_regia"}
    assert json.loads(path.read_text())["schema_version"] == cd.SCHEMA_VERSION


def test_reader_refuses_aliases_without_metadata(tmp_path):
    path = tmp_path / "d.json"
    record = {"schema_version": cd.SCHEMA_VERSION, "name": "x", "source": "y",
              "concepts": {"a": ["dog"]}, "aliases": {}}
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="without metadata"):
        cd.read_dictionary(path)
    path.write_text(json.dumps({**record, "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version"):
        cd.read_dictionary(path)
