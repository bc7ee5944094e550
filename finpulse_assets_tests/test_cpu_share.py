"""cpu_share: thread pools sized to the CPUs a process may use (affinity, cgroup v2 quota, a worker's share)."""

import os
import sys

import pytest

from finpulse_assets.runs import cpu_share
from finpulse_assets.runs.cpu_share import (THREADS_ENV, WORKER_CORES_ENV, cgroup_cpu_quota, configure_process_threads,
                                       parse_cpu_max, process_threads, usable_cpus, worker_cores, worker_share)
from finpulse_assets.models.lstm.serving import session_options


def fake_cgroups(tmp_path, own: str, limits: dict[str, str]):
    """A cgroup v2 tree under tmp_path with cpu.max files, and a /proc/self/cgroup naming `own`."""
    root = tmp_path / "cgroup"
    (root / own.lstrip("/")).mkdir(parents=True)
    for path, text in limits.items():
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/") / "cpu.max").write_text(text + "\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(f"0::{own}\n")
    return root, proc


@pytest.mark.parametrize("text, cpus", [("max 100000", None), ("200000 100000", 2.0), ("150000 100000", 1.5),
                                        ("50000 100000", 0.5), ("max", None), ("", None)])
def test_cpu_max_is_read_as_cpus(text, cpus):
    assert parse_cpu_max(text) == cpus


def test_the_tightest_quota_from_the_cgroup_up_to_the_root_counts(tmp_path):
    root, proc = fake_cgroups(tmp_path, "/kubepods/pod1/ctr", {"/kubepods": "400000 100000",
                                                               "/kubepods/pod1": "150000 100000",
                                                               "/kubepods/pod1/ctr": "max 100000"})
    assert cgroup_cpu_quota(root, proc) == 1.5


def test_no_quota_no_cgroup_v2_or_no_files_mean_unlimited(tmp_path):
    root, proc = fake_cgroups(tmp_path, "/user.slice", {"/user.slice": "max 100000"})
    assert cgroup_cpu_quota(root, proc) is None
    v1 = tmp_path / "v1"
    v1.write_text("12:cpu,cpuacct:/docker/abc\n")
    assert cgroup_cpu_quota(root, v1) is None
    assert cgroup_cpu_quota(root, tmp_path / "missing") is None


def test_usable_cpus_is_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    root, proc = fake_cgroups(tmp_path, "/ctr", {"/ctr": "250000 100000"})
    assert usable_cpus(root, proc) == 2  # 2.5 CPUs of quota keep 2 threads busy, not 3
    root, proc = fake_cgroups(tmp_path / "small", "/ctr", {"/ctr": "20000 100000"})
    assert usable_cpus(root, proc) == 1  # a fraction of a CPU still runs one thread
    root, proc = fake_cgroups(tmp_path / "none", "/ctr", {"/ctr": "max 100000"})
    assert usable_cpus(root, proc) == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert usable_cpus(root, proc) == 1  # taskset -c 3 on an 8-core machine


def test_cores_are_split_evenly_over_usable_cpus_and_never_below_one(monkeypatch):
    monkeypatch.setattr(cpu_share, "usable_cpus", lambda *a: 16)
    assert [worker_share(n) for n in (1, 2, 4, 3, 32)] == [16, 8, 4, 5, 1]
    monkeypatch.setattr(cpu_share, "usable_cpus", lambda *a: 1)
    assert worker_share(4) == 1


@pytest.mark.parametrize("value, expected", [("3", 3), ("", None), ("0", None), ("two", None)])
def test_only_a_positive_share_counts(monkeypatch, value, expected):
    monkeypatch.setenv(WORKER_CORES_ENV, value)
    assert worker_cores() == expected


def test_explicit_threads_then_a_worker_share_then_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(cpu_share, "usable_cpus", lambda *a: 6)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv(WORKER_CORES_ENV, raising=False)
    assert process_threads() == 6
    monkeypatch.setenv(WORKER_CORES_ENV, "3")
    assert process_threads() == 3
    monkeypatch.setenv(THREADS_ENV, "1")
    assert process_threads() == 1


def test_a_worker_process_sessions_take_its_share_and_an_explicit_setting_wins(monkeypatch):
    monkeypatch.delenv(WORKER_CORES_ENV, raising=False)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(cpu_share, "usable_cpus", lambda *a: 5)
    assert session_options().intra_op_num_threads == 5  # not ONNX Runtime's every core
    monkeypatch.setenv(WORKER_CORES_ENV, "1")
    assert session_options().intra_op_num_threads == 1
    assert session_options(2).intra_op_num_threads == 2


def test_configure_sets_the_environment_torch_and_blas_but_keeps_what_the_user_set(monkeypatch):
    import torch
    from threadpoolctl import threadpool_info

    for name in cpu_share.THREAD_ENV_VARS + ("OMP_WAIT_POLICY",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    before = torch.get_num_threads()
    try:
        assert configure_process_threads(1) == 1
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["MKL_NUM_THREADS"] == "7"
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's own setting wins over the argument
        assert configure_process_threads(1) == 2
    finally:
        torch.set_num_threads(before)


def test_a_fresh_process_loading_the_definitions_sizes_torch_before_it_loads(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in cpu_share.THREAD_ENV_VARS + ("OMP_WAIT_POLICY",)}
    env[THREADS_ENV] = "1"
    code = ("import finpulse_assets.definitions, os, torch; "
            "print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.split()[-2:] == ["1", "PASSIVE"]


def test_a_ticker_run_worker_takes_its_share_over_the_parents_inherited_sizing(monkeypatch):
    import dagster

    import finpulse_assets.definitions as definitions
    from finpulse_assets.runs import ticker_runs

    for name in cpu_share.THREAD_ENV_VARS:
        monkeypatch.setenv(name, "8")  # what the parent's own sizing left in the environment
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(definitions, "build_definitions", lambda settings, **kwargs: "defs")
    monkeypatch.setattr(dagster.DagsterInstance, "get", staticmethod(lambda: "instance"))
    monkeypatch.setattr(ticker_runs, "_worker", {})
    # What a worker process does to itself and must not do to the test's process: its own process group and
    # signal handlers for its life.
    import contextlib

    from finpulse_assets.engine.executor import DEFAULT
    from finpulse_assets.runs import launch

    monkeypatch.setattr(ticker_runs.os, "setpgrp", lambda: None)
    monkeypatch.setattr(launch, "stop_on_signals", lambda **kwargs: contextlib.nullcontext())
    import torch

    before = torch.get_num_threads()
    try:
        ticker_runs._init_worker(None, "units", 1, DEFAULT)
        assert all(os.environ[name] == "1" for name in cpu_share.THREAD_ENV_VARS + (WORKER_CORES_ENV,))
        assert process_threads() == 1 and torch.get_num_threads() == 1
        assert {k: ticker_runs._worker[k] for k in ("defs", "instance", "units")} == \
            {"defs": "defs", "instance": "instance", "units": "units"}
    finally:
        torch.set_num_threads(before)
        monkeypatch.delenv(WORKER_CORES_ENV, raising=False)
