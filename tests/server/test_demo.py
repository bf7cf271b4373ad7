"""``arkit demo``: builds the example lessons, serves them and opens a session on fdg."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

from tests.server.test_processes import free_port


def test_demo_serves_a_session_on_fdg(tmp_path, lesson_cache):
    port = free_port()
    # the demo shares the hologram cache of the lesson tests (built once per run)
    env = {**os.environ, "ARKIT_CACHE": str(lesson_cache.parent), "ARKIT_LECTURER_KEY": "demo-key-0123456789"}
    out = tmp_path / "demo.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "arkit_py.cli", "demo", "--host", "127.0.0.1", "--port", str(port),
                                 "--data", str(tmp_path / "data")], cwd=os.path.dirname(os.path.dirname(
                                     os.path.dirname(os.path.abspath(__file__)))),
                                env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        text = ""
        while time.monotonic() < deadline and "join:" not in text:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.5)
            text = out.read_text(errors="replace")
        code = re.search(r"/j/([A-Z0-9]{6})", text).group(1)
        said = [line for line in text.splitlines() if line.startswith("arkit: ")]
        assert said[0] == f"arkit: data: {(tmp_path / 'data').resolve()}"  # where, before anything else
        assert re.search(rf"lecturer:\s+http://localhost:{port}/l/{code}#\S+", text)
        for _ in range(60):
            try:
                state = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions/{code}").read())
                break
            except OSError:
                time.sleep(0.5)
        assert state["lesson"]["id"] == "fdg" and state["step"] == 0
        lessons = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/lessons").read())
        assert sorted(x["id"] for x in lessons) == ["abdomen-ct", "bone-scan-mdp", "fdg", "half-lives", "radioiodine-thyroid"]
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/j/{code}").status == 200
        text = out.read_text(errors="replace")
        assert "\u2588" in text  # the QR drawn in the terminal
    finally:
        proc.terminate()
        proc.wait(20)
