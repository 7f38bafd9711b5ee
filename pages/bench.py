"""Page timings for ``studio bench pages``: AppTest reruns of every page, printed as JSON.

Run by :func:`studio.bench.bench_pages` as a child process (``python -m pages.bench``) on a
data dir it prepared: the core never imports Streamlit. Not a page of the app (the
navigation in ``streamlit_app.py`` names its pages one by one).

Usage: ``python -m pages.bench HOME PROJECT_ID SCENE_ID [RERUNS]``. For each page: open it,
run it once more (warm: the Studio, caches and the page's own first-run work are done), then
time ``RERUNS`` reruns and report the median and the worst, in seconds.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

PAGES = [
    "pages/dashboard.py",
    "pages/stage1_input.py",
    "pages/stage4_script.py",
    "pages/stage5_assets.py",
    "pages/stage6_hub.py",
    "pages/stage7_shots.py",
    "pages/stage8_visual.py",
    "pages/stage9_prompts.py",
    "pages/stage10_frames.py",
    "pages/stage11_confirm.py",
    "pages/stage12_video.py",
    "pages/history.py",
    "pages/vault.py",
    "pages/qa_dashboard.py",
    "pages/settings.py",
]
APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def time_pages(project_id: str, scene_id: str, reruns: int = 3) -> dict[str, dict[str, float | str]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    at.session_state["project_id"] = project_id
    at.session_state["scene_id"] = scene_id
    start = time.perf_counter()
    at.run()
    figures: dict[str, dict[str, float | str]] = {"(first run)": {"first_s": time.perf_counter() - start}}
    for page in PAGES:
        at.switch_page(page)
        start = time.perf_counter()
        at.run()
        first = time.perf_counter() - start
        times = []
        for _ in range(reruns):
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
        problems = [str(e.value)[:200] for e in at.exception]
        figures[page] = {
            "first_s": round(first, 3),
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
            "error": problems[0] if problems else "",
        }
    return figures


def main(argv: list[str]) -> int:
    home, project_id, scene_id = argv[:3]
    reruns = int(argv[3]) if len(argv) > 3 else 3
    os.environ["AIUTEUR_HOME"] = home
    os.environ["AIUTEUR_AUTOSTART_WORKER"] = "0"
    sys.path.insert(0, str(APP.parent))
    print(json.dumps(time_pages(project_id, scene_id, reruns)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
