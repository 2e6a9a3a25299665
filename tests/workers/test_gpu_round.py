"""bench/gpu_round.py end to end on the tiny pipelines (CPU), so a GPU session finds it working:
rows measured, compared with stock, skipped by the budget, one table last; the compile cache's
parts round-trip. Timings are not looked at."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def gpu_round(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_round

    yield gpu_round
    for name in ("gpu_round", "gpu_svd", "gpu_zeroscope"):
        sys.modules.pop(name, None)


def test_the_round_runs_on_the_tiny_pipelines_and_prints_one_table_last(
    gpu_round, tmp_path, capsys
):
    rows = "svd-14:stock,svd-14:turbo,zeroscope-24:stock,zeroscope-24:compiled"
    argv = ["--tiny", "--repeat", "1", "--rows", rows, "--compile-backend", "eager"]
    assert gpu_round.main([*argv, "--out", str(tmp_path), "--cache-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "round.json").read_text())
    results = {r["key"]: r for r in report["results"]}
    assert list(results) == rows.split(",")
    assert report["tiny"] is True and report["env"]["torch"] and report["env"]["diffusers"]
    assert all(r["status"] == "ok" and r["nan"] is False for r in results.values())
    assert results["svd-14:stock"]["shape"] == [4, 64, 128, 3]
    turbo = results["svd-14:turbo"]
    assert turbo["shape"] == [4, 64, 128, 3] and turbo["speedup"] > 0
    assert 0 < turbo["mean_abs_diff"] < 60 and turbo["psnr_min_db"] > 10
    assert "UNet whole 1×, reused 2×" in turbo["note"]
    # dynamo's trace of the UNet runs the same kernels as eager: the same output exactly.
    assert results["zeroscope-24:compiled"]["mean_abs_diff"] == 0.0
    # The table is the last thing printed, and it is the one written to round.md.
    table = (tmp_path / "round.md").read_text().strip()
    assert printed.rstrip().endswith(table)
    lines = table.splitlines()
    assert lines[0].startswith("### GPU round: CPU") and "torch 2." in lines[0]
    assert "diffusers 0." in lines[0] and "driver -" in lines[0]
    assert sum(1 for line in lines if line.startswith("| svd-") or line.startswith("| zero")) == 4


def test_the_budget_guard_skips_rows_instead_of_overrunning(gpu_round, tmp_path):
    argv = ["--tiny", "--rows", "svd-25:*", "--budget-s", "0", "--out", str(tmp_path)]
    assert gpu_round.main(argv) == 1  # nothing measured
    results = json.loads((tmp_path / "round.json").read_text())["results"]
    assert [r["key"] for r in results] == [
        "svd-25:stock",
        "svd-25:turbo",
        "svd-25:cudagraphs+flags",
        "svd-25:turbo+cudagraphs+flags",
        "svd-25:second-start",
    ]
    assert all(r["status"] == "skipped" and r["note"].startswith("budget") for r in results)
    assert (
        "| svd-25:stock | 128×64, 5 frames, 25 steps | – |" in (tmp_path / "round.md").read_text()
    )


def test_compile_artifacts_are_saved_in_parts_and_loaded_back(gpu_round, tmp_path, monkeypatch):
    blob = bytes(range(256)) * 40  # 10240 bytes → 3 parts of at most 4096
    loaded = []
    monkeypatch.setattr(gpu_round, "PART_BYTES", 4096)
    monkeypatch.setattr(gpu_round.torch.compiler, "save_cache_artifacts", lambda: (blob, None))
    monkeypatch.setattr(gpu_round.torch.compiler, "load_cache_artifacts", loaded.append)
    out, cache = tmp_path / "out", tmp_path / "cache"
    (cache).mkdir()
    (cache / "compile-artifacts.009.bin").write_bytes(b"stale")
    assert gpu_round.save_artifacts(cache, out) == len(blob)
    parts = sorted(p.name for p in cache.iterdir())
    assert parts == [f"compile-artifacts.{i:03d}.bin" for i in range(3)]
    assert sorted(p.name for p in out.iterdir()) == parts
    assert gpu_round.load_artifacts(cache) == len(blob) and loaded == [blob]
    assert gpu_round.load_artifacts(tmp_path / "nothing-here") == 0
    monkeypatch.setattr(gpu_round.torch.compiler, "save_cache_artifacts", lambda: None)
    assert gpu_round.save_artifacts(cache) == 0  # nothing compiled: the old parts stay
    assert len(list(cache.iterdir())) == 3
    # Less than was loaded at start (compiles that all came from the cache): the fuller one stays.
    monkeypatch.setattr(gpu_round.torch.compiler, "save_cache_artifacts", lambda: (b"x", None))
    assert gpu_round.save_artifacts(cache, floor=len(blob)) == 0
    assert b"".join(p.read_bytes() for p in sorted(cache.iterdir())) == blob
