from cim_router._pb import router_pb2 as pb
from tests.service.conftest import Client


def test_enqueue_offers_to_the_available_agent(client: Client) -> None:
    client.agent("a1", skills={"billing": 5})
    r = client.enqueue("i1", required_skills=[pb.SkillRequirement(skill="billing", min_level=3)])
    assert r.created
    assert r.interaction.state == pb.INTERACTION_STATE_OFFERED
    assert r.interaction.offer.agent_id == "a1"
    got = client.Accept(pb.AcceptRequest(interaction_id="i1", agent_id="a1"))
    assert got.state == pb.INTERACTION_STATE_ASSIGNED
