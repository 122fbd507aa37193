"""Embedding on Dask (`embed.engine: dask`) on real clusters on 127.0.0.1.

The engine's promise is DVC's: the same bytes as `engine: local` (outputs and
cache), with a cold and a warm cache and whatever the chunk size; a worker killed
mid-run is recovered from or fails the stage cleanly; with every worker gone the
stage exits non-zero with one line and leaves the earlier outputs and the cache
as they were. Clusters are a `LocalCluster` started by the stage, or a
`dask scheduler` and `dask worker` processes started here (DASK_SCHEDULER_ADDRESS).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT_PACKAGE, NO_NETWORK, TEMPLATE_DIR, base_env, ran_stages, run, tree_digest

# its own group: a bake of its own on the other xdist worker, beside the long "reproduced" group
pytestmark = [pytest.mark.pipeline, pytest.mark.xdist_group("dask")]

STAGE = [sys.executable, "-m", f"{DEFAULT_PACKAGE}.stages.embed"]
DASK = str(Path(sys.executable).parent / "dask")


def set_embed(project: Path, **values) -> None:
    """Set keys of the `embed` section in params.yaml (each key name appears once in that section)."""
    params = project / "params.yaml"
    text = params.read_text()
    section = re.search(r"^embed:\n(?:[ #].*\n|\n)*", text, re.MULTILINE)
    body = section.group(0)
    for key, value in values.items():
        pattern = re.compile(rf"^(\s+{key}:) \S+", re.MULTILINE)
        assert len(pattern.findall(body)) == 1, f"{key} is not a unique key of the embed section"
        body = pattern.sub(rf"\g<1> {value}", body)
    params.write_text(text[: section.start()] + body + text[section.end() :])


def repro_offline(project: Path) -> subprocess.CompletedProcess:
    """`dvc repro` with no network but the loopback a LocalCluster talks over."""
    if not NO_NETWORK:
        return run(["dvc", "repro"], project)
    return run([*NO_NETWORK, "sh", "-c", "ip link set lo up && exec dvc repro"], project)


def edit_articles(project: Path, rows: list[int]) -> None:
    """Change the body of some validated KB articles, as `validate` would write them after an edit."""
    path = project / "data/validated/kb.csv"
    kb = pd.read_csv(path, dtype=str, keep_default_na=False)
    kb.loc[rows, "body"] = kb.loc[rows, "body"] + " Updated for the new release."
    kb.to_csv(path, index=False)


def test_dask_writes_the_bytes_of_local_with_a_cold_and_a_warm_cache(reproduced_copy):
    project = reproduced_copy
    local_outputs = tree_digest(project / "data/embeddings")
    local_cache = tree_digest(project / ".cache/embeddings")

    set_embed(project, engine="dask", chunk_size=4)
    assert ran_stages(repro_offline(project)) == []  # the engine never changes an output: nothing reruns

    # A cold cache: evaluate embeds the 35 articles on a LocalCluster in 9 chunks, embed reuses them.
    set_embed(project, cache_dir=".cache/embeddings-dask")
    result = repro_offline(project)
    assert ran_stages(result) == ["evaluate", "embed"]
    assert "embed: 35 articles, 0 embedded, 35 reused from cache" in result.stdout
    assert tree_digest(project / "data/embeddings") == local_outputs
    assert tree_digest(project / ".cache/embeddings-dask") == local_cache

    # A warm cache that lacks 4 edited articles, chunks of 3: on Dask, then locally from the same cache.
    edit_articles(project, [0, 5, 17, 34])
    shutil.copytree(project / ".cache/embeddings-dask", project / ".cache/embeddings-local")
    set_embed(project, chunk_size=3)
    result = run(STAGE, project)
    assert "embed: 35 articles, 4 embedded on the Dask cluster, 31 reused from cache" in result.stdout
    on_dask = tree_digest(project / "data/embeddings"), tree_digest(project / ".cache/embeddings-dask")
    set_embed(project, engine="local", cache_dir=".cache/embeddings-local")
    assert "embed: 35 articles, 4 embedded, 31 reused from cache" in run(STAGE, project).stdout
    assert (tree_digest(project / "data/embeddings"), tree_digest(project / ".cache/embeddings-local")) == on_dask
    assert on_dask[0] != local_outputs  # the edit reached the vectors


@contextlib.contextmanager
def dask_cluster(project: Path, folder: Path, n_workers: int = 2):
    """A `dask scheduler` and `n_workers` one-thread `dask worker` processes (no nanny: a killed worker stays dead),
    all on 127.0.0.1 without dashboards. Yields the address, the worker processes and a client."""
    from distributed import Client

    scheduler_file = folder / "scheduler.json"
    env = {**base_env(), "PYTHONPATH": str(project / "src")}  # workers import the project's package
    log = (folder / "cluster.log").open("w")
    common = {"cwd": project, "env": env, "stdout": log, "stderr": subprocess.STDOUT}
    host = ["--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", scheduler_file]
    processes = [subprocess.Popen([DASK, "scheduler", "--port", "0", *host], **common)]
    client = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # written, then filled
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [
            subprocess.Popen([DASK, "worker", "--nthreads", "1", "--no-nanny", *host], **common)
            for _ in range(n_workers)
        ]
        processes += workers
        client = Client(address, timeout=30)
        if n_workers:
            client.wait_for_workers(n_workers, timeout=60)
        yield address, workers, client
    finally:
        if client is not None:
            client.close()
        for process in processes:
            process.kill()
            process.wait()
        log.close()


def big_kb(project: Path, copies: int = 120) -> int:
    """Make data/validated/kb.csv `copies` times larger, each copy a distinct revision of every article."""
    path = project / "data/validated/kb.csv"
    kb = pd.read_csv(path, dtype=str, keep_default_na=False)
    revisions = [kb.assign(id=kb["id"] + f"-r{n}", body=kb["body"] + f" Revision {n}.") for n in range(copies)]
    pd.concat(revisions, ignore_index=True).to_csv(path, index=False)
    return len(kb) * copies


def run_and_kill(
    project: Path, address: str, client, victims: list[subprocess.Popen], sig=signal.SIGKILL, after_chunks: int = 20
):
    """Run the embed stage on the cluster and send `sig` to `victims` once `after_chunks` chunks are done and more
    are still to come. Returns the stage's result and whether the signal came mid-run."""
    stage = subprocess.Popen(
        STAGE,
        cwd=project,
        env={**base_env(), "PYTHONPATH": str(project / "src"), "DASK_SCHEDULER_ADDRESS": address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mid_run = False
    deadline = time.monotonic() + 300
    while stage.poll() is None and time.monotonic() < deadline:
        # chunks finished and held on the cluster (a lambda: sent by value, the scheduler cannot import this file)
        done = client.run_on_scheduler(
            lambda dask_scheduler: sum(t.state == "memory" for t in dask_scheduler.tasks.values())
        )
        if done >= after_chunks:
            for worker in victims:
                worker.send_signal(sig)
            mid_run = stage.poll() is None
            break
        time.sleep(0.02)
    stdout, stderr = stage.communicate(timeout=120)
    return subprocess.CompletedProcess(STAGE, stage.returncode, stdout, stderr), mid_run


def local_reference(project: Path) -> tuple[dict, dict]:
    """The local engine's outputs and cache for the current KB, from a cold cache."""
    set_embed(project, engine="local", cache_dir=".cache/embeddings-reference")
    run(STAGE, project)
    return tree_digest(project / "data/embeddings"), tree_digest(project / ".cache/embeddings-reference")


def segments(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/*segment-*")) if cache.exists() else []


def test_a_worker_killed_mid_run_is_recovered_from_with_the_same_bytes_or_fails_cleanly(reproduced_copy, tmp_path):
    project = reproduced_copy
    n_articles = big_kb(project)
    outputs, cache = local_reference(project)
    set_embed(project, engine="dask", chunk_size=4, cache_dir=".cache/embeddings-dask")
    with dask_cluster(project, tmp_path) as (address, workers, client):
        result, mid_run = run_and_kill(project, address, client, victims=workers[:1])
        assert mid_run, "the stage finished before a worker could be killed"
        assert len(client.scheduler_info()["workers"]) == 1
    if result.returncode == 0:  # Dask ran the lost chunks again on the other worker
        assert f"embed: {n_articles} articles, {n_articles} embedded on the Dask cluster" in result.stdout
        assert tree_digest(project / "data/embeddings") == outputs
        assert tree_digest(project / ".cache/embeddings-dask") == cache
    else:
        assert_failed_cleanly(project, result, outputs)


def assert_failed_cleanly(project: Path, result: subprocess.CompletedProcess, outputs: dict) -> None:
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("embed: ")]
    assert line.startswith("embed: the Dask cluster (tcp://127.0.0.1:") and len(line) < 400
    assert "Traceback" not in result.stderr
    assert tree_digest(project / "data/embeddings") == outputs  # the earlier outputs, untouched
    assert segments(project / ".cache/embeddings-dask") == []  # no segment, not even a partial one


def test_every_worker_gone_stops_the_stage_with_one_line_and_keeps_outputs_and_cache(reproduced_copy, tmp_path):
    project = reproduced_copy
    big_kb(project)
    outputs, _ = local_reference(project)
    set_embed(project, engine="dask", chunk_size=4, cache_dir=".cache/embeddings-dask", timeout_s=20)
    with dask_cluster(project, tmp_path) as (address, workers, client):
        result, mid_run = run_and_kill(project, address, client, victims=workers)
        assert mid_run, "the stage finished before the workers could be killed"
    assert result.returncode == 1
    assert_failed_cleanly(project, result, outputs)


def test_an_unreachable_scheduler_is_one_line(reproduced_copy):
    project = reproduced_copy
    set_embed(project, engine="dask", cache_dir=".cache/embeddings-dask")
    address = {"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9", "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    result = run(STAGE, project, check=False, **address)
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1].startswith("embed: cannot reach the Dask cluster (tcp://127.0.0.1:9): ")
    )
    assert "Traceback" not in result.stderr and segments(project / ".cache/embeddings-dask") == []


def test_a_cluster_without_workers_stops_the_stage_after_timeout_s(reproduced_copy, tmp_path):
    project = reproduced_copy
    outputs = tree_digest(project / "data/embeddings")
    set_embed(project, engine="dask", cache_dir=".cache/embeddings-dask", timeout_s=3)
    with dask_cluster(project, tmp_path, n_workers=0) as (address, _, _):
        result = run(STAGE, project, check=False, DASK_SCHEDULER_ADDRESS=address)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"embed: the Dask cluster ({address}) failed to embed 35 texts: TimeoutError: No valid workers found"
    )
    assert tree_digest(project / "data/embeddings") == outputs and segments(project / ".cache/embeddings-dask") == []


def test_a_hung_worker_stops_the_stage_after_timeout_s(reproduced_copy, tmp_path):
    project = reproduced_copy
    n_articles = big_kb(project)
    outputs, _ = local_reference(project)
    set_embed(project, engine="dask", chunk_size=4, cache_dir=".cache/embeddings-dask", timeout_s=3)
    with dask_cluster(project, tmp_path, n_workers=1) as (address, workers, client):
        result, mid_run = run_and_kill(project, address, client, victims=workers, sig=signal.SIGSTOP)
        assert mid_run, "the stage finished before the worker could be stopped"
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("embed: ")]
    assert re.fullmatch(
        rf"embed: the Dask cluster \({address}\) returned no chunk in 3 s \(\d+ of {n_articles // 4} left, workers "
        r"connected: 1\): check the cluster, or raise embed.dask.timeout_s for slower chunks",
        line,
    )
    assert_failed_cleanly(project, result, outputs)


TINY_BERT = """
import sys
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer, models
from transformers import BertConfig, BertModel, BertTokenizerFast

from {package}.embeddings import embed_texts, vector_engine
from {package}.encoders import Encoder, build_encoder
from {package}.io import read_csv
from {package}.params import load_params
from {package}.text import kb_documents


def main():  # LocalCluster workers are spawned: they import this file, which must not run again
    out = Path(sys.argv[1])
    documents = kb_documents(read_csv("data/validated/kb.csv"))
    words = sorted({{word for text in documents for word in text.lower().split()}})
    (out / "bert").mkdir(parents=True)
    (out / "bert/vocab.txt").write_text("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\\n")
    tokenizer = BertTokenizerFast(vocab_file=str(out / "bert/vocab.txt"))
    config = BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out / "bert")
    tokenizer.save_pretrained(out / "bert")
    transformer = models.Transformer(str(out / "bert"), max_seq_length=128)
    SentenceTransformer(modules=[transformer, models.Pooling(32)]).save(str(out / "tiny"))

    params = load_params()
    settings = {{"model_path": str(out / "tiny"), "batch_size": 4}}
    encoder_params = {{**params["encoder"], "sentence_transformers": settings}}
    build_encoder("sentence-transformers", documents, encoder_params, out / "encoder")
    encoder = Encoder(out / "encoder")

    fresh = embed_texts(encoder, documents, out / "fresh")
    embed_texts(encoder, documents[::3], out / "cached")
    cached = embed_texts(encoder, documents, out / "cached")
    assert cached.n_embedded == len(documents) - len(documents[::3])
    dask = {{"engine": "dask", "dask": {{"workers": 2, "chunk_size": 5, "timeout_s": 300}}}}
    with vector_engine(encoder, dask) as encode:
        on_dask = embed_texts(encoder, documents, out / "dask", encode)
    assert on_dask.n_embedded == len(documents)
    print("fresh == cached:", fresh.vectors.tobytes() == cached.vectors.tobytes())
    print("fresh == dask:", fresh.vectors.tobytes() == on_dask.vectors.tobytes())
    lengths = {{len(tokenizer(text, truncation=True, max_length=128)["input_ids"]) for text in documents}}
    print("token lengths:", len(lengths))


if __name__ == "__main__":
    main()
"""


def test_sentence_transformers_vectors_are_the_same_fresh_cached_and_on_dask(reproduced_copy, tmp_path):
    """A tiny BERT made here (never downloaded), as a sentence-transformers folder: unpadded batches make each
    vector depend on its text alone, so a cache filled piecemeal and a LocalCluster give the bytes of one run."""
    script = tmp_path / "tiny_bert.py"
    script.write_text(TINY_BERT.format(package=DEFAULT_PACKAGE))
    if NO_NETWORK:
        command = [*NO_NETWORK, "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, script, tmp_path]
    else:
        command = [sys.executable, script, tmp_path]
    result = run(command, reproduced_copy, HF_HUB_OFFLINE="1")
    assert "fresh == cached: True" in result.stdout and "fresh == dask: True" in result.stdout
    assert int(result.stdout.split("token lengths:")[1]) > 5  # many lengths: many batches of different make-up


def test_the_tiny_dask_benchmark_measures_both_engines_and_their_bytes_agree(tmp_path):
    """The full run writes the table of docs/scaling-out.md; this one measures tfidf-svd at toy sizes (MiniLM,
    whose scatter alone takes a minute here, runs in `make bench BENCH_SIZE=tiny`)."""
    script = TEMPLATE_DIR / "benchmarks" / "dask_embed.py"
    args = ["--sizes", "1000", "2000", "--neural", "0", "--chunk-size", "500", "--out", tmp_path]
    result = run([sys.executable, script, *args], tmp_path)
    rows = json.loads((tmp_path / "dask_embed.json").read_text())["rows"]
    assert [(r["encoder"], r["articles"]) for r in rows] == [("tfidf-svd", 1000), ("tfidf-svd", 2000)]
    for row in rows:
        assert row["same_bytes"] is True and row["local_s"] > 0 and row["dask_s"] > row["cluster_start_s"] > 0
        assert row["speedup"] == round(row["local_s"] / row["dask_s"], 2)
        assert row["overhead_s"] == round(row["dask_s"] - row["local_s"] / 2, 2)
    assert "| tfidf-svd | 1,000 |" in result.stdout and "| tfidf-svd | 2,000 |" in result.stdout
