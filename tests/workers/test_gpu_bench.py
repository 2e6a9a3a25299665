"""The GPU benchmark scripts (bench/gpu_svd.py, bench/gpu_zeroscope.py) run end to end on the
tiny pipelines, so a GPU session finds them working. Timings are not looked at."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_svd
    import gpu_zeroscope

    yield {"svd": gpu_svd, "zeroscope": gpu_zeroscope}
    for name in ("gpu_svd", "gpu_zeroscope"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    "script, second", [("svd", "decode chunk=all"), ("zeroscope", "decode chunks=8")]
)
def test_a_gpu_benchmark_runs_on_the_tiny_pipeline(bench_modules, tmp_path, script, second):
    out = tmp_path / "result.json"
    argv = ["--tiny", "--repeat", "1", "--variants", "stock,chunk=all", "--json", str(out)]
    assert bench_modules[script].main(argv) == 0
    report = json.loads(out.read_text())
    assert report["env"]["tiny"] is True and report["env"]["frames"] == 4
    results = report["results"]
    assert [r["variant"] for r in results] == ["stock", second]
    assert all(r["shape"] == [1, 4, 64, 128, 3] and not r["nan"] for r in results)
    assert results[1]["speedup"] > 0 and len(results[1]["runs"]) == 1
