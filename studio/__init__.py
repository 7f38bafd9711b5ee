"""Aiuteur Studio core: the domain model, the project store with Story Timelines, the
pipeline rules and the services that the UI, the CLI and notebooks call.

Nothing in this package imports Streamlit, LangChain, Chroma or HTTP clients; adapters live
in ``agents``, ``rag``, ``render`` and ``qa`` and are composed in ``studio.wiring``.
"""

__version__ = "0.1.0"
