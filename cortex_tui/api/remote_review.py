"""The review desk of a supervisor in another process, over its local API (``api/review_routes.py``): the
same commands and answers as :class:`~cortex_tui.engine.review_desk.ReviewDesk`, so the TUI's review and
compare screens run unchanged on :class:`~cortex_tui.api.remote_engine.RemoteEngine`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from cortex_tui.api.client import ApiClient
from cortex_tui.bestof.models import Comparison
from cortex_tui.engine.review_view import BranchDiff, Decision, QueueView
from cortex_tui.review.integration_entry import Approved
from cortex_tui.review.integration_models import IntegrationResult


class RemoteIntegrationGate:
    """The supervisor's integration gate (``ReviewDesk.gate``) over its local API."""

    def __init__(self, client: Callable[[], ApiClient]) -> None:
        self._client = client

    async def integrate(self, sessions: list[str] | None = None, verify: str | None = None, *,
                        trigger: str = "manual") -> IntegrationResult:
        data = await self._client().post("/v1/integration", {"sessions": sessions, "verify": verify})
        return IntegrationResult.model_validate(data)

    async def entry(self) -> IntegrationResult | None:
        data = await self._client().get("/v1/integration")
        return None if data is None else IntegrationResult.model_validate(data)

    async def approve(self) -> Approved:
        return Approved(**(await self._client().post("/v1/integration/approve", None)))


class RemoteReviewDesk:
    """``client()`` is the remote engine's connected API client (it raises while there is none)."""

    sends = True
    """The remote supervisor types the change request into its agent."""

    def __init__(self, client: Callable[[], ApiClient]) -> None:
        self._client = client
        self.gate = RemoteIntegrationGate(client)
        """The integration entry (``I`` on the review screen), run by the supervisor."""

    async def _get(self, path: str, **params: str) -> Any:
        return await self._client().get(path, **params)

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self._client().post(path, body)

    @staticmethod
    def _at(name: str) -> str:
        return quote(name, safe="")

    async def entries(self, *, refresh: bool = False) -> QueueView:
        return QueueView.model_validate(await self._get("/v1/review-desk", refresh="1" if refresh else "0"))

    async def diff(self, session: str) -> BranchDiff:
        return BranchDiff.model_validate(await self._get(f"/v1/review-desk/{self._at(session)}/diff"))

    async def _decide(self, session: str, decision: str, body: dict[str, Any] | None = None) -> Decision:
        return Decision.model_validate(await self._post(f"/v1/review-desk/{self._at(session)}/{decision}", body))

    async def approve(self, session: str, *, squash: bool = False, by: str | None = None) -> Decision:
        return await self._decide(session, "approve", {"squash": squash})

    async def reject(self, session: str, *, reason: str = "", by: str | None = None) -> Decision:
        return await self._decide(session, "reject", {"reason": reason})

    async def request_changes(self, session: str, text: str, *, by: str | None = None) -> Decision:
        return await self._decide(session, "request-changes", {"text": text})

    async def reverify(self, session: str) -> Decision:
        return await self._decide(session, "reverify")

    async def comparison(self) -> Comparison | None:
        data = await self._get("/v1/bestof/comparison")
        return None if data is None else Comparison.model_validate(data)

    async def compare(self, *, top_k: int = 3) -> Comparison:
        return Comparison.model_validate(await self._post("/v1/bestof/compare", {"top_k": top_k}))

    async def choose_winner(self, session: str, *, by: str | None = None) -> Comparison:
        return Comparison.model_validate(await self._post(f"/v1/bestof/{self._at(session)}/winner"))

