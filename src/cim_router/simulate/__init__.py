"""`cim-router simulate`: the router's own tenant code on a simulated clock, driven by a
scenario of agents, arrivals, handle times and patience (no gRPC, no Redis)."""
