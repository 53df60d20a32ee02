"""What the stats and leaderboard routes refuse, by name."""

from __future__ import annotations

from gamehub.errors import ServiceUnavailable


class LeaderboardRebuilding(ServiceUnavailable):
    """The leaderboard is being rebuilt from the database after its cache was lost; it is
    back in a moment."""

    default_detail = "The leaderboard is being rebuilt; try again shortly"
