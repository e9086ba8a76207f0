"""A per-provider send rate shared by every worker: a sliding window in Redis (a sorted set of the last sends), so
no second-long window anywhere holds more than the rate; a fixed per-second counter let twice the rate through
across a second's boundary."""
from __future__ import annotations

import time
import uuid

# KEYS[1] the window; ARGV: now (s), window (s), limit, a unique member. -> {1, 0} taken, or {0, "<seconds to wait>"}
_SLIDING = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""


class RateLimiter:
    def __init__(self, redis, prefix: str = "hotline:sms:rate"):
        self.redis = redis
        self.prefix = prefix
        self._script = None

    def acquire(self, name: str, per_second: float, *, clock=time.time, sleep=time.sleep) -> float:
        """Wait for a slot of ``name``: at most ``per_second`` sends in any second (a rate below one: one send per
        ``1 / per_second`` seconds); returns the seconds waited."""
        limit, window = (max(1, int(per_second)), 1.0) if per_second >= 1 else (1, 1.0 / max(per_second, 1e-3))
        if self._script is None:
            self._script = self.redis.register_script(_SLIDING)
        waited = 0.0
        while True:
            taken, wait = self._script(keys=[f"{self.prefix}:{name}"],
                                       args=[repr(clock()), repr(window), limit, uuid.uuid4().hex])
            if int(taken):
                return waited
            pause = max(float(wait), 0.0) + 0.001
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
