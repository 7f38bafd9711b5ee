"""Rendering: the durable render queue and worker, ComfyUI and CPU animatic backends, GPU
preflight, manifests and ffmpeg post-processing.

Empty until the render issue lands.
"""
