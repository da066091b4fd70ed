"""The shared protocol vectors (protocol/vectors/worker-frames.json), as the Rust and TypeScript tests read them."""

import json
import os

import pytest

from cfp_worker.frames import PROTOCOL_VERSION, FrameError, parse_frame, validate_runtime_frame, validate_worker_frame

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "protocol")
with open(os.path.join(ROOT, "vectors", "worker-frames.json"), encoding="utf-8") as fh:
    VECTORS = json.load(fh)
# Vectors of a later protocol version (`"protocol": 2`) are not this worker's: it speaks version 1.
for _kind in ("valid", "invalid"):
    VECTORS[_kind] = [v for v in VECTORS[_kind] if v.get("protocol", 1) <= PROTOCOL_VERSION]


def parsers_for(v):
    out = []
    if v["direction"] != "worker_to_runtime":
        out.append(validate_runtime_frame)
    if v["direction"] != "runtime_to_worker":
        out.append(validate_worker_frame)
    return out


def test_covers_every_frame_type():
    types = {v["frame"]["type"] for v in VECTORS["valid"]}
    for t in ["hello", "register", "result", "log", "call", "access_result", "source_result", "welcome", "registered",
              "invoke", "reply", "cancel", "access", "source", "error", "ping", "pong", "drain"]:
        assert t in types, f"no valid vector for {t}"
    assert len(VECTORS["invalid"]) > 10


@pytest.mark.parametrize("v", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_valid_vector_is_accepted(v):
    for parse in parsers_for(v):
        assert parse(v["frame"]) == v["frame"]
    if v["direction"] != "worker_to_runtime":
        assert parse_frame(json.dumps(v["frame"])) == v["frame"]


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=[v["name"] for v in VECTORS["invalid"]])
def test_invalid_vector_is_rejected(v):
    parsers = parsers_for(v)
    assert parsers
    for parse in parsers:
        with pytest.raises(FrameError):
            parse(v["frame"])


def test_text_that_is_not_json_is_a_bad_frame():
    with pytest.raises(FrameError) as err:
        parse_frame("{nope")
    assert err.value.code == "bad_frame"


def test_null_optional_fields_count_as_absent():
    invoke = {"type": "invoke", "id": "i", "step": "s", "trigger": "event", "attempt": 1, "traceId": "t",
              "idempotencyKey": "k", "timeoutMs": 1, "input": {"topic": "t", "data": None, "eventId": "e", "messageGroupId": None}}
    assert parse_frame(json.dumps(invoke)) == invoke
    assert parse_frame('{"type":"reply","id":1,"ok":true,"result":null,"error":null}')["ok"] is True


def test_a_worker_only_frame_from_the_runtime_is_refused():
    with pytest.raises(FrameError, match='unknown runtime frame type "hello"'):
        parse_frame(json.dumps({"type": "hello", "protocol": 1, "token": "t", "worker": {}}))


class _Step:
    manifest = {"name": "Echo"}


@pytest.mark.parametrize("v", VECTORS["apiOutputs"]["normalised"], ids=lambda v: v["name"])
def test_api_output_vectors_normalised(v):
    from cfp_worker.invoke import _api_output

    assert _api_output(_Step(), v["returned"]) == v["output"]


@pytest.mark.parametrize("v", VECTORS["apiOutputs"]["refused"], ids=lambda v: v["name"])
def test_api_output_vectors_refused(v):
    from cfp_worker.invoke import _api_output
    from cfp_worker.errors import NonRetriableError

    with pytest.raises(NonRetriableError, match=f"header '{v['header']}'"):
        _api_output(_Step(), v["returned"])
