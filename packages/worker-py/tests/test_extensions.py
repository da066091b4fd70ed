"""Signed webhooks in Python API steps, OpenTelemetry child spans relayed in `spans` frames, and sync handlers
in the thread pool (the event loop keeps answering while one spins), against the fake runtime of test_worker."""

import asyncio
import hashlib
import hmac
import json
import os
import time

import pytest
from test_worker import api_input, run_session

from cfp_worker import tracing
from cfp_worker.config import to_manifest, validate_config
from cfp_worker.webhook import verify

EXT = os.path.join(os.path.dirname(__file__), "fixtures", "ext")
SECRET = "s3cr3t"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def sign(raw: bytes, secret=SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, "sha256").hexdigest()


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch):
    monkeypatch.setenv("CFP_TEST_HOOK_SECRET", SECRET)
    monkeypatch.delenv("CFP_TEST_UNSET_SECRET", raising=False)


def test_webhook_config_is_checked_key_by_key_and_the_manifest_keeps_the_secret_name_out():
    base = {"type": "api", "name": "H", "path": "/h", "method": "POST", "emits": []}
    bad = {**base, "webhook": {"secret": "not a name", "header": "x sig", "algorithm": "md5", "encoding": "b32", "toleranceSeconds": 0,
                               "replayWindowSeconds": 10**7, "extra": 1}}
    keys = sorted(p.key for p in validate_config(bad))
    assert keys == ["webhook.algorithm", "webhook.encoding", "webhook.extra", "webhook.header", "webhook.replayWindowSeconds",
                    "webhook.secret", "webhook.toleranceSeconds"]
    assert [p.key for p in validate_config({**base, "webhook": "yes"})] == ["webhook"]
    good = {**base, "webhook": {"secret": "HOOK", "header": "x-sig", "prefix": "sha256=", "timestampHeader": "x-ts"}}
    assert validate_config(good) == []
    assert to_manifest(good, "steps/h_step.py")["webhook"] == {"header": "x-sig", "prefix": "sha256=", "timestampHeader": "x-ts"}
    # an event step has no webhook
    assert [p.key for p in validate_config({"type": "event", "name": "E", "subscribes": ["t"], "emits": [], "webhook": {}})] == ["webhook"]


def test_slo_is_passed_on_like_the_node_worker_does():
    cfg = {"type": "event", "name": "E", "subscribes": ["t"], "emits": [], "slo": {"latency": {"p95Ms": 500.0}, "successRate": 99.5}}
    assert validate_config(cfg) == []
    assert to_manifest(cfg, "steps/e_step.py")["slo"] == {"latency": {"p95Ms": 500}, "successRate": 99.5}
    assert [p.key for p in validate_config({**cfg, "slo": [1]})] == ["slo"]
    assert [p.key for p in validate_config({**cfg, "slo": {"x": float("nan")}})] == ["slo"]
    assert [p.key for p in validate_config({"type": "noop", "name": "N", "virtualEmits": [], "virtualSubscribes": [], "slo": {}})] == ["slo"]


def test_webhook_verification_rules():
    env = {"K": SECRET}
    body = b'{"a":1}'
    cfg = {"secret": "K", "header": "x-sig", "prefix": "sha256="}
    ok = verify(cfg, {"x-sig": sign(body)}, body, env)
    assert ok["ok"] and ok["replay"]["windowSeconds"] == 86_400 and len(ok["replay"]["digest"]) == 64
    assert verify(cfg, {"x-sig": [sign(body)]}, body, env)["ok"]  # a repeated header: the first value
    assert verify(cfg, {"x-sig": sign(body + b" ")}, body, env)["code"] == "invalid_signature"
    assert verify(cfg, {"x-sig": sign(body, "other")}, body, env)["status"] == 401
    assert "missing" in verify(cfg, {}, body, env)["message"]
    assert "must start with" in verify(cfg, {"x-sig": sign(body)[7:]}, body, env)["message"]
    assert verify(cfg, {"x-sig": "sha256=zz"}, body, env)["ok"] is False
    assert verify(cfg, {"x-sig": sign(body)}, body, {})["code"] == "webhook_misconfigured"
    # timestamped (Stripe-like): `<ts>.<body>` is signed and the age is checked; base64, sha512
    ts_cfg = {"secret": "K", "header": "x-sig", "timestampHeader": "x-ts", "encoding": "base64", "algorithm": "sha512", "toleranceSeconds": 60}
    import base64

    now = 1_800_000_000
    mac = base64.b64encode(hmac.new(SECRET.encode(), f"{now}.".encode() + body, "sha512").digest()).decode()
    good = verify(ts_cfg, {"x-sig": mac, "x-ts": str(now)}, body, env, now + 30)
    assert good["ok"] and good["replay"]["windowSeconds"] == 120
    assert "away from now" in verify(ts_cfg, {"x-sig": mac, "x-ts": str(now)}, body, env, now + 61)["message"]
    assert "Unix timestamp" in verify(ts_cfg, {"x-sig": mac, "x-ts": "soon"}, body, env, now)["message"]
    # the digest is what the TypeScript worker computes: sha256(header name, NUL, the expected MAC)
    expected = hmac.new(SECRET.encode(), body, "sha256").digest()
    assert ok["replay"]["digest"] == hashlib.sha256(b"x-sig\0" + expected).hexdigest()
    assert verify({**cfg, "replayWindowSeconds": 0}, {"x-sig": sign(body)}, body, env) == {"ok": True}


def test_a_python_webhook_step_verifies_claims_and_refuses_replays():
    async def scenario(rt, worker, lines):
        register = next(f for f in rt.frames if f["type"] == "register")
        hook = next(s for s in register["steps"] if s["name"] == "Hook")
        assert hook["webhook"] == {"header": "X-Sig", "prefix": "sha256="}
        body = {"event": "push"}
        raw = json.dumps(body).encode()
        ok = await rt.invoke("h1", "Hook", "api", api_input(body, {"x-sig": sign(raw)}))
        assert ok["output"] == {"status": 200, "body": {"got": body, "auth": None}} and ok["emits"][0]["topic"] == "hooked"
        assert len(rt.claims) == 1
        replay = await rt.invoke("h2", "Hook", "api", api_input(body, {"x-sig": sign(raw)}))
        assert replay["output"]["status"] == 409 and replay["output"]["body"]["error"]["code"] == "webhook_replayed"
        assert replay["emits"] == []
        forged = await rt.invoke("h3", "Hook", "api", api_input({"event": "forged"}, {"x-sig": sign(raw)}))
        assert forged["output"]["status"] == 401 and forged["output"]["body"]["error"]["code"] == "invalid_signature" and forged["emits"] == []
        unset = await rt.invoke("h4", "HookUnset", "api", api_input(body, {"x-sig": "whatever"}))
        # the caller learns nothing about the secret's variable; the step's log says which one is missing
        assert unset["output"] == {"status": 500, "body": {"error": {"code": "webhook_misconfigured", "message": "the webhook is not configured"}}}
        warns = [e for f in rt.frames if f["type"] == "log" for e in f["entries"] if e.get("invocationId") == "h4"]
        assert "CFP_TEST_UNSET_SECRET" in warns[0]["msg"] and warns[0]["level"] == "warn"

    run_session(scenario, EXT)


def test_child_spans_of_step_code_go_to_the_runtime_before_the_result():
    async def scenario(rt, worker, lines):
        res = await rt.invoke("t1", "Traced", "api", api_input({"extra": 0}, {}), traceparent=TRACEPARENT)
        assert res["ok"] is True, res
        # the attempt's span is the current span in the handler; a span made at import time recorded nothing
        assert res["output"]["body"] == {"importSpanValid": False, "current": "b7ad6b7169203331"}
        idx = rt.frames.index(res)
        frames = [f for f in rt.frames[:idx] if f["type"] == "spans" and f["id"] == "t1"]
        assert len(frames) == 1
        spans = {s["name"]: s for s in frames[0]["spans"]}
        assert sorted(spans) == ["inner", "outer", "raises"]
        outer, inner, raises = spans["outer"], spans["inner"], spans["raises"]
        assert outer["parentSpanId"] == "b7ad6b7169203331" and inner["parentSpanId"] == outer["spanId"]
        assert inner["kind"] == "client" and outer["kind"] == "internal"
        assert outer["attributes"] == {"order.id": "o1", "tags": '["a", "b"]'}  # cfp.* dropped
        assert outer["status"] == "error" and outer["statusMessage"] == "declined"
        assert raises["status"] == "error" and raises["attributes"]["exception.type"] == "KeyError"
        assert outer["startMs"] <= inner["startMs"] <= inner["endMs"] <= outer["endMs"]
        assert abs(outer["startMs"] - time.time() * 1000) < 60_000

    run_session(scenario, EXT)


def test_span_bounds_and_an_unsampled_or_absent_traceparent():
    async def scenario(rt, worker, lines):
        res = await rt.invoke("t2", "Traced", "api", api_input({"extra": 700}, {}), traceparent=TRACEPARENT)
        assert res["ok"] is True
        frames = [f for f in rt.frames if f["type"] == "spans" and f["id"] == "t2"]
        assert [len(f["spans"]) for f in frames] == [128, 128, 128, 128]  # 512 per invocation, 128 per frame
        for inv, extra in (("t3", {"traceparent": TRACEPARENT[:-2] + "00"}), ("t4", {})):
            r = await rt.invoke(inv, "Traced", "api", api_input({"extra": 3}, {}), **extra)
            assert r["ok"] is True and not any(f["type"] == "spans" and f["id"] == inv for f in rt.frames)
        assert tracing.parse_traceparent("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None

    run_session(scenario, EXT)


def test_a_sync_handler_spins_in_a_thread_while_the_loop_answers():
    async def scenario(rt, worker, lines):
        pings = []
        ping = worker.ws.ping

        def counted(*a, **k):
            pings.append(time.monotonic())
            return ping(*a, **k)

        worker.ws.ping = counted  # the worker's heartbeat (every heartbeatMs = 200 ms)
        await rt.ws.send(json.dumps({"type": "invoke", "id": "s1", "step": "Spin", "trigger": "event", "attempt": 1, "traceId": "trace-1",
                                     "traceparent": TRACEPARENT, "idempotencyKey": "k", "timeoutMs": 10_000,
                                     "input": {"topic": "spin", "data": {"id": "a", "seconds": 2}, "eventId": "e"}}))
        started = time.monotonic()
        await asyncio.sleep(0.2)
        # while it spins: protocol pings are answered promptly, and another invocation completes
        rtts = []
        for i in range(5):
            t = time.monotonic()
            await rt.ws.send(json.dumps({"type": "ping", "ts": i}))
            await rt.wait_for(lambda f, i=i: f["type"] == "pong" and f.get("ts") == i)
            rtts.append(time.monotonic() - t)
            await asyncio.sleep(0.15)
        quick = await rt.invoke("q1", "Traced", "api", api_input({"extra": 0}, {}))
        assert quick["ok"] is True and time.monotonic() - started < 1.8
        assert max(rtts) < 0.5, rtts
        # the WebSocket heartbeat (every 200 ms, answered within 400 ms) kept the session open
        assert rt.ws.state.name == "OPEN"
        res = await rt.wait_for(lambda f: f["type"] == "result" and f["id"] == "s1", 10)
        during = [t for t in pings if started < t < started + 1.9]
        assert len(during) >= 5, f"{len(during)} heartbeats while the handler spun"
        assert res["ok"] is True, res
        assert time.monotonic() - started >= 1.9
        assert res["emits"] == [{"topic": "spun", "data": {"id": "a", "before": {"data": None}}}]
        assert rt.state[("spins", "a")]["n"] > 0  # the un-awaited state.set from the thread happened before the result
        log = next(e for f in rt.frames if f["type"] == "log" for e in f["entries"] if e.get("invocationId") == "s1")
        assert log["msg"] == "spun" and log["data"]["thread"].startswith("cfp-step")
        spans = next(f for f in rt.frames if f["type"] == "spans" and f["id"] == "s1")["spans"]
        assert [s["name"] for s in spans] == ["spin"] and spans[0]["parentSpanId"] == "b7ad6b7169203331"
        assert not any("reconnecting" in line for line in lines)
        failed = await rt.invoke("s2", "Spin", "event", {"topic": "spin", "data": {"id": "c", "seconds": 0, "fail": True}, "eventId": "f"})
        assert failed["ok"] is False and failed["error"]["message"] == "sync failure"
        stack = failed["error"]["stack"]
        assert "spin_step.py" in stack and "concurrent" not in stack and "cfp_worker" not in stack, stack

    run_session(scenario, EXT)


def test_a_cancelled_spinning_sync_handler_does_not_hold_the_process_at_exit():
    """The runtime cancels a sync handler that spins for 60 s (its thread cannot be stopped); SIGTERM then exits
    at once instead of waiting for the thread at interpreter exit."""
    import subprocess
    import sys

    from test_worker import FakeRuntime
    from websockets.asyncio.server import serve

    async def main():
        rt = FakeRuntime()
        async with serve(rt.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            env = {**os.environ, "CFP_WORKER_TOKEN": "tok", "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cfp_worker", "--dir", EXT, "--url", f"ws://127.0.0.1:{port}/", env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                await asyncio.wait_for(rt.connected.wait(), 15)
                await rt.ws.send(json.dumps({"type": "invoke", "id": "x1", "step": "Spin", "trigger": "event", "attempt": 1, "traceId": "trace-1",
                                             "idempotencyKey": "k", "timeoutMs": 500, "input": {"topic": "spin", "data": {"id": "b", "seconds": 60}, "eventId": "e2"}}))
                await asyncio.sleep(0.5)
                await rt.ws.send(json.dumps({"type": "cancel", "id": "x1", "reason": "timeout"}))
                await asyncio.sleep(0.3)
                started = time.monotonic()
                proc.terminate()
                assert await asyncio.wait_for(proc.wait(), 8) == 0
                assert time.monotonic() - started < 5
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    asyncio.run(main())


def test_step_code_cannot_exceed_the_span_bounds():
    from opentelemetry import trace

    collector = tracing.SpanCollector()
    tracer = trace.get_tracer("bounds")
    with tracing.invocation(TRACEPARENT, collector):
        with tracer.start_as_current_span("n" * 1000, attributes={f"k{i}": i for i in range(50)}) as span:
            span.set_attribute("long", "v" * 5000)
            span.set_attribute("x" * 500, True)
            span.set_attribute("cfp.project", "forged")
            span.set_status(trace.StatusCode.OK)
        late = tracer.start_span("ends after the result")
    batches = collector.close()
    late.end()  # after close: dropped
    [s] = batches[0]
    assert len(s["name"]) == 256 and len(s["attributes"]) == 32 and s["status"] == "ok"
    assert "long" not in s["attributes"]  # the 33rd attribute is refused
    assert collector.dropped == 1 and len(batches) == 1
    # outside an invocation nothing is recorded, and the current span is the invalid one
    outside = tracer.start_span("outside")
    assert not outside.get_span_context().is_valid
    span2 = tracing.SpanCollector()
    with tracing.invocation(TRACEPARENT, span2):
        with tracer.start_as_current_span("s", attributes={"long": "v" * 5000, "y" * 500: 1}):
            pass
    [s2] = span2.close()[0]
    assert len(s2["attributes"]["long"]) == 1024 and {len(k) for k in s2["attributes"]} == {4, 128}
