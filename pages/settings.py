"""Settings: where the data lives, the backends and the hosts (editable, stored in the data
dir's settings.toml unless an AIUTEUR_* variable sets them), and the backends' health."""

from __future__ import annotations

from typing import Any, get_args

import pandas as pd
import streamlit as st

from pages import common
from studio.config import LlmBackend, RenderBackend

CHOICES: dict[str, tuple[str, ...]] = {
    "llm_backend": get_args(LlmBackend),
    "render_backend": get_args(RenderBackend),
}
LLM_FIELDS = ("llm_backend", "ollama_url", "ollama_model", "lmstudio_url", "llamacpp_model_path")
HELP = {
    "llm_backend": "offline uses no model: only the deterministic tools (mode D, import).",
    "ollama_url": "Where Ollama listens. Empty means the default.",
    "ollama_model": "The Ollama model the agents ask, e.g. mistral or llama3.1.",
    "lmstudio_url": "LM Studio's OpenAI-compatible address. Empty means the default.",
    "llamacpp_model_path": "A GGUF model file, for the llamacpp backend.",
    "render_backend": "animatic draws on the CPU; comfyui renders on a ComfyUI server.",
    "comfyui_url": "Where ComfyUI listens, e.g. http://127.0.0.1:8188. Empty: not configured.",
    "price_per_gpu_hour": "Turns the cost gate's GPU time into money. Empty: no money estimate.",
    "allowed_hosts": "Host names besides 127.0.0.1 and localhost the studio answers "
                     "(comma-separated), e.g. studio.lan behind a reverse proxy.",
}


def shown(name: str, value: Any) -> Any:
    """A setting's value as its widget holds it."""
    if name == "price_per_gpu_hour":
        return None if value is None else float(value)
    if name == "allowed_hosts":
        return ", ".join(value)
    return "" if value is None else str(value)


def widget(field, key: str) -> None:
    label = field.label
    disabled = not field.editable
    help_text = HELP.get(field.name)
    if disabled:
        help_text = f"Set by {field.env_var}: the environment variable wins over this page."
    if field.name in CHOICES:
        st.selectbox(label, CHOICES[field.name], key=key, disabled=disabled, help=help_text)
    elif field.name == "price_per_gpu_hour":
        st.number_input(label, min_value=0.0, step=0.1, format="%.2f", key=key,
                        disabled=disabled, help=help_text, placeholder="no price")
    else:
        st.text_input(label, key=key, disabled=disabled, help=help_text)
    if disabled:
        st.caption(f":material/lock: set by `{field.env_var}` (environment)")
    elif field.source == "settings file":
        st.caption(":material/save: saved on this page")


studio = common.get_studio()
settings = studio.settings
st.title("Settings", anchor=False)
common.show_flash()

st.subheader("Backends and hosts", anchor=False)
st.caption(
    f"Saved in {common.inline_code(settings.settings_path)}. An `AIUTEUR_*` environment "
    "variable wins over this page: a field it sets is locked here."
)
fields = common.act(studio.settings_fields) or []
values = {field.name: shown(field.name, field.value) for field in fields}
common.seed_widgets("settings", repr(sorted(values.items())),
                    {f"set_{name}": value for name, value in values.items()})
with st.form("settings_form"):
    llm_col, render_col = st.columns(2)  # the text models on the left, rendering on the right
    for field in fields:
        with llm_col if field.name in LLM_FIELDS else render_col:
            widget(field, f"set_{field.name}")
    save = st.form_submit_button("Save settings", key="settings_save", icon=":material/save:",
                                 type="primary")
if save:
    changes = {
        field.name: st.session_state.get(f"set_{field.name}")
        for field in fields
        if field.editable and st.session_state.get(f"set_{field.name}") != values[field.name]
    }
    if not changes:
        st.info("Nothing changed.", icon=":material/info:")
    else:
        with st.spinner("Saving the settings…"):
            saved = common.act(studio.save_settings, changes)
        if saved is not None:
            st.cache_data.clear()  # the sidebar's probe summary follows the new backends
            words = ", ".join(field.label for field in fields if field.name in changes)
            common.flash(f"Settings saved: {words}.")
            st.rerun()

st.subheader("Data", anchor=False)
st.dataframe(
    pd.DataFrame(
        [
            {"Setting": "Data dir (AIUTEUR_HOME)", "Value": str(settings.home)},
            {"Setting": "Database", "Value": str(settings.db_path)},
            {"Setting": "Media", "Value": str(settings.media_dir)},
            {"Setting": "Exports", "Value": str(settings.exports_dir)},
            {"Setting": "Upload limit", "Value": f"{settings.max_upload_bytes // 1024:,} KiB"},
        ]
    ),
    hide_index=True,
    key="settings_data",
)

probe_col, button_col = st.columns([5, 1], vertical_alignment="bottom")
probe_col.subheader("Health probes", anchor=False)
if button_col.button("Probe again", key="probe_again", icon=":material/refresh:"):
    st.cache_data.clear()  # the sidebar's 30-second probe summary is the only cached data
probes = studio.doctor()
st.dataframe(
    pd.DataFrame(
        [
            {"Backend": p.name, "State": p.state, "Active": p.active, "Detail": p.detail}
            for p in probes
        ]
    ),
    hide_index=True,
    key="settings_probes",
    column_config={"Detail": st.column_config.TextColumn(width="large")},
)
