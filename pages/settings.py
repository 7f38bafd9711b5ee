"""Settings: where the data lives, which backends are configured, and their health."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import common

studio = common.get_studio()
settings = studio.settings
st.title("Settings", anchor=False)
common.show_flash()

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

st.subheader("Backends", anchor=False)
st.caption(
    "Settings are read from `AIUTEUR_*` environment variables when the studio starts, e.g. "
    "`AIUTEUR_LLM_BACKEND=ollama` (or `lmstudio`), `AIUTEUR_COMFYUI_URL=http://127.0.0.1:8188`."
)
st.dataframe(
    pd.DataFrame(
        [
            {"Concern": "LLM", "Configured": settings.llm_backend},
            {"Concern": "Ollama", "Configured": f"{settings.ollama_url} (model {settings.ollama_model})"},
            {"Concern": "LM Studio", "Configured": settings.lmstudio_url},
            {"Concern": "Renderer", "Configured": settings.render_backend},
            {"Concern": "ComfyUI", "Configured": settings.comfyui_url or "not configured"},
        ]
    ),
    hide_index=True,
    key="settings_backends",
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
