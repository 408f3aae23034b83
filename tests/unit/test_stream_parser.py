"""OpenAI's stream wire format in, text pieces out; anything else is a bad response, not a crash."""

from __future__ import annotations

import json

import pytest

from chatbot.llm import Fault, UpstreamError
from chatbot.llm.stream import MAX_LINE_BYTES, ChunkParser


def chunk(content: str | None = None, finish: str | None = None, **extra: object) -> bytes:
    delta = {} if content is None else {"content": content}
    body = {
        "object": "chat.completion.chunk",
        "choices": [{"delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_pieces_come_out_as_they_arrive_even_split_across_reads() -> None:
    parser = ChunkParser()
    stream = chunk("Bon") + chunk("jour") + chunk(None, "stop")
    stream += b'data: {"choices": [], "usage": {"total_tokens": 9}}\n\ndata: [DONE]\n\n'
    pieces = [piece for i in range(0, len(stream), 7) for piece in parser.feed(stream[i : i + 7])]
    parser.close()
    assert pieces == ["Bon", "jour"]
    assert parser.usage == {"total_tokens": 9}
    assert parser.done


def test_comments_events_and_crlf_are_ignored() -> None:
    parser = ChunkParser()
    assert parser.feed(b": keep-alive\r\nevent: message\r\n" + chunk("x").replace(b"\n", b"\r\n")) == ["x"]


def test_usage_chunk_with_null_choices_is_accepted() -> None:
    parser = ChunkParser()
    parser.feed(b'data: {"choices": null, "usage": {"total_tokens": 3}}\n\n')
    assert parser.usage == {"total_tokens": 3}


def test_a_stream_that_stops_before_the_end_is_a_failure() -> None:
    parser = ChunkParser()
    parser.feed(chunk("Bon"))
    with pytest.raises(UpstreamError) as error:
        parser.close()
    assert error.value.fault is Fault.UNAVAILABLE


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"data: not json\n\n", Fault.BAD_RESPONSE),
        (b"data: [1, 2]\n\n", Fault.BAD_RESPONSE),
        (b'data: {"choices": "x"}\n\n', Fault.BAD_RESPONSE),
        (b'data: {"error": {"message": "boom"}}\n\n', Fault.UNAVAILABLE),
        (b"data: " + b"x" * (MAX_LINE_BYTES + 1), Fault.BAD_RESPONSE),
    ],
)
def test_anything_else_is_a_fault(data: bytes, fault: Fault) -> None:
    with pytest.raises(UpstreamError) as error:
        ChunkParser().feed(data)
    assert error.value.fault is fault


def test_lone_surrogates_in_a_piece_become_replacement_characters() -> None:
    assert ChunkParser().feed(b'data: {"choices": [{"delta": {"content": "a\\ud800b"}}]}\n\n') == ["a\ufffdb"]
