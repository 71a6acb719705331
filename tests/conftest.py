"""Shared fixtures: the tiny models are built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """A folder with every tiny architecture of synesthesia.models.tiny, built offline."""
    from synesthesia.models.tiny import BUILDERS, build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    for architecture in BUILDERS:
        build_tiny_model(architecture, root / architecture)
    return root


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """A prepared shapes dataset: text.tsv (captions) and images.tsv with the same ids."""
    from synesthesia.data.shapes import make_shapes

    return make_shapes(tmp_path_factory.mktemp("shapes"), n=24, image_size=48, seed=0)
