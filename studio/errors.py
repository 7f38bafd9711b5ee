"""The one error tree. Every message says what happened and what to do about it."""


class StudioError(Exception):
    """Base of every error the studio reports to a user (UI shows it, CLI exits non-zero)."""


class NotFound(StudioError):
    """A project, branch, commit, scene or object does not exist."""


class BadInput(StudioError):
    """User or model input was rejected; nothing was written."""


class GateClosed(StudioError):
    """A stage was asked for before the stage it depends on was locked."""


class BranchMoved(StudioError):
    """A branch head moved under us (compare-and-swap lost too many times)."""


class BranchRequired(StudioError):
    """The change invalidates history on this branch; it must go on a new branch."""


class Conflict(StudioError):
    """The request collides with existing state (a duplicate name, for instance)."""


class BackendUnavailable(StudioError):
    """A configured backend (LLM, ComfyUI, GPU) is down or not configured."""


class Corrupt(StudioError):
    """Stored data failed an integrity check."""


class DiskFull(StudioError):
    """The disk (or the database's size limit) is full; the write was rolled back."""


class ReadOnly(StudioError):
    """The data dir cannot be written (permissions or a read-only disk); reads still work."""


class TooLarge(BadInput):
    """An input is beyond a documented size bound; it was refused before any work."""


class ModelNotPulled(BackendUnavailable):
    """The LLM server answered but does not have the model (Ollama 404: ``ollama pull NAME``)."""


class BackendBusy(BackendUnavailable):
    """The LLM server stayed busy (HTTP 503/429) through every bounded back-off."""


class LlmTimeout(BackendUnavailable):
    """The LLM server sent nothing within the first-byte timeout; the call was not retried."""


class ReplyTruncated(StudioError):
    """The model's reply was cut by the token limit (``length``); it is never kept as complete."""


class StructuredOutputInvalid(BadInput):
    """The model's answer did not validate against the schema, even after repair and one retry."""


class Cancelled(StudioError):
    """The user cancelled a running model call; its partial text is not kept."""
