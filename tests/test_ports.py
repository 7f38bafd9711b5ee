"""Every port has an in-memory fake that satisfies its Protocol and behaves like the real thing."""

from __future__ import annotations

import pytest
from fakes import (
    FakeFrameRenderer,
    FakeGpuProbe,
    FakeStyleStore,
    FakeTextModel,
)
from pydantic import BaseModel

from studio import ports
from studio.errors import BackendUnavailable, BadInput


@pytest.mark.parametrize(
    "fake,protocol",
    [
        (FakeTextModel(), ports.TextModel),
        (FakeTextModel(), ports.ProseStream),
        (FakeStyleStore(), ports.StyleStore),
        (FakeFrameRenderer(), ports.FrameRenderer),
        (FakeGpuProbe(), ports.GpuProbe),
    ],
)
def test_fakes_satisfy_their_ports(fake, protocol):
    assert isinstance(fake, protocol)


class Beat(BaseModel):
    text: str


def test_fake_text_model_validates_structured_output():
    model = FakeTextModel(replies=['{"text": "Mara waits."}', '{"oops": 1}', "not json"])
    assert model.generate_structured("sys", "p", Beat) == Beat(text="Mara waits.")
    with pytest.raises(BadInput, match="Beat"):
        model.generate_structured("sys", "p", Beat)
    with pytest.raises(BadInput):
        model.generate_structured("sys", "p", Beat)
    with pytest.raises(BackendUnavailable):
        model.generate("sys", "nothing left")
    assert len(model.calls) == 4  # the call that found no reply is recorded too


def test_fake_style_store_ranks_by_overlap():
    store = FakeStyleStore()
    store.add("written", ["rain on neon glass", "sunny beach picnic"], "notes.txt")
    hits = store.query("written", "neon rain", k=1)
    assert hits[0].text == "rain on neon glass" and hits[0].source == "notes.txt"


def test_fake_renderers_are_deterministic():
    spec = ports.FrameSpec(kind="panel", title="1A", prompt="wide shot")
    assert FakeFrameRenderer().render_frame(spec) == FakeFrameRenderer().render_frame(spec)
    other = ports.FrameSpec(kind="panel", title="1B", prompt="wide shot")
    assert FakeFrameRenderer().render_frame(spec) != FakeFrameRenderer().render_frame(other)


def test_no_gpu_is_a_state():
    snapshot = FakeGpuProbe().snapshot()
    assert snapshot.available is False and snapshot.free_mb == 0


def test_fake_text_model_streams_and_can_be_cancelled():
    import threading

    from studio.errors import Cancelled

    assert "".join(FakeTextModel(replies=["Mara waits."]).stream("sys", "p")) == "Mara waits. "
    cancel = threading.Event()
    stream = FakeTextModel(replies=["one two three"]).stream("sys", "p", cancel)
    assert next(stream) == "one "
    cancel.set()
    with pytest.raises(Cancelled):
        next(stream)
