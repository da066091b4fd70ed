"""Loading Python step files: manifests from pydantic and JSON Schema configs, and errors with file, line and key."""

import os

from cfp_worker.frames import validate_worker_frame
from cfp_worker.loader import discover, has_python_steps, key_line, load_project

PROJ = os.path.join(os.path.dirname(__file__), "fixtures", "proj")
RESULT = load_project(PROJ)
BY_FILE = {}
for e in RESULT.errors:
    BY_FILE.setdefault(e.file, []).append(e)


def test_discovers_step_and_stream_files_by_motia_names():
    steps, streams = discover(PROJ)
    names = sorted(os.path.basename(p) for p in steps)
    assert "nightly.step.py" in names and "create_order_step.py" in names and "models.py" not in names
    assert [os.path.basename(p) for p in streams] == ["orders_stream.py"]
    assert has_python_steps(PROJ)
    assert not has_python_steps(os.path.dirname(__file__) + "/nowhere")


def test_good_steps_register_and_their_manifests_are_valid_frames():
    names = sorted(s.manifest["name"] for s in RESULT.steps)
    assert names == ["CreateOrder", "Nightly", "OnOrder"]
    frame = {"type": "register", "steps": [s.manifest for s in RESULT.steps], "streams": [s.manifest for s in RESULT.streams]}
    assert validate_worker_frame(frame) == frame
    api = next(s.manifest for s in RESULT.steps if s.manifest["name"] == "CreateOrder")
    assert api["method"] == "POST" and api["file"] == "steps/shop/create_order_step.py"
    # pydantic schemas, $defs and $ref included; int status keys become strings
    assert api["bodySchema"]["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    assert "Item" in api["bodySchema"]["$defs"]
    assert list(api["responseSchema"]) == ["200"]
    assert "middleware" not in api
    ev = next(s.manifest for s in RESULT.steps if s.manifest["name"] == "OnOrder")
    assert ev["infrastructure"] == {"queue": {"type": "fifo", "maxRetries": 2}}
    assert RESULT.streams[0].manifest == {"name": "orders", "file": "steps/shop/orders_stream.py", "storageType": "default",
                                          "hasCanAccess": True, "schema": {"type": "object"}}


def test_a_syntax_error_names_file_and_line():
    [e] = BY_FILE["steps/zbroken/syntax_step.py"]
    assert e.code == "load_failed" and e.line == 4
    assert e.message.startswith("steps/zbroken/syntax_step.py:4: failed to load: syntax error")


def test_an_import_error_names_file_line_and_module():
    [e] = BY_FILE["steps/zbroken/imports_step.py"]
    assert e.code == "load_failed" and e.line == 3
    assert "ModuleNotFoundError" in e.message and "not_a_real_module_cfp" in e.message


def test_a_bad_config_names_the_key_and_its_line():
    [e] = BY_FILE["steps/zbroken/bad_config_step.py"]
    assert e.code == "invalid_config" and e.key == "infrastructure.queue.maxRetries" and e.line == 7
    assert "steps/zbroken/bad_config_step.py:7: config.infrastructure.queue.maxRetries: -1 is too small" in e.message


def test_an_unknown_key_is_refused_with_its_name():
    [e] = BY_FILE["steps/zbroken/unknown_key_step.py"]
    assert e.key == "bodyschema" and e.line == 2 and "unknown key 'bodyschema'" in e.message


def test_a_duplicate_name_is_refused():
    [e] = BY_FILE["steps/zbroken/dup_step.py"]
    assert e.code == "duplicate_step" and "steps/shop/on_order_step.py" in e.message
    assert e.data() == {"file": "steps/zbroken/dup_step.py", "code": "duplicate_step", "key": "name", "line": 1}


def test_key_line_falls_back_to_the_assignment(tmp_path):
    p = tmp_path / "x_step.py"
    p.write_text("import os\n\nconfig = dict(type='event')\n")
    assert key_line(str(p), "config", "type") == 3


def test_manifest_mode_prints_what_generate_types_reads():
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "cfp_worker", "--dir", PROJ, "--manifest"], capture_output=True, text=True, timeout=30,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert sorted(s["name"] for s in data["steps"]) == ["CreateOrder", "Nightly", "OnOrder"]
    assert [s["name"] for s in data["streams"]] == ["orders"]
    assert {e["file"] for e in data["errors"]} == set(BY_FILE)


def test_whole_float_durations_become_integers():
    from cfp_worker.config import to_manifest, validate_config

    cfg = {"type": "event", "name": "E", "subscribes": ["t"], "emits": [],
           "infrastructure": {"handler": {"timeout": 30.0}, "queue": {"visibilityTimeout": 60.0, "maxRetries": 2}}}
    assert validate_config(cfg) == []
    infra = to_manifest(cfg, "steps/e_step.py")["infrastructure"]
    assert infra == {"handler": {"timeout": 30}, "queue": {"visibilityTimeout": 60, "maxRetries": 2}}
    assert isinstance(infra["handler"]["timeout"], int)
    bad = dict(cfg, infrastructure={"handler": {"timeout": 1.5}})
    assert [p.key for p in validate_config(bad)] == ["infrastructure.handler.timeout"]
