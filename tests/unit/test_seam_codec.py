"""jsc_node/seam/codec.py: every request, answer and event survives the trip through a frame
unchanged (Hypothesis, strategies built from the dataclasses' own field types), and every kind of
malformed frame is refused with a SeamError that names what is wrong."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jsc_node.errors import InvalidBlock, InvalidTransaction, SeamError
from jsc_node.seam import messages
from jsc_node.seam.codec import (
    LENGTH,
    MAX_FRAME_BYTES,
    Answer,
    decode_request,
    decode_result,
    decode_server_frame,
    encode_error,
    encode_event,
    encode_request,
    encode_result,
    frame_length,
)
from jsc_node.seam.messages import EVENTS, REQUESTS, Event, Request, Response


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


ALL_REQUESTS = [c for c in _subclasses(Request) if c.__module__ == messages.__name__]
ALL_RESPONSES = [c for c in _subclasses(Response) if c.__module__ == messages.__name__]
ALL_EVENTS = [c for c in _subclasses(Event) if c.__module__ == messages.__name__]


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a field type, over the whole range the wire carries."""
    if tp is bytes:
        return st.binary(max_size=80)
    if tp is int:
        return st.integers(min_value=-(2**63), max_value=2**64 - 1)
    if tp is bool:
        return st.booleans()
    if tp is str:
        return st.text(max_size=20)
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        (inner,) = (a for a in typing.get_args(tp) if a is not type(None))
        return st.none() | _strategy(inner)
    if origin is tuple:
        return st.lists(_strategy(typing.get_args(tp)[0]), max_size=4).map(tuple)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _instances(tp)
    raise AssertionError(f"no strategy for {tp!r}")


def _instances(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def _body(frame: bytes) -> bytes:
    assert frame_length(frame[: LENGTH.size]) == len(frame) - LENGTH.size
    return frame[LENGTH.size :]


def test_every_message_is_in_the_tables() -> None:
    assert set(REQUESTS.values()) == set(ALL_REQUESTS)
    assert set(EVENTS.values()) == set(ALL_EVENTS)
    assert {cls.reply for cls in ALL_REQUESTS} <= set(ALL_RESPONSES)
    assert len(ALL_REQUESTS) == 10
    assert len(ALL_EVENTS) == 6


@pytest.mark.parametrize("cls", ALL_REQUESTS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), request_id=st.integers(min_value=0, max_value=2**63 - 1))
def test_request_round_trip(cls: type[Request[Response]], data: st.DataObject, request_id: int) -> None:
    request = data.draw(_instances(cls))
    assert decode_request(_body(encode_request(request_id, request))) == (request_id, request)


@pytest.mark.parametrize("cls", ALL_RESPONSES, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_answer_round_trip(cls: type[Response], data: st.DataObject) -> None:
    response = data.draw(_instances(cls))
    answer = decode_server_frame(_body(encode_result(3, response)))
    assert isinstance(answer, Answer)
    assert (answer.id, answer.error) == (3, None)
    assert decode_result(cls, answer.result) == response


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_event_round_trip(cls: type[Event], data: st.DataObject) -> None:
    event = data.draw(_instances(cls))
    assert decode_server_frame(_body(encode_event(event))) == event


def test_errors_cross_by_name() -> None:
    bad = decode_server_frame(_body(encode_error(5, InvalidBlock("gas used", got=1, expected=2))))
    assert isinstance(bad, Answer)
    assert type(bad.error) is InvalidBlock
    assert str(bad.error) == "gas used: got 1, expected 2"
    other = decode_server_frame(_body(encode_error(6, InvalidTransaction("nonce too low"))))
    assert isinstance(other, Answer)
    assert type(other.error) is SeamError
    assert str(other.error) == "nonce too low"


def test_wire_form() -> None:
    """Bytes as 0x-hex, ints as numbers, nested dataclasses as objects, None as null."""
    frame = encode_request(
        1, messages.SetPeersRequest(2, True, None, (messages.P2PPeer("Qm", b"\xab", ("/ip4/1",), False),))
    )
    assert orjson.loads(_body(frame)) == {
        "id": 1,
        "method": "set_peers",
        "params": {
            "count": 2,
            "listening": True,
            "node": None,
            "peers": [{"id": "Qm", "address": "0xab", "remote_addrs": ["/ip4/1"], "inbound": False}],
        },
    }
    assert orjson.loads(_body(encode_event(messages.VoteDiscarded(b"\x01\x02")))) == {
        "event": "vote_discarded",
        "params": {"address": "0x0102"},
    }


def _request(method: str, params: Any, request_id: Any = 1) -> bytes:
    return orjson.dumps({"id": request_id, "method": method, "params": params})


BUILD = {"parent": "0x01", "timestamp": 5, "coinbase": "0x02", "extra_data": "0x"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "bad seam frame"),
        (b"[1, 2]", "not an object but list"),
        (_request("take_txs", {}), "unknown method 'take_txs'"),
        (_request("head", {}, request_id="1"), "id '1' is not an integer"),
        (_request("head", None), "head: expected an object"),
        (_request("build_block", {**BUILD, "gas": 1}), "build_block: unknown field 'gas'"),
        (
            _request("build_block", {k: v for k, v in BUILD.items() if k != "coinbase"}),
            "missing field 'coinbase'",
        ),
        (_request("build_block", {**BUILD, "parent": "01"}), "build_block.parent: expected 0x-hex, got '01'"),
        (_request("build_block", {**BUILD, "parent": "0xzz"}), "build_block.parent: bad hex '0xzz'"),
        (_request("build_block", {**BUILD, "timestamp": "5"}), "build_block.timestamp: expected an integer"),
        (_request("build_block", {**BUILD, "timestamp": True}), "build_block.timestamp: expected an integer"),
        (_request("remote_txs", {"txs": "0x01"}), "remote_txs.txs: expected an array"),
        (_request("remote_txs", {"txs": ["0x01", 7]}), "remote_txs.txs[1]: expected 0x-hex, got 7"),
        (
            _request("set_peers", {"count": 1, "listening": 1, "node": None, "peers": []}),
            "set_peers.listening: expected bool",
        ),
        (
            _request("set_sync", {"progress": {"starting": 0, "current": 1}}),
            "set_sync.progress: missing field 'highest'",
        ),
    ],
)
def test_malformed_request_is_refused(body: bytes, words: str) -> None:
    with pytest.raises(SeamError, match=re.escape(words)):
        decode_request(body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (orjson.dumps({"event": "new_block", "params": {}}), "unknown event 'new_block'"),
        (orjson.dumps({"event": "pending_changed", "params": {"count": -1.5}}), "pending_changed.count"),
        (orjson.dumps({"id": 4}), "answer 4 has neither result nor error"),
        (orjson.dumps({"id": 4, "error": "boom"}), "error 'boom' is not an object"),
        (orjson.dumps({"result": {}}), "id None is not an integer"),
    ],
)
def test_malformed_server_frame_is_refused(body: bytes, words: str) -> None:
    with pytest.raises(SeamError, match=re.escape(words)):
        decode_server_frame(body)


def test_result_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(SeamError, match=re.escape("BuiltBlock: missing field 'tx_count'")):
        decode_result(messages.BuiltBlock, {"block": "0x", "hash": "0x", "number": 1})


def test_values_the_wire_cannot_carry_are_refused() -> None:
    with pytest.raises(
        SeamError, match=re.escape("head_changed.number: 18446744073709551616 does not fit in 64 bits")
    ):
        encode_event(messages.HeadChanged(2**64, b"", 0))
    with pytest.raises(SeamError, match=re.escape("remote_txs.txs: expected a tuple, got list")):
        encode_request(1, messages.RemoteTxsRequest([b"\x01"]))  # type: ignore[arg-type]
    with pytest.raises(SeamError, match="exceeds"):
        frame_length(LENGTH.pack(MAX_FRAME_BYTES + 1))
