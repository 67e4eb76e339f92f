"""Generated gRPC code for cim_router.v1; see scripts/gen_proto.py."""
