"""The room for the story engine (stages 1 A/B/C, 2 treatment, 3 beat sheet, 4 generation).

Built so far: the context manager's entry, :meth:`StoryService.context_for` (what an LLM call
for a stage is told, within a backend's token budget; see ``studio.context``). The
generation verbs will go here too, receiving the ``TextModel`` port (``studio.ports``; the
LangChain adapters live in ``agents/``) explicitly, like every other service.
"""

from __future__ import annotations

from studio.context import AssembledContext, Budget, TokenCounter, assemble, estimate_tokens
from studio.model import Stage, StagedFile
from studio.services.planning import PlanningService
from studio.services.workspace import Workspace

DEFAULT_CONTEXT_LENGTH = 8192
DEFAULT_REPLY_RESERVE = 1024


class StoryService:
    """Stages 1-4 with an LLM; today the context every call of the story engine gets."""

    def __init__(
        self, workspace: Workspace, planning: PlanningService, *, count: TokenCounter = estimate_tokens
    ) -> None:
        self._ws = workspace
        self._planning = planning
        self._count = count

    def context_for(
        self,
        project_ref: str,
        purpose: Stage | int,
        scene: str | int | None = None,
        *,
        context_length: int = DEFAULT_CONTEXT_LENGTH,
        reply_reserve: int = DEFAULT_REPLY_RESERVE,
        branch: str | None = None,
    ) -> AssembledContext:
        """The context of an LLM call for stage ``purpose`` (and, in Phase B, ``scene``):
        global context always, this scene's own only in stages 6-12, kept within
        ``context_length - reply_reserve`` tokens; what did not fit is listed in ``left_out``."""
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id, self._ws.branch(project, branch))
        style = self._planning.style_pack(state.assets.style_pack)
        store = self._ws.store

        def read(staged: StagedFile) -> str:
            return store.get_media(staged.media).decode("utf-8")

        return assemble(
            state,
            purpose,
            Budget(context_length, reply_reserve),
            scene=scene,
            style=style,
            read_file=read,
            count=self._count,
        )
