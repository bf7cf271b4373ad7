"""openapi.yaml says what the server does: a bounded schemathesis run (every check, a fixed
seed, a few dozen examples per operation, then call sequences) against a real ``arkit serve``
process, and the spec's promises that were once missing.

The session operations run on one live session (its code and control token), the lecturer
operations with the lecturer key. ``end`` would end that session for every later case, so a
case that ends it ends a fresh session instead. ``DELETE /api/lessons/{id}`` really deletes:
the test lesson is uploaded again after each 204, so the other operations keep a lesson.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass

import hypothesis
import pytest
import requests
import schemathesis  # a missing schemathesis fails this module (pip install -e '.[test]'); it never skips
import yaml
from schemathesis.config import SchemathesisConfig

from tests.helpers import ServeProcess, http
from tests.server.conftest import KEY

EXAMPLES = 40  # per operation (fuzzing, both modes), besides the coverage phase's cases
SEED = 20240611
CONTROL = "POST /api/sessions/{code}/control"
# where schema-valid data may still be refused (422): only for what the lesson decides, which no
# schema can know (a step below its number of steps, a structure of its hologram, a bundle that
# passes `arkit lesson inspect`)
LESSON_DEPENDENT = {CONTROL: {"bad_step", "bad_structure", "bad_slice"}, "POST /api/lessons": {"bad_bundle"},
                    # the studio: a text or a file whose content decides
                    "PUT /api/lessons/{id}/source": {"bad_source"},
                    "POST /api/lessons/{id}/build": {"bad_source"},
                    "POST /api/lessons/{id}/preview": {"bad_source", "bad_request"},
                    "POST /api/lessons/{id}/files": {"bad_upload"},
                    "POST /api/studio/lessons": {"bad_source", "bad_lesson"},
                    "POST /api/studio/import": {"bad_upload", "bad_source", "bad_bundle"},
                    "POST /api/lessons/{id}/duplicate": {"bad_source"}}
STUDIO_WRITES = ["putSource", "buildLesson", "previewHologram", "uploadFiles", "newLesson", "importLesson",
                 "duplicateLesson"]


@dataclass
class Live:
    code: str
    token: str


@pytest.fixture(scope="module")
def server(tmp_path_factory, class_bundle):
    root = tmp_path_factory.mktemp("openapi")
    lessons = root / "lessons"
    lessons.mkdir()
    shutil.copy(class_bundle, lessons)
    proc = ServeProcess(root / "data", lessons, key=KEY)
    proc.start()
    yield proc
    proc.stop()


def new_session(server) -> Live:
    status, created = http("POST", f"{server.url}/api/sessions", {"lesson": "class-demo"}, KEY)
    assert status == 201, created
    return Live(created["code"], created["control_token"])


@pytest.fixture(scope="module")
def live(server):
    return new_session(server)


@pytest.fixture(scope="module")
def api_schema(server, live):
    _, lesson = http("GET", f"{server.url}/api/sessions/{live.code}/lesson", token=live.token)
    assets = {a["sha256"] for h in lesson["holograms"].values() for a in h.get("assets", {}).values()}
    if lesson.get("thumbnail"):
        assets.add(lesson["thumbnail"]["path"].rsplit("/", 1)[-1].split(".")[0])
    config = SchemathesisConfig.from_dict({
        "seed": SEED,
        "base-url": server.url,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        "auth": {"openapi": {"lecturerKey": {"bearer": KEY}, "controlToken": {"bearer": live.token}}},
        # real values often enough that cases get past "no such session / lesson / asset"
        "dictionaries": {
            "codes": {"values": [live.code]},
            "lessons": {"values": ["class-demo"]},
            "steps": {"values": list(range(len(lesson["steps"])))},
            "structures": {"values": lesson["holograms"]["body"]["structures"][:8]},
            "assets": {"values": sorted(assets)},
        },
        "parameters": {
            "path.code": {"dictionary": "codes", "probability": 0.85},
            "path.id": {"dictionary": "lessons", "probability": 0.5},
            "path.sha256": {"dictionary": "assets", "probability": 0.6},
            "body.lesson": {"dictionary": "lessons", "probability": 0.6},
            "body.step": {"dictionary": "steps", "probability": 0.6},
            "body.structure": {"dictionary": "structures", "probability": 0.6},
        },
        "operations": [
            # the operations behind the control token always name the live session (the other
            # session operations also try codes that name none)
            {"include-operation-id": ["controlSession", "getResults", "getSessionLesson"],
             "parameters": {"path.code": live.code}},
            # see LESSON_DEPENDENT (refusal_is_lesson_dependent checks which 422 it is)
            {"include-operation-id": ["controlSession", "uploadLesson"],
             "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}}},
            # the studio's writes: the lesson's state decides (a stale etag, an id taken, a file refused)
            {"include-operation-id": STUDIO_WRITES,
             "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422",
                                                                           "428", "503"]}}},
            # a schema-valid Range can still start past the end of the asset
            {"include-operation-id": "getAsset",
             "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "304", "404", "416"]}}},
        ],
    })
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.yaml", config=config)


def refusal_is_lesson_dependent(ctx, response, case):
    """A schema-valid request refused with 422: only for what the lesson decides."""
    meta = case.meta
    if response.status_code == 422 and meta is not None and meta.generation.mode.is_positive:
        error = response.json().get("error")
        assert error in LESSON_DEPENDENT.get(case.operation.label, set()), f"schema-valid request refused: {error!r}"


def undeclared_method_refused(ctx, response, case):
    """A method the spec does not list: 405, the JSON error under /api/."""
    declared = {m.upper() for m in case.operation.schema.raw_schema["paths"][case.operation.path]}
    if case.method.upper() not in declared | {"HEAD", "OPTIONS"}:
        assert response.status_code == 405, f"{case.method} answered {response.status_code}"
        if case.operation.path.startswith("/api/"):
            assert response.json()["error"] == "method_not_allowed"


CHECKS = [refusal_is_lesson_dependent, undeclared_method_refused]


def upload(server, bundle, api_schema, **kwargs):
    """Upload the bundle as the lecturer; the 201 as the spec describes it."""
    response = requests.post(f"{server.url}/api/lessons", headers={"Authorization": f"Bearer {KEY}"}, timeout=30,
                             **kwargs)
    assert response.status_code == 201, response.text
    api_schema["/api/lessons"]["POST"].validate_response(response)
    return response.json()


def before_call(case, server, live):
    """A case that would end the live session ends a fresh one."""
    body = case.body if isinstance(case.body, dict) else {}
    if case.operation.label == CONTROL and body.get("action") == "end" and case.path_parameters.get("code") == live.code:
        fresh = new_session(server)
        case.path_parameters["code"] = fresh.code
        if case.headers and case.headers.get("Authorization") == f"Bearer {live.token}":
            case.headers["Authorization"] = f"Bearer {fresh.token}"


def after_call(case, response, server, api_schema, bundle):
    if case.operation.label == "DELETE /api/lessons/{id}" and response.status_code == 204:
        upload(server, bundle, api_schema, data=bundle.read_bytes())  # the other operations need the lesson


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _nodeid_for_schemathesis(request):
    """schemathesis 4.32's pytest plugin reads ``node._nodeid``, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
def test_every_operation_does_what_openapi_yaml_says(case, server, live, api_schema, class_bundle):
    before_call(case, server, live)
    response = case.call_and_validate(additional_checks=CHECKS)
    after_call(case, response, server, api_schema, class_bundle)


def test_call_sequences_do_what_openapi_yaml_says(api_schema, server, live, class_bundle):
    """Stateful: responses feed later requests (a session's code, a lesson's assets)."""

    class Sequences(api_schema.as_state_machine()):
        def before_call(self, case):
            before_call(case, server, live)

        def after_call(self, response, case):
            super().after_call(response, case)
            after_call(case, response, server, api_schema, class_bundle)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            super().validate_response(response, case, additional_checks=CHECKS, **kwargs)

    Sequences.run(settings=hypothesis.settings(max_examples=15, stateful_step_count=6, derandomize=True,
                                               database=None, deadline=None,
                                               suppress_health_check=list(hypothesis.HealthCheck)))


# -- what the spec once left out, and what fuzzing cannot reach --------------------------------


@pytest.fixture(scope="module")
def spec(server):
    with urllib.request.urlopen(f"{server.url}/api/openapi.yaml", timeout=10) as r:
        return yaml.safe_load(r.read())


def _parameters(spec, path, method):
    out = []
    for p in spec["paths"][path][method].get("parameters", []):
        if "$ref" in p:
            p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        out.append(p)
    return out


@pytest.mark.parametrize("path", ["/api/sessions/{code}/qr.svg", "/api/sessions/{code}/qr.png"])
def test_the_qr_codes_declare_their_code_parameter(spec, path):
    code = [p for p in _parameters(spec, path, "get") if p["name"] == "code"]
    assert code and code[0]["in"] == "path" and code[0]["required"] is True
    assert set(spec["paths"][path]["get"]["responses"]) == {"200", "404"}


@pytest.mark.parametrize("path", ["/api/sessions", "/api/sessions/{code}/control"])
def test_the_json_routes_document_400_and_413_and_send_them(spec, server, live, path):
    responses = spec["paths"][path]["post"]["responses"]
    assert {"400", "401", "403", "413", "422"} <= set(responses)
    for status in ("400", "413"):
        ref = responses[status]["$ref"].rsplit("/", 1)[1]
        schema_ref = spec["components"]["responses"][ref]["content"]["application/json"]["schema"]["$ref"]
        assert schema_ref == "#/components/schemas/Error"
    url = server.url + path.replace("{code}", live.code)
    token = KEY if path == "/api/sessions" else live.token
    for body, status, error in ((json.dumps({"action": "pause", "lesson": "x" * 70_000}), 413, "too_large"),
                                ("[1]", 400, "bad_json")):
        request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == status
        assert json.loads(caught.value.read())["error"] == error


@pytest.mark.parametrize("how", ["multipart", "octet-stream", "zip", "curl"])
def test_a_bundle_upload_answers_201_as_documented(api_schema, server, class_bundle, how):
    data = class_bundle.read_bytes()
    kwargs = {"multipart": {"files": {"bundle": ("class-demo.arlesson", data, "application/octet-stream")}},
              "octet-stream": {"data": data, "headers": {"Content-Type": "application/octet-stream"}},
              "zip": {"data": data, "headers": {"Content-Type": "application/zip"}},
              "curl": {"data": data, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}}[how]
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    response = requests.post(f"{server.url}/api/lessons", headers=headers, timeout=30, **kwargs)
    assert response.status_code == 201, response.text
    api_schema["/api/lessons"]["POST"].validate_response(response)
    assert response.json()["id"] == "class-demo" and response.json()["origin"] == "upload"
