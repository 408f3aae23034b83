"""What lives in Redis (each in its own module, its Redis use in one place): conversations, rate limits,
daily token budgets, the reply cache. All of it degrades to a working chat when Redis is down."""

from chatbot.state.budget import TokenBudget, seconds_to_midnight
from chatbot.state.cache import ReplyCache, normalise
from chatbot.state.conversations import VALID_ID, Conversations, Thread, Unavailable, new_id
from chatbot.state.gaps import FaqGaps, Gap
from chatbot.state.limits import Check, Decision, RateLimits, address_bucket
from chatbot.state.redis import RedisLink

__all__ = [
    "VALID_ID",
    "Check",
    "Conversations",
    "Decision",
    "FaqGaps",
    "Gap",
    "RateLimits",
    "RedisLink",
    "ReplyCache",
    "Thread",
    "TokenBudget",
    "Unavailable",
    "address_bucket",
    "new_id",
    "normalise",
    "seconds_to_midnight",
]
