"""The Artifact Vault page with AppTest: what the stages produced, shown per branch.

Artifacts are made through the Studio as the app's buttons make them (image keys, visual
states, anchor frames, clips and a scene cut, all real CPU animatic renders), then the vault
page must show them: thumbnails, players, download buttons, a tab per branch. Same set-up as
``test_app.py`` (whose fixtures and helpers this reuses).
"""

from __future__ import annotations

import pytest
import test_app
from flows import SHORT, lock_phase_a, lock_through_prompts, render_and_approve_frames
from test_app import assert_ok, open_app, texts

from studio.model import Stage

VAULT = "pages/vault.py"

home = test_app.home
studio = test_app.studio


def kinds(studio, pid: str, branch: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for group in studio.vault(pid, branch):
        for item in group.items:
            found[item.kind] = found.get(item.kind, 0) + 1
    return found


@pytest.fixture
def rendered(studio):
    """Two Rooms with scene 1 rendered: image keys, visual states, frames, clips, scene cut."""
    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    pid = project.id
    lock_phase_a(studio, pid)
    lock_through_prompts(studio, pid, (1, 2))
    render_and_approve_frames(studio, pid, 1)
    studio.confirm_render(pid, 1, backend="animatic")
    for _ in range(2):  # the clips, then the scene cut queued once they are in
        studio.drain_queue()
        studio.sync_renders(pid)
    return pid


def test_producers_record_their_artifacts_in_the_vault(studio, rendered):
    pid = rendered
    found = kinds(studio, pid, "main")
    state = studio.state(pid)
    doc = state.ordered_scenes()[0]
    assert found["image key"] == len(state.assets.assets)
    assert found["visual state"] == 2  # both scenes' locks
    assert found["frame"] == len(doc.work.frames)
    assert found["clip"] == len([c for c in doc.work.clips if c.shot_id != "scene"])
    assert found["scene cut"] == 1
    items = {i.kind: i for g in studio.vault(pid) for i in g.items}
    assert items["frame"].is_image and items["frame"].stage is Stage.FRAMES
    assert items["clip"].is_video and items["scene cut"].media_id == doc.work.assembled
    assert items["image key"].file_name.endswith(".png")
    assert items["scene cut"].file_name.endswith(".mp4")
    assert studio.media_bytes(items["scene cut"].media_id)[4:8] == b"ftyp"
    # The visual state says in words what the lock fixed.
    assert items["visual state"].label.startswith("Visual state: ")


def test_vault_page_shows_thumbnails_players_downloads_per_branch(studio, rendered):
    pid = rendered
    # Another branch that produces something of its own: a fresh image key there.
    studio.create_branch(pid, "alt-look")
    studio.switch(pid, "alt-look")
    asset = studio.state(pid).assets.assets[0]
    studio.lock_asset(pid, asset.id, False)
    studio.generate_image_key(pid, asset.id)
    studio.switch(pid, "main")

    at = open_app(pid)
    at.switch_page(VAULT).run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    labels = [t.label.replace("\\", "") for t in at.tabs]  # labels are escaped Markdown
    assert labels[0].startswith("main (") and any(lb.startswith("alt-look (") for lb in labels)
    main_tab = at.tabs[0]
    main_items = [i for g in studio.vault(pid, "main") for i in g.items]
    frames = [i for i in main_items if i.kind == "frame"]
    videos = [i for i in main_items if i.is_video]
    assert frames and videos
    # Thumbnails for image keys and frames; a player for each clip and the scene cut.
    assert len(main_tab.get("image")) >= min(len(frames), 12)
    assert len(main_tab.get("video")) == len(videos)
    downloads = {b.key for b in at.get("download_button")}
    for item in frames + videos:
        assert f"vault_dl_{item.id}" in downloads
    alt_tab = at.tabs[labels.index(next(lb for lb in labels if lb.startswith("alt-look (")))]
    alt_items = [i for g in studio.vault(pid, "alt-look") for i in g.items]
    assert [i.kind for i in alt_items] == ["image key"]
    assert len(alt_tab.get("image")) == 1
    assert [e.label for e in alt_tab.expander] == ["Stage 5 — Assets & style (1)"]


def test_vault_page_without_artifacts_says_so(studio):
    project = studio.create_project("Empty")
    at = open_app(project.id)
    at.switch_page(VAULT).run()
    assert_ok(at)
    assert "Nothing generated yet" in texts(at.caption)
