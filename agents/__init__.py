"""LangChain adapters: the LLM backend factory, health probes and one agent per stage task.

``agents.llm`` builds the chat model from Settings and puts it behind the ``TextModel`` /
``ProseStream`` ports; ``agents.health`` probes the backend for ``studio doctor``. No stage
agent is built yet: the studio runs offline (deterministic tools only) until one is.
"""
