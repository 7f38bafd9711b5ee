"""Content addressing: canonical JSON, sha256 ids, and how documents become tree entries."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def canonical_json(data: Any) -> bytes:
    """The bytes an object is hashed and stored as: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_data(doc: BaseModel) -> Any:
    """The JSON-able form a document is stored as."""
    return doc.model_dump(mode="json")


def document_id(doc: BaseModel | Any) -> str:
    """The object id a document has (or would have) in the store."""
    data = document_data(doc) if isinstance(doc, BaseModel) else doc
    return sha256_hex(canonical_json(data))
