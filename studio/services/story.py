"""The room for the story engine (stages 1 A/B/C, 2 treatment, 3 beat sheet, 4 generation).

Not built yet: stages 2 and 3 show what opens them. The verbs go here as a ``StoryService``
that receives the ``TextModel`` port (``studio.ports``; the LangChain adapters live in
``agents/``) and the context manager's collaborators explicitly, like every other service.
"""
