"""`make bench`: bake the default project and measure its pipeline against the targets of the performance issue.

    python benchmarks/run.py [--size tiny|full] [--out DIR]

Bakes the template with its default answers into a temporary folder and runs,
with the current interpreter (whose environment has every dependency; nothing
is installed) and PYTHONPATH=<project>/src:

1. full `dvc repro` of a fresh copy of the bake: wall, CPU and peak RSS of the
   whole run and of each stage (read from a per-process log, see hook/);
2. classifier-parameter change: `dvc repro` after editing classifier.C, run
   alternately with (1), on the project (1) just reproduced;
3. no-op `dvc repro` against DVC's floor, a chain of trivial stages of the same
   count (and, to explain the difference, a chain with as many deps, params
   and outs as the real pipeline), alternated;
4. incremental embedding: the `embed` stage's command after editing 1 % of the
   KB articles (warm cache) against the same command with no cache, alternated;
5. `validate` at several row counts against the same checks in plain pandas
   (pandas_validate.py) on the same inputs, alternated;
6. end to end: `dvc repro` at 1 M tickets and 100 k KB articles, with the peak
   RSS of the largest process (wait4) and of the whole process tree (sampled);
7. vector index: build time, query latency p50/p95 and recall@10 against exact
   search, per backend and size (index_bench.py).

Prints a table with each target and PASS/FAIL, and writes results.json (figures,
targets and the machine they came from) and results.png into --out. Timings on a
shared machine are noisy: alternated runs, medians and min-max are reported, and
the ratios are what the targets judge. `--size tiny` runs every measurement at
toy sizes in about two minutes (the test suite does, so this script does not rot);
its figures say nothing about the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
HOOK_DIR = BENCH_DIR / "hook"
PACKAGES = [
    "dvc",
    "great-expectations",
    "pandas",
    "numpy",
    "scikit-learn",
    "skops",
    "faiss-cpu",
    "cookiecutter",
    "matplotlib",
    "torch",  # not a dependency of the default project, but its presence slows skops' import
]
RAN = re.compile(r"^Running stage '([a-z_]+)':", re.MULTILINE)


@dataclass(frozen=True)
class Size:
    """How much of everything one benchmark run does."""

    name: str
    reps: int  # alternated A/B pairs for full repro vs classifier change, embed, validate
    noop_reps: int
    validate_rows: tuple[int, ...]
    e2e_tickets: int
    e2e_kb_articles: int  # also the KB size of the incremental-embedding figures
    index_sizes: tuple[int, ...]
    index_queries: int
    index_latency_queries: int


SIZES = {
    "tiny": Size(
        name="tiny",
        reps=1,
        noop_reps=2,
        validate_rows=(500, 2_000),
        e2e_tickets=2_000,
        e2e_kb_articles=1_000,
        index_sizes=(1_000, 5_000),
        index_queries=100,
        index_latency_queries=50,
    ),
    "full": Size(
        name="full",
        reps=3,
        noop_reps=5,
        validate_rows=(10_000, 100_000, 1_000_000),
        e2e_tickets=1_000_000,
        e2e_kb_articles=100_000,
        index_sizes=(10_000, 100_000, 1_000_000),
        index_queries=1_000,
        index_latency_queries=300,
    ),
}
# The targets of the issue: (key in the summary, description, unit, limit, "max" = value must not exceed limit | "min").
TARGETS = [
    ("full_repro_wall_s", "full dvc repro of the default bake (wall, median)", "s", 30.0, "max"),
    ("noop_ratio", "no-op dvc repro / DVC floor (same stage count)", "x", 1.3, "max"),
    ("classifier_ratio", "classifier-param rerun / full repro", "x", 0.25, "max"),
    ("embed_ratio", "embed after 1 % KB edit / full embed", "x", 0.05, "max"),
    ("validate_ratio", "validate / plain pandas, at the largest size", "x", 3.0, "max"),
    ("e2e_wall_s", "end to end dvc repro (wall)", "s", 600.0, "max"),
    ("e2e_peak_rss_gib", "end to end peak RSS (process tree, sampled)", "GiB", 8.0, "max"),
    ("index_min_recall", "index recall@10 vs exact (lowest, all sizes/backends)", "", 0.95, "min"),
]


# ----------------------------------------------------------------------------- running and measuring commands


def base_env() -> dict[str, str]:
    """The environment of every command: this interpreter's bin first on PATH, nothing phoned home."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PYTHONPATH")}
    return {
        **inherited,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "DVC_NO_ANALYTICS": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "CI": "true",  # no DVC update check
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Benchmark",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Benchmark",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }


class TreeSampler:
    """Samples the summed RSS of a process and all its descendants from /proc, every `interval` seconds.

    `os.wait4` reports the peak of the largest single process in a tree; DVC runs
    a Python process per stage next to its own, so the tree's peak is higher.
    Sampling can miss short spikes between samples.
    """

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak_bytes = pid, interval, 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree_rss(self) -> int:
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                parents.setdefault(ppid, []).append(int(entry))
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            stack += parents.get(pid, [])
            try:
                with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                    total += int(f.read().split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            self._stop.wait(self.interval)

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak_bytes / 2**20


def measure(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, sample_tree: bool = False) -> dict[str, Any]:
    """Run `cmd` to completion: wall, CPU (user + system of it and its descendants), peak RSS, exit code.

    CPU and peak RSS come from `os.wait4`, i.e. the kernel's accounting of the
    process and every descendant it waited for; the peak RSS is that of the
    largest single process. Output goes to `log`; per-process figures of Python
    processes go to `log` + ".processes.jsonl" (see hook/sitecustomize.py).
    """
    processes = log.with_suffix(".processes.jsonl")
    processes.unlink(missing_ok=True)
    env = {**env, "BENCH_PROCESS_LOG": str(processes)}
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid) if sample_tree and Path("/proc").is_dir() else None
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "exit_code": proc.returncode,
    }
    if sampler:
        result["tree_rss_peak_mib"] = round(sampler.stop(), 1)
    result["processes"] = read_process_log(processes)
    output = log.read_text(encoding="utf-8", errors="replace")
    result["ran"] = RAN.findall(output)
    if proc.returncode != 0:
        result["error"] = output[-3000:]
    return result


def read_process_log(path: Path) -> dict[str, dict[str, float]]:
    """Per-process figures by name: a stage module's name (`validate`, ...), `dvc`, or the script's name."""
    figures: dict[str, dict[str, float]] = {}
    if not path.exists():
        return figures
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        script = Path(record["argv"][0]) if record["argv"] and record["argv"][0] else Path("python")
        name = script.stem if script.parent.name == "stages" else script.name
        figures[name] = {key: record[key] for key in ("wall_s", "cpu_s", "max_rss_mib")}
    return figures


def run_checked(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a set-up command (not measured); fail with its output."""
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def summary(values: list[float]) -> dict[str, Any]:
    """Median and min-max of repeated measurements."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": [round(v, 3) for v in values],
    }


def ratio_summary(a: list[float], b: list[float]) -> dict[str, Any]:
    """Ratio of medians, with the min-max of the ratios of the alternated pairs."""
    pairs = [x / y for x, y in zip(a, b, strict=True)]
    return {
        "median": round(statistics.median(a) / statistics.median(b), 4),
        "min": round(min(pairs), 4),
        "max": round(max(pairs), 4),
    }


# ----------------------------------------------------------------------------- projects


@dataclass
class Bench:
    """Where a benchmark run works and how it runs commands."""

    work: Path
    bake: Path  # the pristine bake, copied for each run that needs a fresh project
    package: str
    env: dict[str, str]
    logs: Path

    def project_env(self, project: Path) -> dict[str, str]:
        return {**self.env, "PYTHONPATH": os.pathsep.join([str(HOOK_DIR), str(project / "src")])}

    def copy(self, name: str) -> Path:
        target = self.work / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.bake, target, symlinks=True)
        return target

    def measure(self, name: str, cmd: list[str], project: Path, sample_tree: bool = False) -> dict[str, Any]:
        return measure(cmd, project, self.project_env(project), self.logs / f"{name}.log", sample_tree)

    def stage_cmd(self, stage: str) -> list[str]:
        return [sys.executable, "-m", f"{self.package}.stages.{stage}"]


def bake_default(work: Path, env: dict[str, str]) -> tuple[Path, str]:
    """Bake the template with its defaults; return the project folder and its package name."""
    out = work / "bake"
    run_checked(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), "--output-dir", str(out)], work, env
    )
    (project,) = [p for p in out.iterdir() if (p / "dvc.yaml").exists()]
    (package,) = [p.name for p in (project / "src").iterdir() if (p / "stages").is_dir()]
    return project, package


def set_params(project: Path, values: dict[str, Any]) -> None:
    """Set dotted keys (`data.n_tickets`, `gate.thresholds.retrieval.mrr`) in params.yaml.

    Edits the value on the key's own line and keeps everything else, comments
    included, as a user editing the file would.
    """
    params = project / "params.yaml"
    lines = params.read_text(encoding="utf-8").splitlines(keepends=True)
    for dotted, value in values.items():
        start, end, indent = 0, len(lines), -1
        for part in dotted.split("."):
            found = next(
                (
                    (i, len(m.group(1)))
                    for i in range(start, end)
                    if (m := re.match(rf"^( *){re.escape(part)}:", lines[i])) and len(m.group(1)) > indent
                ),
                None,
            )
            if found is None:
                raise KeyError(f"{dotted} is not in {params}")
            start, indent = found
            # the key's block ends at the next line indented no deeper than the key (blank and comment lines aside)
            end = next(
                (j for j in range(start + 1, end) if lines[j].strip() and not lines[j].lstrip().startswith("#")
                 and len(lines[j]) - len(lines[j].lstrip(" ")) <= indent),
                end,
            )  # fmt: skip
        key, _, rest = lines[start].rstrip("\n").partition(":")
        comment = re.search(r"\s+#.*$", rest)
        lines[start] = f"{key}: {json.dumps(value)}{comment.group(0) if comment else ''}\n"
    params.write_text("".join(lines), encoding="utf-8")


def pipeline_shape(project: Path) -> list[tuple[int, list[str], int]]:
    """(number of deps, params, number of outs) of each stage of `project`'s dvc.yaml, in order."""
    shape = []
    for stage in yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"].values():
        n_outs = sum(len(stage.get(kind, [])) for kind in ("outs", "metrics", "plots"))
        shape.append((len(stage.get("deps", [])), list(stage.get("params", [])), max(1, n_outs)))
    return shape


def make_floor(
    path: Path, shape: list[tuple[int, list[str], int]], params_file: Path | None, env: dict[str, str]
) -> Path:
    """A reproduced DVC project of trivial stages: `python -c` writing small files, chained by deps.

    Stage i has the number of deps, the params and the number of outs of
    `shape[i]`; its first dep is stage i-1's first out, the others are small
    files. With `(1, [], 1)` for each stage this is the issue's floor: a chain
    of trivial stages of the same count.
    """
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    run_checked(["git", "init", "-q"], path, env)
    run_checked(["dvc", "init", "-q"], path, env)
    (path / "s0.txt").write_text("0\n")
    if params_file:
        shutil.copyfile(params_file, path / "params.yaml")
    stages: dict[str, Any] = {}
    for i, (n_deps, params, n_outs) in enumerate(shape, start=1):
        outs = [f"s{i}.txt"] + [f"s{i}_{j}.txt" for j in range(1, n_outs)]
        deps = [f"s{i - 1}.txt"] + [f"d{i}_{j}.txt" for j in range(1, n_deps)]
        for dep in deps[1:]:
            (path / dep).write_text(f"{dep}\n")
        writes = "; ".join(f"open('{out}', 'w').write('{i}')" for out in outs)
        stages[f"s{i}"] = {"cmd": f'python -c "{writes}"', "deps": deps, "outs": outs}
        if params:
            stages[f"s{i}"]["params"] = params
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False), encoding="utf-8")
    run_checked(["git", "add", "-A"], path, env)
    run_checked(["git", "commit", "-q", "-m", "floor"], path, env)
    run_checked(["dvc", "repro", "-q"], path, env)
    return path


# ----------------------------------------------------------------------------- the measurements

# The large-KB runs measure cost, not quality: the retrieval floors of the promote gate were set for the 35
# topic articles, and with 100 k generated articles as distractors the default encoder falls below them
# (the achieved figures are recorded). Without this, promote would stop the pipeline before embed and index.
NO_RETRIEVAL_FLOOR = {"gate.thresholds.retrieval.recall_at_5": 0.0, "gate.thresholds.retrieval.mrr": 0.0}
CLASSIFIER_C = [2.0, 3.0, 5.0, 6.0, 8.0, 1.5, 2.5, 3.5, 4.5, 7.0]  # a new value each rerun: no run-cache hit
EMBED_LINE = re.compile(r"embed: (\d+) articles, (\d+) embedded, (\d+) reused")


def check(result: dict[str, Any], what: str) -> dict[str, Any]:
    if result["exit_code"] != 0:
        raise RuntimeError(f"{what} exited {result['exit_code']}:\n{result.get('error', '')}")
    return result


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one measured command (without its per-process details)."""
    return {key: result[key] for key in ("wall_s", "cpu_s", "max_rss_mib", "tree_rss_peak_mib") if key in result}


def repeated(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and min-max of wall and CPU, and the largest peak RSS, over repeated runs of one command."""
    return {
        "wall_s": summary([r["wall_s"] for r in results]),
        "cpu_s": summary([r["cpu_s"] for r in results]),
        "max_rss_mib": max(r["max_rss_mib"] for r in results),
    }


def per_process(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage (and the dvc process itself): median wall and CPU, largest peak RSS, in execution order."""
    names = list(dict.fromkeys(name for r in results for name in r["processes"]))
    table = {}
    for name in names:
        runs = [r["processes"][name] for r in results if name in r["processes"]]
        table[name] = {
            "wall_s": round(statistics.median(p["wall_s"] for p in runs), 3),
            "cpu_s": round(statistics.median(p["cpu_s"] for p in runs), 3),
            "max_rss_mib": max(p["max_rss_mib"] for p in runs),
        }
    return table


def bench_repro(bench: Bench, size: Size) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Full `dvc repro` of fresh copies of the bake (A), each followed by a classifier change on it (B)."""
    full, rerun = [], []
    project = bench.bake
    for rep in range(size.reps):
        project = bench.copy(f"repro{rep}")
        print(f"  full dvc repro {rep + 1}/{size.reps}", flush=True)
        full.append(check(bench.measure(f"full_repro_{rep}", ["dvc", "repro"], project), "full dvc repro"))
        set_params(project, {"classifier.C": CLASSIFIER_C[rep % len(CLASSIFIER_C)]})
        print(f"  classifier.C changed {rep + 1}/{size.reps}", flush=True)
        rerun.append(check(bench.measure(f"classifier_rerun_{rep}", ["dvc", "repro"], project), "classifier rerun"))
    full_walls = [r["wall_s"] for r in full]
    full_repro = {**repeated(full), "stages": per_process(full), "ran": full[-1]["ran"]}
    classifier = {
        **repeated(rerun),
        "stages": per_process(rerun),
        "ran": rerun[-1]["ran"],
        "ratio": ratio_summary([r["wall_s"] for r in rerun], full_walls),
        "ratio_cpu": ratio_summary([r["cpu_s"] for r in rerun], [r["cpu_s"] for r in full]),
    }
    return full_repro, classifier, project


def bench_noop(bench: Bench, project: Path, size: Size) -> dict[str, Any]:
    """No-op `dvc repro` of the reproduced project, alternated with the floors."""
    shape = pipeline_shape(project)
    floors = {
        "floor": make_floor(bench.work / "floor", [(1, [], 1)] * len(shape), None, bench.env),
        "matched_floor": make_floor(bench.work / "floor_matched", shape, project / "params.yaml", bench.env),
    }
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": [], "matched_floor": []}
    for rep in range(size.noop_reps):
        for name, path in [("ours", project), *floors.items()]:
            result = check(bench.measure(f"noop_{name}_{rep}", ["dvc", "repro"], path), f"no-op dvc repro ({name})")
            if result["ran"]:
                raise RuntimeError(f"no-op dvc repro of {name} ran stages {result['ran']}")
            runs[name].append(result)
    walls = {name: [r["wall_s"] for r in results] for name, results in runs.items()}
    cpus = {name: [r["cpu_s"] for r in results] for name, results in runs.items()}
    return {
        "stages": len(shape),
        "deps": sum(n for n, _, _ in shape),
        **{name: repeated(results) for name, results in runs.items()},
        "ratio": ratio_summary(walls["ours"], walls["floor"]),
        "ratio_cpu": ratio_summary(cpus["ours"], cpus["floor"]),
        "ratio_vs_matched": ratio_summary(walls["ours"], walls["matched_floor"]),
    }


def bench_validate(bench: Bench, size: Size) -> dict[str, Any]:
    """The validate stage's command against pandas_validate.py, at each row count, alternated."""
    project = bench.copy("validate")
    rows = []
    for n in size.validate_rows:
        set_params(project, {"data.n_tickets": n})
        print(f"  validate at {n} rows", flush=True)
        generated = check(bench.measure(f"sample_data_{n}", bench.stage_cmd("sample_data"), project), "sample_data")
        gx, plain = [], []
        for rep in range(size.reps):
            gx.append(check(bench.measure(f"validate_{n}_{rep}", bench.stage_cmd("validate"), project), "validate"))
            pandas_cmd = [sys.executable, str(BENCH_DIR / "pandas_validate.py")]
            plain.append(check(bench.measure(f"pandas_validate_{n}_{rep}", pandas_cmd, project), "pandas checks"))
        rows.append(
            {
                "rows": n,
                "sample_data": figures(generated),
                "validate": repeated(gx),
                "pandas": repeated(plain),
                "ratio": ratio_summary([r["wall_s"] for r in gx], [r["wall_s"] for r in plain]),
                "ratio_cpu": ratio_summary([r["cpu_s"] for r in gx], [r["cpu_s"] for r in plain]),
            }
        )
    return {"sizes": rows}


def bench_e2e(bench: Bench, size: Size) -> tuple[dict[str, Any], Path]:
    """`dvc repro` of a fresh bake at the large data size, with the process tree's RSS sampled."""
    project = bench.copy("e2e")
    set_params(
        project, {"data.n_tickets": size.e2e_tickets, "data.n_kb_articles": size.e2e_kb_articles, **NO_RETRIEVAL_FLOOR}
    )
    print(f"  end to end at {size.e2e_tickets} tickets, {size.e2e_kb_articles} KB articles", flush=True)
    result = bench.measure("e2e", ["dvc", "repro"], project, sample_tree=True)
    e2e = {
        "n_tickets": size.e2e_tickets,
        "n_kb_articles": size.e2e_kb_articles,
        **figures(result),
        "exit_code": result["exit_code"],
        "ran": result["ran"],
        "stages": per_process([result]),
    }
    metrics = project / "metrics/evaluate/metrics.json"
    if metrics.exists():  # quality at scale, for the record: the floors were lowered for this run
        e2e["retrieval"] = json.loads(metrics.read_text(encoding="utf-8")).get("retrieval")
    if result["exit_code"] != 0:
        e2e["error"] = result.get("error", "")
    return e2e, project


def bench_embed(bench: Bench, project: Path, size: Size) -> dict[str, Any]:
    """The embed stage's command after editing 1 % of the KB (warm cache) vs with no cache, alternated.

    A third arm times `import <package>.stages.embed` alone: the fixed cost of
    the process, which bounds how small the ratio can get.
    """
    kb_file = project / "data/validated/kb.csv"
    cache = project / yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))["embed"]["cache_dir"]
    kb = pd.read_csv(kb_file, dtype=str, keep_default_na=False)
    n_edit = max(1, round(0.01 * len(kb)))
    rng = np.random.default_rng(0)
    runs: dict[str, list[dict[str, Any]]] = {"full": [], "incremental": [], "import_only": []}
    embedded: dict[str, list[int]] = {"full": [], "incremental": []}
    for rep in range(size.reps):
        print(f"  embed {rep + 1}/{size.reps}: full, 1 % edited", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
        runs["full"].append(check(bench.measure(f"embed_full_{rep}", bench.stage_cmd("embed"), project), "embed"))
        edited = rng.choice(len(kb), size=n_edit, replace=False)
        kb.loc[edited, "body"] = kb.loc[edited, "body"] + f" Updated in revision {rep + 1}."
        kb.to_csv(kb_file, index=False, lineterminator="\n")
        runs["incremental"].append(
            check(bench.measure(f"embed_incremental_{rep}", bench.stage_cmd("embed"), project), "embed")
        )
        import_cmd = [sys.executable, "-c", f"import {bench.package}.stages.embed"]
        runs["import_only"].append(check(bench.measure(f"embed_import_{rep}", import_cmd, project), "import"))
        for arm in embedded:
            match = EMBED_LINE.search((bench.logs / f"embed_{arm}_{rep}.log").read_text(encoding="utf-8"))
            if match:
                embedded[arm].append(int(match.group(2)))
    walls = {arm: [r["wall_s"] for r in results] for arm, results in runs.items()}
    return {
        "kb_articles": len(kb),
        "edited": n_edit,
        "embedded": embedded,
        **{arm: repeated(results) for arm, results in runs.items()},
        "ratio": ratio_summary(walls["incremental"], walls["full"]),
        "ratio_cpu": ratio_summary([r["cpu_s"] for r in runs["incremental"]], [r["cpu_s"] for r in runs["full"]]),
        # the same ratio above the fixed cost of starting the stage's process (its imports)
        "marginal_ratio": round(
            (statistics.median(walls["incremental"]) - statistics.median(walls["import_only"]))
            / max(1e-9, statistics.median(walls["full"]) - statistics.median(walls["import_only"])),
            4,
        ),
    }


def embed_project(bench: Bench, e2e_project: Path, e2e: dict[str, Any], size: Size) -> Path:
    """The e2e project if its pipeline got through embed; else a default bake with the e2e KB size, reproduced."""
    if e2e["exit_code"] == 0 and (e2e_project / "data/embeddings").exists():
        return e2e_project
    project = bench.copy("kb")
    set_params(project, {"data.n_kb_articles": size.e2e_kb_articles, **NO_RETRIEVAL_FLOOR})
    print(f"  reproducing a project with {size.e2e_kb_articles} KB articles for the embed figures", flush=True)
    check(bench.measure("kb_repro", ["dvc", "repro"], project), "dvc repro with a large KB")
    return project


def bench_index(bench: Bench, project: Path, size: Size) -> dict[str, Any]:
    """index_bench.py on the project's own index code and params, in its own process."""
    kb_vectors = project / "data/embeddings/vectors.npy"
    dim = int(np.load(kb_vectors, mmap_mode="r").shape[1]) if kb_vectors.exists() else 384
    out = bench.logs / "index.json"
    cmd = [
        sys.executable,
        str(BENCH_DIR / "index_bench.py"),
        "--package",
        bench.package,
        "--params",
        str(project / "params.yaml"),
        "--sizes",
        *map(str, size.index_sizes),
        "--dim",
        str(dim),
        "--queries",
        str(size.index_queries),
        "--latency-queries",
        str(size.index_latency_queries),
        "--kb-vectors",
        str(kb_vectors),
        "--out",
        str(out),
    ]
    print(f"  index at {', '.join(map(str, size.index_sizes))} vectors (dim {dim})", flush=True)
    result = check(bench.measure("index", cmd, project), "index benchmark")
    return {
        "dim": dim,
        "queries": size.index_queries,
        "latency_queries": size.index_latency_queries,
        "vectors": (
            "kb: the real KB embeddings of the e2e project, last queries held out; "
            "synthetic: clustered random unit vectors (a centre per ~100 vectors, cosine ~0.7 to it)"
        ),
        "process": figures(result),
        "rows": json.loads(out.read_text(encoding="utf-8")),
    }


# ----------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    """What the figures came from."""
    cpu = platform.processor() or platform.machine()
    ram_gib = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        cpu = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), cpu
        )
        meminfo = Path("/proc/meminfo").read_text(encoding="utf-8")
        ram_gib = round(int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) / 2**20, 1)
    except (OSError, AttributeError):
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=TEMPLATE_DIR, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=TEMPLATE_DIR, capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "template_commit": commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else ""),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the figure that judges it."""
    r = results
    largest = r["validate"]["sizes"][-1]
    e2e = r["e2e"]
    recalls = [row[k] for row in r["index"]["rows"] for k in row if k.startswith("recall_at_")]
    value_detail = {
        "full_repro_wall_s": (
            r["full_repro"]["wall_s"]["median"],
            f"min-max {r['full_repro']['wall_s']['min']}-{r['full_repro']['wall_s']['max']} s; "
            f"CPU {r['full_repro']['cpu_s']['median']} s",
        ),
        "noop_ratio": (
            r["noop"]["ratio"]["median"],
            f"{r['noop']['ours']['wall_s']['median']} s vs {r['noop']['floor']['wall_s']['median']} s; "
            f"pairs {r['noop']['ratio']['min']}-{r['noop']['ratio']['max']}; "
            f"vs a floor of the same shape {r['noop']['ratio_vs_matched']['median']}",
        ),
        "classifier_ratio": (
            r["classifier"]["ratio"]["median"],
            f"{r['classifier']['wall_s']['median']} s vs {r['full_repro']['wall_s']['median']} s; "
            f"pairs {r['classifier']['ratio']['min']}-{r['classifier']['ratio']['max']}",
        ),
        "embed_ratio": (
            r["embed"]["ratio"]["median"],
            f"{r['embed']['incremental']['wall_s']['median']} s vs {r['embed']['full']['wall_s']['median']} s "
            f"at {r['embed']['kb_articles']} articles; import alone {r['embed']['import_only']['wall_s']['median']} s; "
            f"above that floor {r['embed']['marginal_ratio']}",
        ),
        "validate_ratio": (
            largest["ratio"]["median"],
            f"{largest['rows']} rows: {largest['validate']['wall_s']['median']} s vs "
            f"{largest['pandas']['wall_s']['median']} s; CPU ratio {largest['ratio_cpu']['median']}",
        ),
        "e2e_wall_s": (
            e2e["wall_s"],
            f"{e2e['n_tickets']} tickets, {e2e['n_kb_articles']} KB articles; CPU {e2e['cpu_s']} s"
            + ("" if e2e["exit_code"] == 0 else f"; FAILED with exit code {e2e['exit_code']}"),
        ),
        "e2e_peak_rss_gib": (
            round(e2e.get("tree_rss_peak_mib", e2e["max_rss_mib"]) / 1024, 2),
            f"largest single process {round(e2e['max_rss_mib'] / 1024, 2)} GiB",
        ),
        "index_min_recall": (min(recalls), f"{len(recalls)} index/size combinations"),
    }
    rows = []
    for key, description, unit, limit, kind in TARGETS:
        value, detail = value_detail[key]
        passed = value <= limit if kind == "max" else value >= limit
        if key.startswith("e2e") and e2e["exit_code"] != 0:
            passed = False
        rows.append(
            {"key": key, "target": description, "value": value, "unit": unit, "limit": limit, "kind": kind}
            | {"passed": bool(passed), "detail": detail}
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables: targets, stages of the full repro and of e2e, validate, index."""
    m = results["machine"]
    lines = [
        f"Measured {results['date']} with `--size {results['size']}` in {results['duration_s'] / 60:.0f} min on: "
        f"{m['cpu']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
        + f"; template {m['template_commit']}; load average at start {m['load_average_at_start']}.",
        "",
        "| target | measured | limit | result | detail |",
        "|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        sign = "≤" if t["kind"] == "max" else "≥"
        lines.append(
            f"| {t['target']} | {t['value']} {t['unit']} | {sign} {t['limit']} {t['unit']} | "
            f"{'PASS' if t['passed'] else '**FAIL**'} | {t['detail']} |"
        )
    for title, key in [("Full `dvc repro`, default bake (medians)", "full_repro"), ("End to end", "e2e")]:
        stages = results[key]["stages"]
        lines += ["", f"**{title}**", "", "| process | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|"]
        lines += [f"| {name} | {s['wall_s']} | {s['cpu_s']} | {s['max_rss_mib']} |" for name, s in stages.items()]
    lines += [
        "",
        "**validate vs plain pandas** (medians, wall; min-max of the alternated pairs)",
        "",
        "| rows | sample_data s | validate s | pandas s | ratio | CPU ratio | validate peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["validate"]["sizes"]:
        lines.append(
            f"| {row['rows']} | {row['sample_data']['wall_s']} | {row['validate']['wall_s']['median']} | "
            f"{row['pandas']['wall_s']['median']} | {row['ratio']['median']} ({row['ratio']['min']}-"
            f"{row['ratio']['max']}) | {row['ratio_cpu']['median']} | {row['validate']['max_rss_mib']} |"
        )
    index = results["index"]
    lines += [
        "",
        f"**Vector index** (dim {index['dim']}; {index['queries']} queries for recall, "
        f"{index['latency_queries']} timed one by one; one thread)",
        "",
        "| vectors | backend | n | build s | size MiB | p50 ms | p95 ms | recall@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in index["rows"]:
        recall = next(v for k, v in row.items() if k.startswith("recall_at_"))
        lines.append(
            f"| {row['data']} | {row['backend']} | {row['n']} | {row['build_s']} | {row['index_mib']} | "
            f"{row['p50_ms']} | {row['p95_ms']} | {recall} |"
        )
    return "\n".join(lines) + "\n"


def print_table(results: dict[str, Any]) -> None:
    width = max(len(t["target"]) for t in results["targets"])
    print(f"\n{'target':<{width}}  {'measured':>12}  {'limit':>10}  result")
    for t in results["targets"]:
        sign = "<=" if t["kind"] == "max" else ">="
        measured = f"{t['value']} {t['unit']}".strip()
        limit = f"{sign} {t['limit']} {t['unit']}".strip()
        print(f"{t['target']:<{width}}  {measured:>12}  {limit:>10}  {'PASS' if t['passed'] else 'FAIL'}")
        print(f"{'':<{width}}    {t['detail']}")


def plot(results: dict[str, Any], path: Path) -> None:
    """One PNG: stages of the full repro, ratios against their targets, validate scaling, index figures, e2e."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    m = results["machine"]
    fig.suptitle(
        f"cookiecutter-dvc-pipeline benchmark ({results['size']}), {results['date']}: {m['cpu']}, "
        f"{m['usable_cores']} cores, {m['ram_gib']} GiB, Python {m['python']}, dvc {m['packages'].get('dvc')}",
        fontsize=11,
    )

    def stage_bars(ax, stages: dict[str, Any], title: str) -> None:
        # the dvc process's wall spans every stage: only its own CPU goes in the title
        own = stages.get("dvc", {}).get("cpu_s")
        title += f"\n(dvc's own process: {own} s CPU)" if own is not None else ""
        names = [name for name in stages if name != "dvc"]
        y = np.arange(len(names))
        ax.barh(y - 0.2, [stages[n]["wall_s"] for n in names], height=0.4, label="wall s")
        ax.barh(y + 0.2, [stages[n]["cpu_s"] for n in names], height=0.4, label="CPU s")
        for i, name in enumerate(names):
            ax.text(stages[name]["wall_s"], i - 0.2, f" {stages[name]['max_rss_mib']:.0f} MiB", va="center", fontsize=7)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)

    full = results["full_repro"]
    stage_bars(axes[0, 0], full["stages"], f"full dvc repro, default bake: {full['wall_s']['median']} s wall (median)")

    ax = axes[0, 1]
    ratio_targets = [t for t in results["targets"] if t["unit"] == "x"]
    labels = [t["key"].removesuffix("_ratio") for t in ratio_targets]
    values = [t["value"] / t["limit"] for t in ratio_targets]
    ax.bar(labels, values, color=["tab:green" if t["passed"] else "tab:red" for t in ratio_targets])
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    for i, t in enumerate(ratio_targets):
        ax.text(i, values[i], f"{t['value']}\n(limit {t['limit']})", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("measured / limit (below the line passes)")
    ax.set_title("ratio targets", fontsize=10)

    ax = axes[0, 2]
    sizes = results["validate"]["sizes"]
    rows = [s["rows"] for s in sizes]
    for key, label in (("validate", "validate stage (GX)"), ("pandas", "same checks, plain pandas")):
        med = [s[key]["wall_s"]["median"] for s in sizes]
        low = [s[key]["wall_s"]["median"] - s[key]["wall_s"]["min"] for s in sizes]
        high = [s[key]["wall_s"]["max"] - s[key]["wall_s"]["median"] for s in sizes]
        ax.errorbar(rows, med, yerr=[low, high], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tickets")
    ax.set_ylabel("wall s (process)")
    ax.set_title("validate vs plain pandas", fontsize=10)
    ax.legend(fontsize=8)

    index_rows = results["index"]["rows"]
    for ax, key, label in ((axes[1, 0], "p50_ms", "query latency p50, ms"), (axes[1, 1], "build_s", "build s")):
        for backend in sorted({r["backend"] for r in index_rows}):
            picked = [r for r in index_rows if r["backend"] == backend and r["data"] == "synthetic"]
            ax.plot([r["n"] for r in picked], [max(r[key], 1e-3) for r in picked], marker="o", label=backend)
            for r in picked:
                recall = next(v for k, v in r.items() if k.startswith("recall_at_"))
                ax.annotate(f"r@10 {recall}", (r["n"], max(r[key], 1e-3)), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"vectors (synthetic, dim {results['index']['dim']})")
        ax.set_ylabel(label)
        ax.set_title(f"vector index: {label}", fontsize=10)
        ax.legend(fontsize=8)

    e2e = results["e2e"]
    status = "" if e2e["exit_code"] == 0 else f" (FAILED, exit {e2e['exit_code']})"
    stage_bars(
        axes[1, 2],
        e2e["stages"],
        f"end to end, {e2e['n_tickets']} tickets / {e2e['n_kb_articles']} KB: {e2e['wall_s']} s{status}",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def update_doc(doc: Path, block: str) -> None:
    """Replace the text between the results markers of `doc` with `block`."""
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = doc.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise RuntimeError(f"{doc} has no {start} ... {end} block to update")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    doc.write_text(f"{before}{start}\n{block}{end}{after}", encoding="utf-8")


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, help="where results.json and results.png go (default: build/bench/SIZE)")
    parser.add_argument("--doc", type=Path, help="a Markdown file whose results block is replaced with the tables")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (printed) for inspection")
    args = parser.parse_args()
    size = SIZES[args.size]
    out = (args.out or TEMPLATE_DIR / "build" / "bench" / size.name).resolve()
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results: dict[str, Any] = {
        "size": size.name,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "config": {k: v for k, v in vars(size).items()},
    }
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        env = base_env()
        logs = work / "logs"
        logs.mkdir()
        print(f"baking the default project into {work}", flush=True)
        project, package = bake_default(work, env)
        bench = Bench(work=work, bake=project, package=package, env=env, logs=logs)
        print(f"[{time.perf_counter() - started:.0f} s] full dvc repro vs classifier change (alternated)", flush=True)
        results["full_repro"], results["classifier"], reproduced = bench_repro(bench, size)
        print(f"[{time.perf_counter() - started:.0f} s] no-op dvc repro vs DVC's floor (alternated)", flush=True)
        results["noop"] = bench_noop(bench, reproduced, size)
        print(f"[{time.perf_counter() - started:.0f} s] validate vs plain pandas (alternated)", flush=True)
        results["validate"] = bench_validate(bench, size)
        print(f"[{time.perf_counter() - started:.0f} s] end to end", flush=True)
        results["e2e"], e2e_project = bench_e2e(bench, size)
        print(f"[{time.perf_counter() - started:.0f} s] incremental embedding (alternated)", flush=True)
        kb_project = embed_project(bench, e2e_project, results["e2e"], size)
        results["embed"] = bench_embed(bench, kb_project, size)
        print(f"[{time.perf_counter() - started:.0f} s] vector index", flush=True)
        results["index"] = bench_index(bench, kb_project, size)
    finally:
        if args.keep:
            print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot(results, out / "results.png")
    if args.doc:
        update_doc(args.doc, markdown(results))
    print_table(results)
    print(f"\nwrote {out / 'results.json'} and {out / 'results.png'}" + (f", updated {args.doc}" if args.doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
