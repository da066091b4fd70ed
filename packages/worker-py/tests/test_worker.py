"""The worker's session against a fake runtime: hello, register (with load errors), invoke -> result with emits,
logs and state/stream calls, failures with tracebacks in the step's log, cancel, ping frames, drain."""

import asyncio
import base64
import json
import os

from websockets.asyncio.server import serve

from cfp_worker.frames import validate_worker_frame
from cfp_worker.worker import Worker

PROJ = os.path.join(os.path.dirname(__file__), "fixtures", "proj")


class FakeRuntime:
    """Accepts one worker, records every frame it sends (each validated) and answers calls from a dict store."""

    def __init__(self):
        self.frames = []
        self.state = {}
        self.claims = set()
        self.ws = None
        self.connected = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def handler(self, ws):
        self.ws = ws
        async for text in ws:
            frame = validate_worker_frame(json.loads(text))
            if frame["type"] == "hello":
                assert frame["token"] == "tok" and frame["protocol"] == 1
                await ws.send(json.dumps({"type": "welcome", "protocol": 1, "workerId": "w1", "tenant": "t", "project": "p",
                                          "heartbeatMs": 200, "payloadThreshold": 262144}))
            elif frame["type"] == "register":
                names = [s["name"] for s in frame["steps"]]
                await ws.send(json.dumps({"type": "registered", "steps": names, "errors": []}))
                self.connected.set()
            elif frame["type"] == "call":
                await ws.send(json.dumps(self.answer(frame)))
            async with self.arrived:
                self.frames.append(frame)
                self.arrived.notify_all()

    def answer(self, call):
        p = call["params"]
        m = call["method"]
        assert call["invocationId"] and call["traceId"] == "trace-1"
        if m == "state.get":
            return {"type": "reply", "id": call["id"], "ok": True, "result": self.state.get((p["group"], p["key"]))}
        if m == "state.set":
            self.state[(p["group"], p["key"])] = p["value"]
            return {"type": "reply", "id": call["id"], "ok": True, "result": p["value"]}
        if m == "webhook.claim":
            fresh = p["digest"] not in self.claims
            self.claims.add(p["digest"])
            return {"type": "reply", "id": call["id"], "ok": True, "result": {"claimed": fresh}}
        if m == "streams.set":
            return {"type": "reply", "id": call["id"], "ok": True, "result": {**p["data"], "id": p["id"]}}
        return {"type": "reply", "id": call["id"], "ok": False, "error": {"code": "bad_request", "message": "nope"}}

    async def wait_for(self, pred, timeout=5):
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: any(pred(f) for f in self.frames)), timeout)
        return next(f for f in self.frames if pred(f))

    async def invoke(self, inv_id, step, trigger, input, attempt=1, timeout=5, **extra):
        await self.ws.send(json.dumps({"type": "invoke", "id": inv_id, "step": step, "trigger": trigger, "attempt": attempt,
                                       "traceId": "trace-1", "idempotencyKey": f"{step}:{inv_id}", "timeoutMs": 5000, "input": input, **extra}))
        return await self.wait_for(lambda f: f["type"] == "result" and f["id"] == inv_id, timeout)


def api_input(body, headers):
    raw = json.dumps(body).encode()
    return {"method": "POST", "path": "/orders/o1", "pathParams": {"id": "o1"}, "queryParams": {}, "headers": headers,
            "body": body, "rawBody": base64.b64encode(raw).decode(), "auth": None}


def run_session(scenario, proj=PROJ):
    async def main():
        rt = FakeRuntime()
        async with serve(rt.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            lines = []
            worker = Worker(dir=proj, url=f"ws://127.0.0.1:{port}/__cfp/worker", token="tok", print_logs=False, out=lines.append)
            worker.load()
            task = asyncio.ensure_future(worker.run())
            await asyncio.wait_for(rt.connected.wait(), 5)
            try:
                await scenario(rt, worker, lines)
            finally:
                await worker.stop()
                assert await asyncio.wait_for(task, 5) == 0
            return rt

    return asyncio.run(main())


def test_registers_and_reports_load_errors_with_file_line_and_key():
    async def scenario(rt, worker, lines):
        await rt.wait_for(lambda f: f["type"] == "log")

    rt = run_session(scenario)
    hello = rt.frames[0]
    assert hello["worker"]["sdk"].startswith("cfp-worker-py@") and hello["worker"]["runtime"].startswith("python 3.")
    register = rt.frames[1]
    assert sorted(s["name"] for s in register["steps"]) == ["CreateOrder", "Nightly", "OnOrder"]
    log = next(f for f in rt.frames if f["type"] == "log")
    data = {e["data"]["file"]: e["data"] for e in log["entries"]}
    assert data["steps/zbroken/bad_config_step.py"] == {"file": "steps/zbroken/bad_config_step.py", "code": "invalid_config",
                                                        "key": "infrastructure.queue.maxRetries", "line": 7}
    assert all(e["level"] == "error" and isinstance(e["ts"], int) for e in log["entries"])
    assert rt.frames[-1]["type"] == "drain"


def test_api_step_with_middleware_emits_and_logs():
    async def scenario(rt, worker, lines):
        ok = await rt.invoke("api-1", "CreateOrder", "api", api_input({"items": [{"sku": "a"}, {"sku": "b"}]}, {"x-key": "k1"}))
        assert ok["ok"] is True, ok
        assert ok["output"] == {"status": 200, "body": {"id": "o1", "quantity": 2, "trace": "trace-1"}}
        assert ok["emits"] == [{"topic": "order.created", "data": {"id": "o1", "items": [{"sku": "a"}, {"sku": "b"}]}}]
        refused = await rt.invoke("api-2", "CreateOrder", "api", api_input({"items": []}, {}))
        assert refused["output"] == {"status": 401, "body": {"error": "no key"}} and refused["emits"] == []
        # the step's log entry was sent before the result, tagged with step, trace and invocation
        idx = rt.frames.index(ok)
        logs = [e for f in rt.frames[:idx] if f["type"] == "log" for e in f["entries"] if e.get("invocationId") == "api-1"]
        assert isinstance(logs[0]["ts"], int)  # the runtime reads ts as an i64
        assert logs == [{"ts": logs[0]["ts"], "level": "info", "msg": "creating", "traceId": "trace-1", "step": "CreateOrder",
                         "invocationId": "api-1", "data": {"id": "o1"}}]

    run_session(scenario)


def test_event_step_uses_state_and_streams_and_waits_for_unawaited_calls():
    async def scenario(rt, worker, lines):
        res = await rt.invoke("e1", "OnOrder", "event", {"topic": "order.created", "data": {"id": "o9"}, "eventId": "ev1"})
        assert res["ok"] is True, res
        # Motia 0.17's Python state.get shape, the stream item with its marker
        assert res["emits"] == [{"topic": "order.stored", "data": {
            "before": {"data": None},
            "item": {"status": "stored", "id": "o9", "__motia": {"type": "state-stream", "streamName": "orders", "groupId": "all", "id": "o9"}},
        }}]
        # the state.set the handler did not await still happened before the result
        assert rt.state[("orders", "o9")] == {"id": "o9", "seen": True}
        again = await rt.invoke("e2", "OnOrder", "event", {"topic": "order.created", "data": {"id": "o9"}, "eventId": "ev2"})
        assert again["emits"][0]["data"]["before"] == {"data": {"id": "o9", "seen": True}}

    run_session(scenario)


def test_failures_are_classified_and_tracebacks_go_to_the_step_log():
    async def scenario(rt, worker, lines):
        soft = await rt.invoke("f1", "OnOrder", "event", {"topic": "order.created", "data": {"id": "x", "fail": "soft"}, "eventId": "a"})
        assert soft["ok"] is False and soft["error"]["retriable"] is True and soft["error"]["message"] == "flaky"
        assert soft["error"]["name"] == "ValueError" and "on_order_step.py" in soft["error"]["stack"]
        assert "cfp_worker" not in soft["error"]["stack"]
        assert "emits" not in soft
        hard = await rt.invoke("f2", "OnOrder", "event", {"topic": "order.created", "data": {"id": "x", "fail": "hard"}, "eventId": "b"})
        assert hard["error"]["retriable"] is False and hard["error"]["message"] == "bad order"
        errs = [e for f in rt.frames if f["type"] == "log" for e in f["entries"] if e.get("invocationId") == "f1"]
        assert errs[0]["level"] == "error" and errs[0]["msg"] == "ValueError: flaky"
        assert "raise ValueError" in errs[0]["data"]["stack"]
        wrong = await rt.invoke("f3", "Nightly", "event", {"topic": "t", "data": 1, "eventId": "c"})
        assert wrong["ok"] is False and wrong["error"]["retriable"] is False
        missing = await rt.invoke("f4", "Nope", "cron", {"scheduledAt": "2026-01-01T00:00:00Z"})
        assert missing["ok"] is False and "not hosted" in missing["error"]["message"]

    run_session(scenario)


def test_cron_step_with_a_plain_function_and_a_non_dict_log_argument():
    async def scenario(rt, worker, lines):
        res = await rt.invoke("c1", "Nightly", "cron", {"scheduledAt": "2026-01-01T03:00:00Z"})
        assert res["ok"] is True and res["emits"] == []
        entries = [e for f in rt.frames if f["type"] == "log" for e in f["entries"] if e.get("invocationId") == "c1"]
        assert entries[0]["level"] == "warn" and entries[0]["data"] == {"data": "plain value"}

    run_session(scenario)


def test_cancel_ping_access_and_source():
    async def scenario(rt, worker, lines):
        # a handler blocked on a call the runtime never answers is cancelled: no result is sent
        rt.answer = lambda call: {"type": "pong"}
        await rt.ws.send(json.dumps({"type": "invoke", "id": "k1", "step": "OnOrder", "trigger": "event", "attempt": 1, "traceId": "trace-1",
                                     "idempotencyKey": "k", "timeoutMs": 100, "input": {"topic": "order.created", "data": {"id": "z"}, "eventId": "z"}}))
        await rt.wait_for(lambda f: f["type"] == "call")
        await rt.ws.send(json.dumps({"type": "cancel", "id": "k1", "reason": "timeout"}))
        await rt.ws.send(json.dumps({"type": "ping", "ts": 42}))
        assert (await rt.wait_for(lambda f: f["type"] == "pong"))["ts"] == 42
        await asyncio.sleep(0.05)
        assert not worker.inflight and not any(f["type"] == "result" and f["id"] == "k1" for f in rt.frames)
        assert any("cancelled by the runtime (timeout)" in line for line in lines)
        for i, group in enumerate(["all", "other"]):
            await rt.ws.send(json.dumps({"type": "access", "id": f"a{i}", "stream": "orders", "groupId": group, "authContext": {}}))
        a0 = await rt.wait_for(lambda f: f["type"] == "access_result" and f["id"] == "a0")
        a1 = await rt.wait_for(lambda f: f["type"] == "access_result" and f["id"] == "a1")
        assert a0["allowed"] is True and a1["allowed"] is False
        await rt.ws.send(json.dumps({"type": "source", "id": "s1", "step": "Nightly"}))
        src = await rt.wait_for(lambda f: f["type"] == "source_result")
        assert src["ok"] and src["file"] == "steps/shop/nightly.step.py" and "nightly run" in src["text"]

    run_session(scenario)


def test_a_bad_invoke_gets_a_failed_result_and_a_refused_token_is_fatal():
    async def scenario(rt, worker, lines):
        await rt.ws.send(json.dumps({"type": "invoke", "id": "b1", "step": "OnOrder", "trigger": "event", "attempt": 1}))
        res = await rt.wait_for(lambda f: f["type"] == "result" and f["id"] == "b1")
        assert res["ok"] is False and res["error"]["retriable"] is False and "could not read" in res["error"]["message"]

    run_session(scenario)

    async def refuse(ws):
        await ws.recv()
        await ws.send(json.dumps({"type": "error", "code": "unauthenticated", "message": "bad token"}))
        await ws.close(4401)

    async def main():
        async with serve(refuse, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            lines = []
            w = Worker(dir=PROJ, url=f"ws://127.0.0.1:{port}/", token="bad", print_logs=False, out=lines.append)
            assert await asyncio.wait_for(w.run(), 5) == 1
            assert any("refused the session (unauthenticated)" in line for line in lines)

    asyncio.run(main())


def test_the_process_hides_its_token_from_step_code(tmp_path):
    """`python -m cfp_worker` removes CFP_WORKER_TOKEN from os.environ before any step file loads."""
    import subprocess
    import sys

    steps = tmp_path / "proj" / "steps"
    steps.mkdir(parents=True)
    (steps / "peek_step.py").write_text(
        "import os\nAT_IMPORT = os.environ.get('CFP_WORKER_TOKEN')\n"
        "config = {'type': 'cron', 'name': 'Peek', 'cron': '0 * * * *', 'emits': []}\n"
        "async def handler(context):\n"
        "    context.logger.info('env', {'at_import': AT_IMPORT, 'now': os.environ.get('CFP_WORKER_TOKEN')})\n"
    )

    async def main():
        rt = FakeRuntime()
        async with serve(rt.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            env = {**os.environ, "CFP_WORKER_TOKEN": "tok", "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cfp_worker", "--dir", str(tmp_path / "proj"), "--url", f"ws://127.0.0.1:{port}/", env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                await asyncio.wait_for(rt.connected.wait(), 15)
                res = await rt.invoke("p1", "Peek", "cron", {"scheduledAt": "2026-01-01T00:00:00Z"})
                assert res["ok"] is True
                entry = await rt.wait_for(lambda f: f["type"] == "log" and f["entries"][0].get("invocationId") == "p1")
                assert entry["entries"][0]["data"] == {"at_import": None, "now": None}
            finally:
                proc.terminate()
                assert await asyncio.wait_for(proc.wait(), 15) == 0  # SIGTERM drains and exits 0

    asyncio.run(main())


def test_a_result_above_the_frame_limit_becomes_a_non_retriable_failure():
    from cfp_worker.invoke import MAX_FRAME_BYTES, encode

    big = {"type": "result", "id": "x", "ok": True, "output": {"status": 200, "body": "y" * (MAX_FRAME_BYTES + 10)}, "durationMs": 1.0}
    out = json.loads(encode(big))
    assert out["ok"] is False and out["error"]["retriable"] is False and "above the 64 MiB frame limit" in out["error"]["message"]
    odd = {"type": "result", "id": "x", "ok": True, "output": {"status": 200, "body": object()}}
    assert "not JSON-serialisable" in json.loads(encode(odd))["error"]["message"]


def test_json_objects_keep_their_key_order_in_and_out():
    """docs/semantics.md "Key order": frames are read and results written with the handler's key order (integer-like
    keys included: unlike JavaScript, Python keeps them where they are)."""
    from cfp_worker.context import attr_hook
    from cfp_worker.invoke import dumps

    text = '{"z":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}],"10":0}'
    assert dumps(json.loads(text, object_hook=attr_hook)) == text
