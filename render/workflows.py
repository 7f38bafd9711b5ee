"""ComfyUI workflow templates: the index of their injectable inputs, a pure ``fill``, the
workflow hash, and the preflight check of a graph against a server's ``/object_info``.

Templates are ComfyUI API-format graphs (``{node_id: {"class_type", "inputs"}}``) kept as
JSON in ``workflows/`` (STYLE 8: workflows are data). ``workflows/index.json`` says, per
template, which named parameters may be injected and where each one goes (one or more
``(node id, input name)`` paths), which loader inputs name model files the server must have,
which node classes come from custom node packs, and a default VRAM estimate.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from render.backend import RenderFailed

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
INDEX_FILE = "index.json"

# Loader inputs whose combo lists are model files on the server, with what to call them and
# the ComfyUI models/ folder they live in. Anything else that looks like a weights file
# (by extension) is reported as a model too.
MODEL_INPUTS: dict[tuple[str, str], tuple[str, str]] = {
    ("CheckpointLoaderSimple", "ckpt_name"): ("checkpoint", "checkpoints"),
    ("ImageOnlyCheckpointLoader", "ckpt_name"): ("checkpoint", "checkpoints"),
    ("UNETLoader", "unet_name"): ("diffusion model", "diffusion_models"),
    ("CLIPLoader", "clip_name"): ("text encoder", "text_encoders"),
    ("DualCLIPLoader", "clip_name1"): ("text encoder", "text_encoders"),
    ("DualCLIPLoader", "clip_name2"): ("text encoder", "text_encoders"),
    ("TripleCLIPLoader", "clip_name1"): ("text encoder", "text_encoders"),
    ("TripleCLIPLoader", "clip_name2"): ("text encoder", "text_encoders"),
    ("TripleCLIPLoader", "clip_name3"): ("text encoder", "text_encoders"),
    ("VAELoader", "vae_name"): ("VAE", "vae"),
    ("CLIPVisionLoader", "clip_name"): ("CLIP vision model", "clip_vision"),
    ("UpscaleModelLoader", "model_name"): ("upscale model", "upscale_models"),
    ("LoraLoader", "lora_name"): ("LoRA", "loras"),
    ("LoraLoaderModelOnly", "lora_name"): ("LoRA", "loras"),
    ("ControlNetLoader", "control_net_name"): ("ControlNet", "controlnet"),
}
_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")

ParamType = Literal["str", "int", "float", "bool", "image", "video"]
OutputKind = Literal["image", "video"]


class TemplateError(ValueError):
    """A template, its index entry or the parameters given to ``fill`` are wrong."""


# --------------------------------------------------------------------------- the index


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParamSpec(_Strict):
    """One injectable parameter: its type, its bounds and the inputs it sets.

    ``image``/``video`` values are file names on the server (what ``/upload/image``
    answered), ``role`` says which ``RenderSpec.inputs`` file is uploaded for it. ``mod``
    ``[d, r]`` requires ``value % d == r`` (Wan lengths are 4n+1, latents want /8 or /16).
    """

    type: ParamType
    paths: tuple[tuple[str, str], ...] = Field(min_length=1)
    required: bool = False
    role: str | None = None
    min: float | None = None
    max: float | None = None
    mod: tuple[int, int] | None = None
    choices: tuple[str, ...] | None = None
    description: str = ""


class ModelSpec(_Strict):
    """A model file a loader input names: what it is, its folder, the template's default."""

    kind: str
    folder: str
    default: str


class CustomNode(_Strict):
    """A node class outside ComfyUI core and the pack to install for it."""

    pack: str
    url: str = ""


class IndexEntry(_Strict):
    """What ``index.json`` says about one template."""

    name: str
    file: str
    purpose: str
    output: OutputKind
    family: str = ""
    params: dict[str, ParamSpec]
    models: dict[str, ModelSpec] = {}
    custom_nodes: dict[str, CustomNode] = {}
    vram_mb: int = Field(ge=0)

    @field_validator("file")
    @classmethod
    def _plain_file(cls, value: str) -> str:
        if Path(value).name != value or not value.endswith(".json"):
            raise ValueError(f"template file must be a plain *.json name, got {value!r}")
        return value

    @model_validator(mode="after")
    def _models_are_params(self) -> IndexEntry:
        stray = sorted(set(self.models) - set(self.params))
        if stray:
            raise ValueError(f"models {', '.join(stray)} are not parameters of the template")
        return self


@dataclass(frozen=True)
class WorkflowIndex:
    """The templates of one folder and their index entries."""

    folder: Path
    version: int
    entries: Mapping[str, IndexEntry]

    def entry(self, name: str) -> IndexEntry:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries))
            raise TemplateError(
                f"no workflow template {name!r} in {self.folder}; known: {known}"
            ) from None

    def load_template(self, name: str) -> dict[str, Any]:
        """The template graph of ``name`` (a fresh dict each call)."""
        entry = self.entry(name)
        path = self.folder / entry.file
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TemplateError(f"cannot read workflow template {path}: {exc}") from exc
        _check_graph_shape(graph, str(path))
        return graph


def load_index(folder: Path | str | None = None) -> WorkflowIndex:
    """Read ``index.json`` of ``folder`` (default: the repository's ``workflows/``)."""
    folder = Path(folder) if folder is not None else WORKFLOWS_DIR
    path = folder / INDEX_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TemplateError(f"cannot read the workflow index {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("templates"), dict):
        raise TemplateError(f"{path}: expected an object with a 'templates' object")
    entries: dict[str, IndexEntry] = {}
    for name, data in raw["templates"].items():
        if not isinstance(data, dict):
            raise TemplateError(f"{path}: template {name!r} must be an object")
        try:
            entries[name] = IndexEntry(name=name, **data)
        except ValidationError as exc:
            raise TemplateError(f"{path}: template {name!r}: {exc}") from exc
    return WorkflowIndex(folder=folder, version=int(raw.get("version", 1)), entries=entries)


def load_template(name: str, folder: Path | str | None = None) -> dict[str, Any]:
    """The template graph ``name`` from ``folder`` (default: the repository's ``workflows/``)."""
    return load_index(folder).load_template(name)


def _check_graph_shape(graph: Any, where: str) -> None:
    if not isinstance(graph, dict) or not graph:
        raise TemplateError(f"{where}: an API-format graph is a non-empty object of nodes")
    for node_id, node in graph.items():
        if (
            not isinstance(node, dict)
            or not isinstance(node.get("class_type"), str)
            or not isinstance(node.get("inputs"), dict)
        ):
            raise TemplateError(
                f"{where}: node {node_id!r} needs a class_type and an inputs object"
            )


# --------------------------------------------------------------------------- fill


def _type_ok(kind: ParamType, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    return isinstance(value, str)


def _check_value(entry: IndexEntry, name: str, spec: ParamSpec, value: Any) -> Any:
    where = f"parameter {name!r} of {entry.name}"
    if not _type_ok(spec.type, value):
        raise TemplateError(f"{where} must be {spec.type}, got {type(value).__name__} {value!r}")
    if spec.type in ("image", "video"):
        parts = value.replace("\\", "/").split("/")
        if not value or value.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise TemplateError(f"{where} must name an uploaded file, got {value!r}")
    if spec.type == "float":
        value = float(value)
    if spec.min is not None and value < spec.min:
        raise TemplateError(f"{where} is {value}, below its minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise TemplateError(f"{where} is {value}, above its maximum {spec.max:g}")
    if spec.mod is not None and value % spec.mod[0] != spec.mod[1]:
        d, r = spec.mod
        rule = f"a multiple of {d}" if r == 0 else f"{d}n+{r}"
        raise TemplateError(f"{where} is {value}, it must be {rule}")
    if spec.choices is not None and value not in spec.choices:
        raise TemplateError(f"{where} is {value!r}; choose one of {', '.join(spec.choices)}")
    return value


def fill(
    template: Mapping[str, Any], params: Mapping[str, Any], entry: IndexEntry
) -> dict[str, Any]:
    """A copy of ``template`` with each named parameter set at its paths.

    Pure: the template is never mutated. Unknown parameters, values of the wrong type or
    out of bounds, missing required parameters and paths the template lacks raise
    ``TemplateError``. Parameters not given keep the template's values.
    """
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        known = ", ".join(sorted(entry.params))
        raise TemplateError(
            f"unknown parameter(s) {', '.join(unknown)} for {entry.name}; known: {known}"
        )
    missing = sorted(n for n, s in entry.params.items() if s.required and n not in params)
    if missing:
        raise TemplateError(f"{entry.name} needs parameter(s) {', '.join(missing)}")
    graph = copy.deepcopy(dict(template))
    for name, value in params.items():
        spec = entry.params[name]
        checked = _check_value(entry, name, spec, value)
        for node_id, input_name in spec.paths:
            node = graph.get(node_id)
            if not isinstance(node, dict) or input_name not in node.get("inputs", {}):
                raise TemplateError(
                    f"index entry {entry.name}: parameter {name!r} points at node {node_id} "
                    f"input {input_name!r}, which the template does not have"
                )
            node["inputs"][input_name] = checked
    return graph


def template_values(template: Mapping[str, Any], entry: IndexEntry) -> dict[str, Any]:
    """The template's current value of each parameter (the first path's)."""
    values: dict[str, Any] = {}
    for name, spec in entry.params.items():
        node_id, input_name = spec.paths[0]
        values[name] = template[node_id]["inputs"][input_name]
    return values


def model_files(graph: Mapping[str, Any], entry: IndexEntry) -> tuple[str, ...]:
    """The model file names the graph's loaders name, in index order, without repeats."""
    names: list[str] = []
    for param in entry.models:
        node_id, input_name = entry.params[param].paths[0]
        value = graph.get(node_id, {}).get("inputs", {}).get(input_name)
        if isinstance(value, str) and value not in names:
            names.append(value)
    return tuple(names)


def workflow_hash(graph: Mapping[str, Any]) -> str:
    """sha256 of the graph's canonical JSON (sorted keys, no spaces, UTF-8)."""
    data = json.dumps(graph, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


# --------------------------------------------------------------------------- preflight

ProblemKind = Literal[
    "malformed",
    "missing_node",
    "missing_input",
    "unknown_input",
    "bad_link",
    "bad_value",
    "missing_model",
    "missing_file",
    "no_outputs",
]


@dataclass(frozen=True)
class Problem:
    """One reason a server would refuse (or fail) a graph, found before queueing it."""

    kind: ProblemKind
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input: str | None = None
    value: Any = None
    model_kind: str | None = None
    folder: str | None = None


def _input_specs(info: Mapping[str, Any]) -> dict[str, Any]:
    inputs = info.get("input", {}) or {}
    specs: dict[str, Any] = {}
    for section in ("required", "optional"):
        specs.update(inputs.get(section, {}) or {})
    return specs


def _required_names(info: Mapping[str, Any]) -> list[str]:
    return list((info.get("input", {}) or {}).get("required", {}) or {})


def _combo_options(spec: Any) -> list[Any] | None:
    """The allowed values of a combo input (old ``[[...], {...}]`` or new ``["COMBO", {options}]``
    format), or None when the input is not a combo."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    head = spec[0]
    if isinstance(head, list | tuple):
        return list(head)
    if head == "COMBO":
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        return list(opts.get("options", []))
    return None


def _spec_options(spec: Any) -> dict[str, Any]:
    if isinstance(spec, list | tuple) and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1]
    return {}


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _types_compatible(wanted: str, given: str) -> bool:
    if "*" in (wanted, given):
        return True
    return bool(set(wanted.split(",")) & set(given.split(",")))


def _model_kind(class_type: str, input_name: str, value: Any) -> tuple[str, str] | None:
    known = MODEL_INPUTS.get((class_type, input_name))
    if known:
        return known
    if isinstance(value, str) and value.lower().endswith(_WEIGHT_SUFFIXES):
        return ("model file", "models")
    return None


def _is_upload_combo(spec: Any) -> bool:
    opts = _spec_options(spec)
    return bool(opts.get("image_upload") or opts.get("video_upload") or opts.get("audio_upload"))


def validate_against(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    *,
    uploaded: Collection[str] = (),
) -> list[Problem]:
    """Everything in ``graph`` that the server described by ``object_info`` would refuse.

    Checks that every class exists, every input name is one the class declares (required
    or optional), every required input is given, links point at existing nodes and outputs
    of a compatible type, numbers are numbers within bounds, and combo values are in the
    server's lists: a model file missing from a loader's list is a ``missing_model``, an
    input image missing from ``LoadImage``'s list a ``missing_file`` (unless it is one of
    ``uploaded``: the cached ``object_info`` predates uploads made for this job).
    """
    problems: list[Problem] = []
    if not isinstance(graph, Mapping) or not graph:
        return [Problem("malformed", "the workflow is not a non-empty API-format graph")]
    uploaded_set = set(uploaded)
    has_output = False
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            problems.append(Problem("malformed", f"node {node_id} has no class_type", node_id))
            continue
        class_type = node["class_type"]
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            problems.append(
                Problem(
                    "malformed",
                    f"node {node_id} ({class_type}) has no inputs object",
                    node_id,
                    class_type,
                )
            )
            continue
        info = object_info.get(class_type)
        if info is None:
            problems.append(
                Problem(
                    "missing_node",
                    f"node class {class_type} (node {node_id}) is not installed on the server",
                    node_id,
                    class_type,
                )
            )
            continue
        has_output = has_output or bool(info.get("output_node"))
        specs = _input_specs(info)
        for name in _required_names(info):
            if name not in inputs:
                problems.append(
                    Problem(
                        "missing_input",
                        f"{class_type} (node {node_id}) needs input {name!r}",
                        node_id,
                        class_type,
                        name,
                    )
                )
        for name, value in inputs.items():
            spec = specs.get(name)
            if spec is None:
                problems.append(
                    Problem(
                        "unknown_input",
                        f"{class_type} (node {node_id}) has no input {name!r}",
                        node_id,
                        class_type,
                        name,
                        value,
                    )
                )
                continue
            if _is_link(value):
                problems.extend(
                    _check_link(graph, object_info, node_id, class_type, name, spec, value)
                )
                continue
            problem = _check_widget(node_id, class_type, name, spec, value, uploaded_set)
            if problem is not None:
                problems.append(problem)
    if not has_output and not any(p.kind == "missing_node" for p in problems):
        problems.append(
            Problem("no_outputs", "the workflow has no output node (SaveImage, SaveVideo…)")
        )
    return problems


def _check_link(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    node_id: str,
    class_type: str,
    name: str,
    spec: Any,
    value: Any,
) -> list[Problem]:
    source_id, index = value
    source = graph.get(source_id)
    where = f"{class_type} (node {node_id}) input {name!r}"
    if not isinstance(source, Mapping):
        return [
            Problem(
                "bad_link",
                f"{where} links to node {source_id}, which is not in the workflow",
                node_id,
                class_type,
                name,
                value,
            )
        ]
    source_info = object_info.get(source.get("class_type"))
    if source_info is None:
        return []  # reported as missing_node on the source itself
    outputs = source_info.get("output", []) or []
    if not 0 <= index < len(outputs):
        return [
            Problem(
                "bad_link",
                f"{where} links to output {index} of {source['class_type']} (node {source_id}), which has {len(outputs)}",
                node_id,
                class_type,
                name,
                value,
            )
        ]
    wanted = spec[0] if isinstance(spec, list | tuple) and spec else None
    given = outputs[index]
    if (
        isinstance(wanted, str)
        and wanted != "COMBO"
        and isinstance(given, str)
        and not _types_compatible(wanted, given)
    ):
        return [
            Problem(
                "bad_link",
                f"{where} wants {wanted} but node {source_id} output {index} gives {given}",
                node_id,
                class_type,
                name,
                value,
            )
        ]
    return []


def _check_widget(
    node_id: str, class_type: str, name: str, spec: Any, value: Any, uploaded: set[str]
) -> Problem | None:
    where = f"{class_type} (node {node_id}) input {name!r}"
    options = _combo_options(spec)
    if options is not None:
        if value in options:
            return None
        if _is_upload_combo(spec):
            if value in uploaded:
                return None
            return Problem(
                "missing_file",
                f"input file {value} is not on the server ({class_type} node {node_id}); upload it first",
                node_id,
                class_type,
                name,
                value,
            )
        model = _model_kind(class_type, name, value)
        if model is not None:
            kind, folder = model
            return Problem(
                "missing_model",
                f"{kind} {value} is not in {class_type}'s list on the server",
                node_id,
                class_type,
                name,
                value,
                model_kind=kind,
                folder=folder,
            )
        shown = ", ".join(map(str, options[:12])) + (" …" if len(options) > 12 else "")
        return Problem(
            "bad_value",
            f"{where} is {value!r}, not one of: {shown}",
            node_id,
            class_type,
            name,
            value,
        )
    kind = spec[0] if isinstance(spec, list | tuple) and spec else None
    opts = _spec_options(spec)
    if kind in ("INT", "FLOAT"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == "INT" and isinstance(value, float) and not value.is_integer():
            ok = False
        if not ok:
            return Problem(
                "bad_value",
                f"{where} must be a number ({kind}), got {value!r}",
                node_id,
                class_type,
                name,
                value,
            )
        if "min" in opts and value < opts["min"]:
            return Problem(
                "bad_value",
                f"{where} is {value}, below the minimum {opts['min']}",
                node_id,
                class_type,
                name,
                value,
            )
        if "max" in opts and value > opts["max"]:
            return Problem(
                "bad_value",
                f"{where} is {value}, above the maximum {opts['max']}",
                node_id,
                class_type,
                name,
                value,
            )
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            return Problem(
                "bad_value",
                f"{where} must be true or false, got {value!r}",
                node_id,
                class_type,
                name,
                value,
            )
    elif kind == "STRING":
        if not isinstance(value, str):
            return Problem(
                "bad_value",
                f"{where} must be text, got {value!r}",
                node_id,
                class_type,
                name,
                value,
            )
    elif isinstance(kind, str) and kind.isupper() and kind not in ("*",):
        # A typed socket (MODEL, IMAGE…) given a literal instead of a link.
        return Problem(
            "bad_link",
            f"{where} needs a link to a {kind} output, got {value!r}",
            node_id,
            class_type,
            name,
            value,
        )
    return None


def _pack_hint(class_type: str, entry: IndexEntry | None) -> str:
    custom = entry.custom_nodes.get(class_type) if entry is not None else None
    if custom is not None:
        where = f" ({custom.url})" if custom.url else ""
        return f"{class_type} — install the {custom.pack} pack{where}"
    return f"{class_type} — not a node this ComfyUI knows: update ComfyUI or install the custom node pack that provides it"


def _model_hint(problem: Problem, entry: IndexEntry | None) -> str:
    kind, folder = problem.model_kind or "model", problem.folder or "models"
    if entry is not None:
        for model in entry.models.values():
            if model.default == problem.value:
                kind, folder = model.kind, model.folder
                break
    place = folder if folder.startswith("custom_nodes/") else f"models/{folder}"
    return (
        f"{kind} {problem.value} is not in {problem.class_type}'s list on the server "
        f"(put it in ComfyUI/{place}{_other_model(entry)})"
    )


def _other_model(entry: IndexEntry | None) -> str:
    """Where another model is chosen for this template: the setting that does it, by name."""
    if entry is None:
        return ""
    if entry.family == "post":
        return ", or turn the preset's interpolation / upscale off in data/presets.toml"
    if entry.output == "video":
        if "end_frame" in entry.params:  # first-last-frame is Wan 2.2 14B only
            return (
                ", or render the shot from its start frame only: that clip uses the preset's "
                "video_model in data/presets.toml (wan2.2-ti2v-5b or wan2.2-a14b-fp8)"
            )
        return (
            ", or choose another video model: the preset's video_model in data/presets.toml "
            "(wan2.2-ti2v-5b or wan2.2-a14b-fp8)"
        )
    return (
        ", or choose another frame model: stage 9's frame model (studio prompts --frame-model "
        "sdxl|flux), else the preset's frame_model in data/presets.toml"
    )


def preflight_error(problems: Iterable[Problem], entry: IndexEntry | None = None) -> RenderFailed:
    """One RenderFailed naming every missing node (with its pack) and missing model file.

    The failure class is ``missing_node`` when any node class is missing, else
    ``missing_model`` when any model file is, else ``validation``; none is retryable: the
    server must change first.
    """
    problems = list(problems)
    parts: list[str] = []
    seen_nodes: set[str] = set()
    for p in problems:
        if p.kind == "missing_node" and p.class_type not in seen_nodes:
            seen_nodes.add(p.class_type or "")
            parts.append(_pack_hint(p.class_type or "?", entry))
    seen_models: set[Any] = set()
    for p in problems:
        if p.kind == "missing_model" and p.value not in seen_models:
            seen_models.add(p.value)
            parts.append(_model_hint(p, entry))
    for p in problems:
        if p.kind not in ("missing_node", "missing_model"):
            parts.append(p.message)
    kinds = {p.kind for p in problems}
    failure = (
        "missing_node"
        if "missing_node" in kinds
        else "missing_model"
        if "missing_model" in kinds
        else "validation"
    )
    label = f"workflow {entry.name}" if entry is not None else "the workflow"
    message = (
        f"ComfyUI cannot run {label}: " + "; ".join(parts)
        if parts
        else f"ComfyUI cannot run {label}"
    )
    return RenderFailed(message, failure, retryable=False)
