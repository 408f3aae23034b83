"""The reply cache: first messages the model answered, served again without calling it (`CACHE_TTL` seconds).

The key covers the normalised message, the model and its parameters, the system prompt, the grounding rules
and the FAQ's current content: a FAQ edit or a new prompt never serves a stale reply. Errors, follow-ups
(anything with history) and partial streams are never stored.
"""

from __future__ import annotations

import hashlib
import json
import re

from chatbot.config import Settings
from chatbot.llm import completion_params
from chatbot.replies import GROUNDING, Origin, Reply
from chatbot.state.redis import RedisLink

_SPACES = re.compile(r"\s+")
#: Bump when what a cached value means changes.
_VERSION = "1"


def normalise(message: str) -> str:
    """Case and spacing do not change a question: "Livrez-vous ?" and " livrez-vous  ?" share a reply."""
    return _SPACES.sub(" ", message).strip().casefold()


class ReplyCache:
    def __init__(self, link: RedisLink, settings: Settings) -> None:
        self._link = link
        self._ttl = settings.cache_ttl
        # Everything but the message and the FAQ is fixed for the process's life: hashed once.
        fixed = json.dumps(
            {
                "v": _VERSION,
                "model": settings.openai_model,
                "base_url": settings.openai_base_url,
                "params": completion_params(settings),
                "system": settings.system_prompt,
                "grounding": GROUNDING,
                "faq": [settings.faq_top_k, settings.faq_min_score, settings.faq_required],
            },
            sort_keys=True,
        )
        self._prefix = hashlib.sha256(fixed.encode()).hexdigest()[:16]

    @property
    def enabled(self) -> bool:
        return self._ttl > 0 and self._link.configured

    def key(self, message: str, faq_digest: str) -> str:
        text = f"{self._prefix}\0{faq_digest}\0{normalise(message)}"
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"cache:{digest}"

    async def get(self, key: str) -> Reply | None:
        raw = await self._link.run(lambda r: r.get(key), None)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            sources = value["sources"]
            return Reply(str(value["text"]), Origin.CACHE, tuple(sources) if sources is not None else None)
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, key: str, reply: Reply) -> None:
        value = json.dumps(
            {"text": reply.text, "sources": list(reply.sources) if reply.sources is not None else None},
            ensure_ascii=False,
        )
        await self._link.run(lambda r: r.set(key, value, ex=self._ttl), None)
