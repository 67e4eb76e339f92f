"""State in Redis: the source of truth for interactions, agents and context."""

from cim_router.store.embedded import EmbeddedRedis
from cim_router.store.redis_store import RedisStore
from cim_router.store.settings import RedisSettings

__all__ = ["EmbeddedRedis", "RedisSettings", "RedisStore"]
