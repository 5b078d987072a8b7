"""load_model against a loopback hub: download through hf_hub_download, cache, offline reuse, refused bytes.

Each load runs in a fresh interpreter because ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` when it is imported, exactly as it does for a user.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from hub_server import HubServer
from tiny_zoo import FAKE_COMMIT, register_tiny_model

REPO = "snnbench-tests/tiny-lif"
LOADER = """
import json, sys
from snnbench import load_model
from snnbench.weights import WeightsError
try:
    model = load_model("tiny-lif", backend="eager")
except WeightsError as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err)}))
    sys.exit(0)
p = model.provenance
print(json.dumps({"source": p.source, "location": p.location, "sha256": p.sha256, "matches": p.matches_card,
                  "training": model.training}))
"""


def _load_in_subprocess(zoo: Path, hf_home: Path, endpoint: str, offline: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(SNNBENCH_ZOO=str(zoo), HF_HOME=str(hf_home), HF_ENDPOINT=endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", LOADER], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _hub_card(zoo: Path) -> tuple[Path, bytes, str]:
    hub = {"repo_id": REPO, "filename": "model.safetensors", "revision": FAKE_COMMIT}
    card, weights = register_tiny_model(zoo, hub=hub, bundle=False)
    data = weights.read_bytes()
    return card, data, hashlib.sha256(data).hexdigest()


def test_download_cache_then_offline(tmp_path):
    zoo, hf_home = tmp_path / "zoo", tmp_path / "hf"
    _, data, sha = _hub_card(zoo)
    with HubServer() as server:
        server.add(REPO, FAKE_COMMIT, "model.safetensors", data)
        online = _load_in_subprocess(zoo, hf_home, server.endpoint)
        assert online == {"source": "hub", "location": f"hf://{REPO}@{FAKE_COMMIT}/model.safetensors",
                          "sha256": sha, "matches": True, "training": False}
        fetched = [path for method, path in server.requests if method == "GET"]
        assert fetched == [f"/{REPO}/resolve/{FAKE_COMMIT}/model.safetensors"]
    cached = list((hf_home / "hub").rglob("model.safetensors"))
    assert len(cached) == 1 and cached[0].read_bytes() == data
    # The server is gone: the cached copy serves an offline load.
    assert _load_in_subprocess(zoo, hf_home, server.endpoint, offline=True) == online


def test_offline_without_cache_says_how_to_get_the_weights(tmp_path):
    zoo = tmp_path / "zoo"
    _hub_card(zoo)
    result = _load_in_subprocess(zoo, tmp_path / "empty-hf", "http://127.0.0.1:9", offline=True)
    assert result["error"] == "WeightsUnavailableError"
    assert "HF_HUB_OFFLINE is set" in result["message"] and "hf download" in result["message"]
    assert "checkpoint=" in result["message"]


def test_download_with_other_bytes_is_refused_and_not_used(tmp_path):
    zoo, hf_home = tmp_path / "zoo", tmp_path / "hf"
    _, data, sha = _hub_card(zoo)
    _, impostor = register_tiny_model(tmp_path / "other", seed=1)
    with HubServer() as server:
        server.add(REPO, FAKE_COMMIT, "model.safetensors", impostor.read_bytes())
        result = _load_in_subprocess(zoo, hf_home, server.endpoint)
    assert result["error"] == "WeightsIntegrityError"
    assert sha in result["message"] and "refused" in result["message"]
    assert f"hf://{REPO}@{FAKE_COMMIT}/model.safetensors" in result["message"]
