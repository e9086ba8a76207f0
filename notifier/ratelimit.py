"""A per-provider send rate shared by every worker: a Redis counter per provider and second (a fixed window)."""
from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, redis, prefix: str = "hotline:sms:rate"):
        self.redis = redis
        self.prefix = prefix

    def acquire(self, name: str, per_second: float, *, clock=time.time, sleep=time.sleep) -> float:
        """Wait for a slot of ``name``; returns the seconds waited."""
        limit, waited = max(1, int(per_second)), 0.0
        while True:
            now = clock()
            second = int(now)
            key = f"{self.prefix}:{name}:{second}"
            with self.redis.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, 3)
                used, _ = pipe.execute()
            if used <= limit:
                return waited
            pause = second + 1 - now + 0.001
            sleep(pause)
            waited += pause


class InboundLimiter:
    """At most ``limit`` inbound messages per sender per minute; more are refused and written nowhere."""

    def __init__(self, redis, prefix: str = "hotline:sms:in"):
        self.redis = redis
        self.prefix = prefix

    def allow(self, sender: str, limit: int, *, clock=time.time) -> bool:
        key = f"{self.prefix}:{sender}:{int(clock() // 60)}"
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            used, _ = pipe.execute()
        return used <= limit
