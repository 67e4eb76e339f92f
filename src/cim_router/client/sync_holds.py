"""Hold, Resume and SubmitFeedback for `RouterClient` (a mixin of its bases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cim_router._pb import router_pb2 as pb

if TYPE_CHECKING:
    from cim_router._pb import router_pb2_grpc


class HoldCalls:
    """Needs the client's `_stub` and `_call`."""

    if TYPE_CHECKING:
        _stub: router_pb2_grpc.RouterStub

        def _call(self, rpc: Any, request: Any, timeout: float | None) -> Any: ...

    def hold(
        self,
        interaction_id: str,
        *,
        agent_id: str = "",
        reason: str = "",
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Put an ASSIGNED interaction on hold (`agent_id`, when given, must hold it)."""
        request = pb.HoldRequest(interaction_id=interaction_id, agent_id=agent_id, reason=reason)
        answer: pb.Interaction = self._call(self._stub.Hold, request, timeout)
        return answer

    def resume(
        self, interaction_id: str, *, agent_id: str = "", timeout: float | None = None
    ) -> pb.Interaction:
        """Take an interaction off hold."""
        request = pb.ResumeRequest(interaction_id=interaction_id, agent_id=agent_id)
        answer: pb.Interaction = self._call(self._stub.Resume, request, timeout)
        return answer

    def submit_feedback(
        self,
        interaction_id: str,
        csat: int,
        *,
        comment: str = "",
        fields: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> pb.Interaction:
        """Feedback on a COMPLETED interaction (`csat` 1..5); a second call replaces it."""
        request = pb.SubmitFeedbackRequest(
            interaction_id=interaction_id, csat=csat, comment=comment, fields=dict(fields or {})
        )
        answer: pb.Interaction = self._call(self._stub.SubmitFeedback, request, timeout)
        return answer
