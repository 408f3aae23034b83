"""The upstream model: OpenAI's Chat Completions API or any server that speaks it.

Two clients share one contract and one error taxonomy (`base`): `HttpChatClient` (the default, `http`) and
`SdkChatClient` (the `openai` SDK, `sdk`). Both answer at once (`complete`) or piece by piece (`stream`).
"""

from chatbot.config import OpenAIClient, Settings
from chatbot.llm.base import (
    ChatClient,
    Completion,
    Fault,
    Message,
    StreamItem,
    UpstreamError,
    completion_params,
    parse_completion,
)
from chatbot.llm.http import HttpChatClient
from chatbot.llm.sdk import SdkChatClient


def make_client(settings: Settings) -> ChatClient:
    if settings.openai_client is OpenAIClient.SDK:
        return SdkChatClient(settings)
    return HttpChatClient(settings)


__all__ = [
    "ChatClient",
    "Completion",
    "Fault",
    "HttpChatClient",
    "Message",
    "SdkChatClient",
    "StreamItem",
    "UpstreamError",
    "completion_params",
    "make_client",
    "parse_completion",
]
