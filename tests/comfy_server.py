"""The loopback ComfyUI double now lives in the package (render/comfy_loopback.py)."""

from render.comfy_loopback import DEFAULT_MODELS, SHARED, LoopbackComfy, running, tiny_png  # noqa: F401
