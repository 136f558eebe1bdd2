"""Search history and calibration under concurrency: every write lands, none is lost."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from shotseek.pipeline import history
from shotseek.pipeline.config import CALIBRATION_WINDOW, Settings
from shotseek.pipeline.models import SearchQuery, SearchResult


def _hammer(n_threads: int, fn) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def run(i: int) -> None:
        start.wait()
        try:
            fn(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_searches_lose_no_calibration_update(tmp_path):
    settings = Settings(data_dir=tmp_path)
    per_thread = 6  # 8 × 6 = 48 updates: within the window, so every one must be kept

    def judge(i: int) -> None:
        for j in range(per_thread):
            history.judge_top_score(settings, "m", "text", 0.5 + i / 100 + j / 1000)

    errors = _hammer(8, judge)
    assert errors == []
    assert 8 * per_thread < CALIBRATION_WINDOW
    assert history.calibration_counts(settings, "m") == {"text": 8 * per_thread}
    assert not list((tmp_path / "calibration").glob("*.tmp"))


def test_concurrent_searches_all_keep_their_record(tmp_path):
    settings = Settings(data_dir=tmp_path)
    ids = [[f"{i:02d}{j:02d}abcdef" for j in range(20)] for i in range(8)]

    def save(i: int) -> None:
        for search_id in ids[i]:
            result = SearchResult(
                search_id=search_id,
                model_id="m",
                query=SearchQuery(text="x"),
                hits=[],
                no_good_match=None,
                created_at=datetime.now(UTC),
            )
            history.save_search(settings, history.SearchRecord(result=result, vector=[1.0]))

    assert _hammer(8, save) == []
    for search_id in (s for row in ids for s in row):
        assert history.load_search_record(settings, search_id).result.search_id == search_id
