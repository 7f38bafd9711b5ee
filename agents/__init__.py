"""LangChain adapters: the LLM backend factory, health probes and one agent per stage task.

Empty until the LLM issue lands; the studio runs offline (deterministic tools only) until then.
"""
