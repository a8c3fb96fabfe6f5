"""The classic max-in-flight filter, used when APF is disabled.

Read-only requests (get, list, watch) and mutating ones have separate limits
(0 means unlimited); ``system:masters`` may exceed a full limit, as in
kube-apiserver. Long-running requests are not counted.
"""

from __future__ import annotations

from apf.flowcontrol.digest import RequestInfo, UserInfo

READ_ONLY_VERBS = frozenset({"get", "list", "watch"})


class MaxInFlight:
    """Two counters with fixed limits; ``try_acquire`` never waits."""

    def __init__(self, *, read_only_limit: int, mutating_limit: int) -> None:
        self.limits = {True: read_only_limit, False: mutating_limit}
        self.in_flight = {True: 0, False: 0}

    def try_acquire(self, info: RequestInfo, user: UserInfo) -> bool | None:
        """Take a slot: the slot's kind (True read-only), or None when the limit is full."""
        is_read_only = info.verb in READ_ONLY_VERBS
        limit = self.limits[is_read_only]
        if limit and self.in_flight[is_read_only] >= limit and "system:masters" not in user.groups:
            return None
        self.in_flight[is_read_only] += 1
        return is_read_only

    def release(self, is_read_only: bool) -> None:
        self.in_flight[is_read_only] -= 1
