"""The room for style RAG: written and visual style libraries that steer the stages.

Not built yet: styles are the TOML packs of ``data/styles/`` (``PlanningService.style_packs``).
The verbs go here as a ``StyleService`` that receives the ``StyleStore`` port
(``studio.ports``; the Chroma adapter lives in ``rag/``).
"""
