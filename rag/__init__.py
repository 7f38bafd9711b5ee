"""Style RAG: Chroma stores for written and visual style, with offline MiniLM embeddings.

Empty until the style RAG issue lands.
"""
