"""Indexing on Ray (a local Ray with 2 CPUs, started once for this module): the same archive as
a local run, a file that fails on a worker reported while the others land, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import ConfigError
from shotseek.pipeline.models import IndexReport
from shotseek.pipeline.runners import index_paths
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.archive import archive_of, assert_same_archive, cli_env, run_cli
from tests.kit.footage import files_that_break, random_footage, standard_footage

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster-media")
    standard_footage(root / "a_standard.mp4")
    random_footage(root / "b_random.mp4", seed=5)
    # the first probes fine and fails while it is decoded (on a worker)
    files_that_break(root / "c_truncated.mp4", root / "d_not_a_video.mp4")
    return root


def _here_and_on_ray(
    paths, root, ray_progress=None
) -> dict[str, tuple[IndexReport, dict, list[float]]]:
    """The same files indexed locally and on Ray: each run's report, archive, and the keyframe
    times whose thumbnails were read back from the videos (the others were kept while
    decoding)."""
    from shotseek.pipeline import thumbnails

    runs = {}
    frames_at = thumbnails.frames_at

    def counting(into: list[float]):
        def counted(path, times, **kwargs):
            into.extend(times)
            return frames_at(path, times, **kwargs)

        return counted

    for where in ("here", "ray"):
        settings = Settings(
            data_dir=root / where,
            model=TINY_CLIP,
            device="cpu",
            ray="local" if where == "ray" else None,
        )
        progress = ray_progress if where == "ray" else None
        read_back: list[float] = []
        thumbnails.frames_at = counting(read_back)
        try:
            with ShotStore(settings) as store:
                report = index_paths(paths, settings, store=store, progress=progress)
        finally:
            thumbnails.frames_at = frames_at
        runs[where] = (report, archive_of(settings), sorted(read_back))
    return runs


def test_ray_gives_the_archive_a_local_run_gives(local_ray, media, tmp_path, monkeypatch):
    # with a token set (the settings once reached Ray's tasks and actors with it masked, and
    # every file failed there)
    monkeypatch.setenv("SHOTSEEK_TOKEN", "a-token-of-the-http-server-0123")
    events = []
    runs = _here_and_on_ray([media], tmp_path, events.append)
    assert {e.stage for e in events} >= {"probe", "sample", "store", "done", "failed"}
    (here, archive_here, read_here), (there, archive_there, read_there) = runs["here"], runs["ray"]
    # the thumbnails a worker made travelled with its samples: the driver read back the same
    # keyframes as a local run, not all of them
    assert read_there == read_here
    assert len(read_here) < sum(len(shots) for shots in archive_here.values())
    status = {r.path.rsplit("/", 1)[1]: r.status for r in there.results}
    assert status == {
        "a_standard.mp4": "indexed",
        "b_random.mp4": "indexed",
        "c_truncated.mp4": "failed",
        "d_not_a_video.mp4": "failed",
    }
    assert [r.path for r in there.results] == [r.path for r in here.results]
    truncated = next(r for r in there.results if r.path.endswith("c_truncated.mp4"))
    assert "c_truncated.mp4" in truncated.reason
    assert truncated.reason == next(
        r.reason for r in here.results if r.path.endswith("c_truncated.mp4")
    )
    assert sorted(archive_there) == ["a_standard.mp4", "b_random.mp4"]
    assert_same_archive(archive_here, archive_there)


def test_an_embedding_worker_killed_mid_run_is_replaced_and_nothing_is_lost(
    local_ray, media, tmp_path
):
    import psutil

    killed = []

    def kill_the_embedder(event) -> None:
        if killed or event.stage != "sample" or event.samples < 2:
            return
        for proc in psutil.process_iter(["cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if title.startswith("ray::") and "Embedder" in title:
                proc.kill()  # kill -9, mid-run
                killed.append(title)
                return

    files = [media / "a_standard.mp4", media / "b_random.mp4"]
    runs = _here_and_on_ray(files, tmp_path, kill_the_embedder)
    assert killed, "no embedding actor was found to kill"
    for report, *_ in runs.values():
        assert [r.status for r in report.results] == ["indexed", "indexed"], report
    assert_same_archive(runs["here"][1], runs["ray"][1])
    assert runs["ray"][2] == runs["here"][2]  # retried rows brought their thumbnails again


def test_a_second_ray_run_skips_what_is_indexed(local_ray, media, tmp_path):
    settings = Settings(data_dir=tmp_path, model=TINY_CLIP, device="cpu", ray="local")
    with ShotStore(settings) as store:
        first = index_paths([media / "a_standard.mp4"], settings, store=store)
        again = index_paths([media / "a_standard.mp4"], settings, store=store)
    assert [r.status for r in first.results] == ["indexed"]
    assert [r.status for r in again.results] == ["skipped"]


def test_paths_a_node_cannot_read_are_named(local_ray, tmp_path):
    from shotseek.pipeline.cluster import check_paths_on_nodes

    here = tmp_path / "here.mp4"
    here.write_bytes(b"x")
    check_paths_on_nodes(local_ray, [str(here)])
    with pytest.raises(ConfigError, match=r"cannot read /nowhere/x\.mp4.*same path on every node"):
        check_paths_on_nodes(local_ray, [str(here), "/nowhere/x.mp4"])


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    from shotseek.pipeline import cluster

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"uv sync --extra ray"):
        cluster.connect("auto")


def test_a_path_taken_for_the_address_is_said(media):
    from shotseek.pipeline import cluster

    # the CLI reads `--ray PATH` as `--ray auto PATH`; a setting naming a path is said
    with pytest.raises(ConfigError, match=r"a file or folder: give 'auto', 'local' or ray://"):
        cluster.connect(str(media))


def test_an_unreachable_cluster_is_named(monkeypatch):
    from shotseek.pipeline import cluster

    class Unreachable:
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(**_kwargs):
            raise ConnectionError("could not find any running Ray instance")

    monkeypatch.setattr(cluster, "_ray", lambda: Unreachable)
    with pytest.raises(ConfigError, match=r"cannot reach the Ray cluster at 'auto'.*ray start"):
        cluster.connect("auto")


def test_cli_index_on_the_cluster_keeps_stdout_for_json(local_ray, media, tmp_path):
    # A second process joins this module's Ray by its address, as `--ray ADDRESS` does
    address = local_ray.get_runtime_context().gcs_address
    done = run_cli(
        "index",
        str(media / "a_standard.mp4"),
        "--json",
        "--ray",
        address,
        env=cli_env(tmp_path / "data"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # nothing but the report on stdout
    assert [r["status"] for r in report["results"]] == ["indexed"]


def test_cli_without_ray_says_how_to_install_it_before_loading_a_model(media, tmp_path):
    # Ray made unimportable, and a model that cannot load: the Ray error must come first
    script = (
        "import sys; sys.modules['ray'] = None; "
        "from shotseek.server.cli import main; "
        f"sys.argv = ['shotseek', 'index', {str(media / 'a_standard.mp4')!r}, '--ray']; main()"
    )
    env = {**os.environ, "SHOTSEEK_DATA_DIR": str(tmp_path), "SHOTSEEK_MODEL": "/nowhere/x.pt"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "uv sync --extra ray" in done.stderr and "nowhere" not in done.stderr


def test_ray_takes_an_optional_address(media):
    from shotseek.server.cli import with_ray_value

    path = str(media)
    assert with_ray_value(["index", path, "--ray"]) == ["index", path, "--ray", "auto"]
    assert with_ray_value(["index", "--ray", path]) == ["index", "--ray", "auto", path]
    assert with_ray_value(["index", path, "--ray", "--json"])[3] == "auto"
    assert with_ray_value(["index", path, "--ray", "local"]) == ["index", path, "--ray", "local"]
    assert with_ray_value(["index", path, "--ray", "10.0.0.1:6379"])[3] == "10.0.0.1:6379"
    assert with_ray_value(["index", path, "--ray", "ray://h:10001"])[3] == "ray://h:10001"
    assert with_ray_value(["search", "a dog"]) == ["search", "a dog"]
