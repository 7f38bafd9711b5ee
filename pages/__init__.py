"""Streamlit pages: UI only. Each page reads state, calls one Studio method per user action
and renders the result. ``streamlit_app.py`` registers them with ``st.navigation``."""
