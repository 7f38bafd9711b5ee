"""Workflow templates against the real ComfyUI 0.3.64 object_info, the index, fill, the hash
and the preflight messages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from render.workflows import (
    IndexEntry,
    TemplateError,
    fill,
    load_index,
    load_template,
    model_files,
    preflight_error,
    template_values,
    validate_against,
    workflow_hash,
)

pytestmark = pytest.mark.timeout(30)

# The full GET /object_info of a real ComfyUI 0.3.64 (tests/fixtures/comfyui/README.md).
OBJECT_INFO_PATH = Path(__file__).resolve().parent / "fixtures" / "comfyui" / "object_info.json"
INDEX = load_index()
NAMES = sorted(INDEX.entries)


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return json.loads(OBJECT_INFO_PATH.read_text(encoding="utf-8"))


def test_index_lists_every_template_file() -> None:
    files = {p.name for p in INDEX.folder.glob("*.json")} - {"index.json"}
    assert files == {e.file for e in INDEX.entries.values()}
    assert set(NAMES) == {
        "keyframe_sdxl",
        "keyframe_flux",
        "img2img_reference",
        "inpaint_region",
        "wan22_flf2v",
        "wan22_i2v",
        "wan22_ti2v_5b",
        "interpolate_rife",
        "upscale",
    }


@pytest.mark.parametrize("name", NAMES)
def test_template_names_only_real_nodes_and_inputs(name: str, object_info: dict[str, Any]) -> None:
    """Every class and input exists in core ComfyUI, except the declared custom nodes; the
    only other problems against the recorded (model-less) server are model files and
    input images, which a real server supplies."""
    entry = INDEX.entry(name)
    graph = INDEX.load_template(name)
    problems = validate_against(graph, object_info)
    for p in problems:
        if p.kind == "missing_node":
            assert p.class_type in entry.custom_nodes, p.message
        else:
            assert p.kind in ("missing_model", "missing_file"), p.message
    for class_type in entry.custom_nodes:
        assert class_type not in object_info, f"{class_type} is core now: drop it from custom_nodes"
    # The model lists the server lacks are exactly the index's model parameters.
    missing_models = {p.value for p in problems if p.kind == "missing_model"}
    custom_models = {
        graph[s.paths[0][0]]["inputs"][s.paths[0][1]]
        for param, s in entry.params.items()
        if param in entry.models and graph[s.paths[0][0]]["class_type"] in entry.custom_nodes
    }
    assert missing_models | custom_models == set(model_files(graph, entry))


@pytest.mark.parametrize("name", NAMES)
def test_index_paths_types_and_defaults_match_the_template(
    name: str, object_info: dict[str, Any]
) -> None:
    entry = INDEX.entry(name)
    graph = INDEX.load_template(name)
    expected_kind = {"int": "INT", "float": "FLOAT", "bool": "BOOLEAN"}
    for param, spec in entry.params.items():
        for node_id, input_name in spec.paths:
            assert input_name in graph[node_id]["inputs"], (param, node_id, input_name)
            class_type = graph[node_id]["class_type"]
            if class_type in entry.custom_nodes:
                continue
            info = object_info[class_type]["input"]
            decl = {**info.get("required", {}), **info.get("optional", {})}[input_name]
            head = decl[0]
            if spec.type in expected_kind:
                assert head == expected_kind[spec.type], (param, head)
            elif spec.type in ("image", "video"):
                assert decl[1].get("image_upload") or decl[1].get("video_upload"), param
            else:
                assert head in ("STRING", "COMBO") or isinstance(head, list), (param, head)
    for param, model in entry.models.items():
        node_id, input_name = entry.params[param].paths[0]
        assert graph[node_id]["inputs"][input_name] == model.default
    # The template's own values satisfy the index (fill with them is the identity).
    values = template_values(graph, entry)
    assert fill(graph, values, entry) == graph
    assert entry.vram_mb > 0
    assert entry.output in ("image", "video")


def test_wan_templates_are_two_expert_low_vram_graphs() -> None:
    flf = INDEX.load_template("wan22_flf2v")
    classes = [n["class_type"] for n in flf.values()]
    for needed in (
        "UNETLoader",
        "CLIPLoader",
        "VAELoader",
        "ModelSamplingSD3",
        "WanFirstLastFrameToVideo",
        "KSamplerAdvanced",
        "VAEDecode",
        "CreateVideo",
        "SaveVideo",
    ):
        assert needed in classes
    assert classes.count("LoadImage") == 2
    assert (
        next(n for n in flf.values() if n["class_type"] == "CLIPLoader")["inputs"]["type"] == "wan"
    )
    i2v = INDEX.load_template("wan22_i2v")
    assert "WanImageToVideo" in [n["class_type"] for n in i2v.values()]
    assert [n["class_type"] for n in i2v.values()].count("LoadImage") == 1
    # Frame count is 4n+1.
    entry = INDEX.entry("wan22_flf2v")
    base = {"start_frame": "a.png", "end_frame": "b.png", "prompt": "walk"}
    assert fill(flf, {**base, "frames": 81}, entry)["11"]["inputs"]["length"] == 81
    with pytest.raises(TemplateError, match="4n\\+1"):
        fill(flf, {**base, "frames": 80}, entry)


# --------------------------------------------------------------------------- fill


def test_fill_sets_every_path_and_leaves_the_template_alone() -> None:
    entry = INDEX.entry("wan22_flf2v")
    template = INDEX.load_template("wan22_flf2v")
    before = copy.deepcopy(template)
    graph = fill(
        template,
        {
            "start_frame": "aiuteur/s.png",
            "end_frame": "aiuteur/e.png",
            "prompt": "rain",
            "seed": 42,
            "steps": 8,
            "cfg": 4,
        },
        entry,
    )
    assert template == before
    assert graph["12"]["inputs"]["noise_seed"] == graph["13"]["inputs"]["noise_seed"] == 42
    assert graph["12"]["inputs"]["steps"] == graph["13"]["inputs"]["steps"] == 8
    assert graph["12"]["inputs"]["cfg"] == 4.0 and isinstance(graph["12"]["inputs"]["cfg"], float)
    assert graph["9"]["inputs"]["image"] == "aiuteur/s.png"
    # A deep copy: editing the result does not reach the template.
    graph["7"]["inputs"]["text"] = "changed"
    assert template["7"]["inputs"]["text"] == before["7"]["inputs"]["text"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prompt": "x", "sed": 1}, "unknown parameter"),
        ({"prompt": 3}, "must be str"),
        ({"prompt": "x", "seed": "1"}, "must be int"),
        ({"prompt": "x", "seed": True}, "must be int"),
        ({"prompt": "x", "seed": -1}, "below its minimum"),
        ({"prompt": "x", "cfg": float("nan")}, "must be float"),
        ({"prompt": "x", "cfg": "7"}, "must be float"),
        ({"prompt": "x", "width": 1001}, "multiple of 8"),
        ({"seed": 1}, "needs parameter"),
    ],
)
def test_fill_rejects_unknown_and_mistyped_parameters(params: dict[str, Any], message: str) -> None:
    entry = INDEX.entry("keyframe_sdxl")
    template = INDEX.load_template("keyframe_sdxl")
    before = copy.deepcopy(template)
    with pytest.raises(TemplateError, match=message):
        fill(template, params, entry)
    assert template == before


def test_fill_rejects_path_like_upload_names_and_bad_choices() -> None:
    entry = INDEX.entry("img2img_reference")
    template = INDEX.load_template("img2img_reference")
    for bad in ("../etc/passwd", "/abs.png", "a//b.png", ""):
        with pytest.raises(TemplateError, match="uploaded file"):
            fill(template, {"reference": bad, "prompt": "x"}, entry)
    flux = INDEX.entry("keyframe_flux")
    with pytest.raises(TemplateError, match="choose one of"):
        fill(INDEX.load_template("keyframe_flux"), {"prompt": "x", "weight_dtype": "int4"}, flux)


def test_fill_reports_an_index_path_the_template_lacks() -> None:
    entry = INDEX.entry("keyframe_sdxl")
    broken = IndexEntry.model_validate(
        {
            **entry.model_dump(),
            "params": {
                **entry.model_dump()["params"],
                "seed": {"type": "int", "paths": [["99", "seed"]]},
            },
        }
    )
    with pytest.raises(TemplateError, match="node 99"):
        fill(INDEX.load_template("keyframe_sdxl"), {"prompt": "x", "seed": 1}, broken)


_values = {
    "str": st.text(max_size=40),
    "int": st.integers(min_value=0, max_value=2**40),
    "float": st.floats(min_value=0, max_value=30, allow_nan=False),
    "bool": st.booleans(),
}


@st.composite
def _param_sets(draw: st.DrawFn, name: str) -> dict[str, Any]:
    entry = INDEX.entry(name)
    params: dict[str, Any] = {}
    for param, spec in entry.params.items():
        if not (spec.required or draw(st.booleans())):
            continue
        if spec.type in ("image", "video"):
            params[param] = draw(
                st.from_regex(r"[a-z]{1,8}/[a-z0-9_]{1,12}\.(png|mp4)", fullmatch=True)
            )
        elif spec.choices:
            params[param] = draw(st.sampled_from(spec.choices))
        elif spec.type == "int":
            lo = int(spec.min or 0)
            hi = int(min(spec.max or 2**40, 2**40))
            value = draw(st.integers(min_value=lo, max_value=hi))
            if spec.mod:
                d, r = spec.mod
                value = value - (value - r) % d
                if value < lo:
                    value += d
                if value > hi:
                    continue
            params[param] = value
        elif spec.type == "float":
            params[param] = draw(
                st.floats(min_value=spec.min or 0.0, max_value=spec.max or 30.0, allow_nan=False)
            )
        else:
            params[param] = draw(_values[spec.type])
    return params


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(NAMES))
def test_fill_is_pure_and_places_every_value(data: st.DataObject, name: str) -> None:
    entry = INDEX.entry(name)
    template = INDEX.load_template(name)
    before = json.dumps(template, sort_keys=True)
    params = data.draw(_param_sets(name))
    graph = fill(template, params, entry)
    assert json.dumps(template, sort_keys=True) == before
    for param, value in params.items():
        for node_id, input_name in entry.params[param].paths:
            assert graph[node_id]["inputs"][input_name] == value
    assert fill(template, params, entry) == graph
    assert workflow_hash(fill(template, params, entry)) == workflow_hash(graph)


@settings(max_examples=40, deadline=None)
@given(
    value=st.one_of(
        st.none(), st.lists(st.integers()), st.dictionaries(st.text(), st.integers()), st.binary()
    )
)
def test_fill_rejects_values_of_no_param_type(value: Any) -> None:
    entry = INDEX.entry("keyframe_sdxl")
    for param in ("prompt", "seed", "cfg"):
        with pytest.raises(TemplateError):
            fill(INDEX.load_template("keyframe_sdxl"), {"prompt": "x", param: value}, entry)


def test_workflow_hash_is_canonical() -> None:
    graph = INDEX.load_template("keyframe_sdxl")
    reordered = {k: graph[k] for k in reversed(list(graph))}
    assert workflow_hash(graph) == workflow_hash(reordered)
    assert len(workflow_hash(graph)) == 64
    changed = fill(graph, {"prompt": "x", "seed": 2}, INDEX.entry("keyframe_sdxl"))
    assert workflow_hash(changed) != workflow_hash(
        fill(graph, {"prompt": "x", "seed": 3}, INDEX.entry("keyframe_sdxl"))
    )


def test_load_template_and_bad_indexes(tmp_path: Path) -> None:
    assert load_template("upscale") == INDEX.load_template("upscale")
    with pytest.raises(TemplateError, match="no workflow template"):
        INDEX.entry("nope")
    with pytest.raises(TemplateError, match="cannot read"):
        load_index(tmp_path)
    (tmp_path / "index.json").write_text('{"templates": {"x": {"file": "../x.json"}}}')
    with pytest.raises(TemplateError, match="template 'x'"):
        load_index(tmp_path)
    (tmp_path / "index.json").write_text(
        '{"templates": {"x": {"file": "x.json", "purpose": "p", "output": "image", "params": {}, "vram_mb": 1}}}'
    )
    (tmp_path / "x.json").write_text('{"1": {"class_type": "SaveImage"}}')
    with pytest.raises(TemplateError, match="class_type and an inputs"):
        load_index(tmp_path).load_template("x")


# --------------------------------------------------------------------------- preflight


def _with_models(object_info: dict[str, Any], **lists: list[str]) -> dict[str, Any]:
    info = copy.deepcopy(object_info)
    where = {
        "ckpt_name": ("CheckpointLoaderSimple", "ckpt_name"),
        "unet_name": ("UNETLoader", "unet_name"),
        "clip_name": ("CLIPLoader", "clip_name"),
        "vae_name": ("VAELoader", "vae_name"),
    }
    for key, files in lists.items():
        cls, name = where[key]
        info[cls]["input"]["required"][name][0] = files
    return info


def test_a_checkpoint_missing_on_the_server_is_named(object_info: dict[str, Any]) -> None:
    entry = INDEX.entry("keyframe_sdxl")
    graph = fill(INDEX.load_template("keyframe_sdxl"), {"prompt": "x"}, entry)
    problems = validate_against(
        graph, _with_models(object_info, ckpt_name=["juggernautXL_v9.safetensors"])
    )
    assert [p.kind for p in problems] == ["missing_model"]
    assert (
        problems[0].class_type == "CheckpointLoaderSimple"
        and problems[0].value == "sd_xl_base_1.0.safetensors"
    )
    error = preflight_error(problems, entry)
    assert error.failure_class == "missing_model" and not error.retryable
    assert (
        "checkpoint sd_xl_base_1.0.safetensors is not in CheckpointLoaderSimple's list on the server"
        in str(error)
    )
    assert "models/checkpoints" in str(error)
    # With the file present the graph is clean.
    assert (
        validate_against(graph, _with_models(object_info, ckpt_name=["sd_xl_base_1.0.safetensors"]))
        == []
    )


def test_wan_models_are_named_with_their_loaders(object_info: dict[str, Any]) -> None:
    entry = INDEX.entry("wan22_i2v")
    graph = fill(
        INDEX.load_template("wan22_i2v"), {"prompt": "x", "start_frame": "aiuteur/s.png"}, entry
    )
    info = _with_models(
        object_info,
        unet_name=["wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"],
        clip_name=["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
        vae_name=["wan_2.1_vae.safetensors"],
    )
    problems = validate_against(graph, info, uploaded=["aiuteur/s.png"])
    assert [(p.kind, p.value) for p in problems] == [
        ("missing_model", "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors")
    ]
    message = str(preflight_error(problems, entry))
    assert (
        "diffusion model wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors is not in UNETLoader's list"
        in message
    )
    assert "models/diffusion_models" in message
    # Without the upload the start frame is a missing input file.
    assert "missing_file" in {p.kind for p in validate_against(graph, info)}


def test_rife_is_reported_with_its_pack(object_info: dict[str, Any]) -> None:
    entry = INDEX.entry("interpolate_rife")
    graph = fill(INDEX.load_template("interpolate_rife"), {"video": "aiuteur/clip.mp4"}, entry)
    problems = validate_against(graph, object_info, uploaded=["aiuteur/clip.mp4"])
    assert [(p.kind, p.class_type) for p in problems] == [("missing_node", "RIFE VFI")]
    error = preflight_error(problems, entry)
    assert error.failure_class == "missing_node"
    assert "RIFE VFI — install the ComfyUI-Frame-Interpolation pack" in str(error)
    assert "github.com/Fannovel16/ComfyUI-Frame-Interpolation" in str(error)
    # An undeclared unknown class gets the generic advice.
    other = preflight_error(
        validate_against({"1": {"class_type": "NoSuchNode", "inputs": {}}}, object_info)
    )
    assert "NoSuchNode — not a node this ComfyUI knows" in str(other)


@pytest.mark.parametrize(
    ("mutate", "kind", "fragment"),
    [
        (lambda g: g["3"]["inputs"].update(sampler_name="nope"), "bad_value", "not one of"),
        (lambda g: g["3"]["inputs"].update(steps=0), "bad_value", "below the minimum"),
        (lambda g: g["3"]["inputs"].update(steps="20"), "bad_value", "must be a number"),
        (lambda g: g["3"]["inputs"].update(steps=2.5), "bad_value", "must be a number"),
        (lambda g: g["3"]["inputs"].update(denoise=1.5), "bad_value", "above the maximum"),
        (lambda g: g["3"]["inputs"].update(colour=1), "unknown_input", "no input 'colour'"),
        (lambda g: g["3"]["inputs"].pop("model"), "missing_input", "needs input 'model'"),
        (lambda g: g["3"]["inputs"].update(model=["99", 0]), "bad_link", "not in the workflow"),
        (lambda g: g["3"]["inputs"].update(model=["4", 7]), "bad_link", "which has 3"),
        (lambda g: g["3"]["inputs"].update(model=["4", 1]), "bad_link", "wants MODEL"),
        (lambda g: g["3"]["inputs"].update(model="sd_xl"), "bad_link", "needs a link"),
        (lambda g: g["9"]["inputs"].update(filename_prefix=3), "bad_value", "must be text"),
        (lambda g: g.pop("9"), "no_outputs", "no output node"),
        (lambda g: g.update({"10": {"inputs": {}}}), "malformed", "no class_type"),
    ],
)
def test_validate_against_finds_each_kind(
    mutate: Any, kind: str, fragment: str, object_info: dict[str, Any]
) -> None:
    graph = fill(
        INDEX.load_template("keyframe_sdxl"), {"prompt": "x"}, INDEX.entry("keyframe_sdxl")
    )
    mutate(graph)
    info = _with_models(object_info, ckpt_name=["sd_xl_base_1.0.safetensors"])
    problems = validate_against(graph, info)
    assert kind in {p.kind for p in problems}, problems
    assert any(fragment in p.message for p in problems if p.kind == kind)
    error = preflight_error(problems, INDEX.entry("keyframe_sdxl"))
    assert error.failure_class == "validation"
    assert fragment in str(error)


def test_new_style_combo_lists_are_checked(object_info: dict[str, Any]) -> None:
    """``["COMBO", {"options": [...]}]`` (SaveVideo's format) as well as ``[[...]]``."""
    graph = INDEX.load_template("upscale")
    graph["7"]["inputs"]["format"] = "avi"
    problems = validate_against(graph, object_info, uploaded=["clip.mp4"])
    assert any(p.kind == "bad_value" and p.input == "format" for p in problems)
