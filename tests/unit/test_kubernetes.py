"""The Kubernetes manifests (deploy/kubernetes): every object is valid against the Kubernetes
API schemas (kubernetes-validate's bundled ones, strict) and KEDA's ScaledObject against the
schema carried in tests/unit/schemas; the overlays render with kustomize (kubectl's); and the
manifests agree with the code (stream and group names, port, probes, user, volumes)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from sentiflow.keys import Keys
from sentiflow.settings import Settings
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
KEDA_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "keda-scaledobject.json").read_text())
# The oldest Kubernetes the manifests claim (autoscaling/v2, batch/v1 ttl, startupProbe, Pod
# Security labels are all older) and the newest schemas kubernetes-validate carries.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
OVERLAYS = ("production", "without-keda")
Manifest = dict[str, Any]


def validate(doc: Manifest) -> None:
    """Raise when `doc` is not a valid object of its kind."""
    if doc.get("apiVersion", "").startswith("keda.sh/"):
        jsonschema.validate(doc, KEDA_SCHEMA, cls=jsonschema.Draft202012Validator)
        return
    for version in VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def base_manifests() -> list[Manifest]:
    """The base as written: its resources' documents, without kustomize."""
    kustomization = yaml.safe_load((KUBE / "base" / "kustomization.yaml").read_text())
    docs: list[Manifest] = []
    for name in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((KUBE / "base" / name).read_text()) if d)
    return docs


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl (for its built-in kustomize) is not installed"
        if IN_CI:
            pytest.fail(f"{message}; the overlays must be rendered under CI=true", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    """Each overlay rendered by kustomize, with the example secrets filled in."""
    binary = kubectl()
    tree = tmp_path_factory.mktemp("kube") / "kubernetes"
    shutil.copytree(KUBE, tree)
    example = tree / "overlays" / "production" / "secrets.env.example"
    shutil.copy(example, example.with_name("secrets.env"))
    out: dict[str, list[Manifest]] = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [binary, "kustomize", str(tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        out[overlay] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def one(docs: Iterable[Manifest], kind: str, name: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def containers(doc: Manifest) -> list[Manifest]:
    pod = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return list(pod["containers"])


def test_base_manifests_are_valid() -> None:
    docs = base_manifests()
    assert {d["kind"] for d in docs} == {
        "ConfigMap",
        "PersistentVolumeClaim",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ScaledObject",
    }
    for doc in docs:
        validate(doc)


@pytest.mark.timeout(120)
def test_overlays_render_to_valid_objects(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, docs in rendered.items():
        for doc in docs:
            validate(doc)
            assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "sentiflow"
        kinds = {d["kind"] for d in docs}
        assert ("ScaledObject" in kinds) == (overlay == "production"), overlay
        secret = next(d for d in docs if d["kind"] == "Secret")
        # Every secret a container needs (not marked optional) is in the generated Secret,
        # under the generated (hashed) name.
        for doc in docs:
            if doc["kind"] not in ("Deployment", "Job"):
                continue
            for container in containers(doc):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional"):
                        assert ref["name"] == secret["metadata"]["name"], env
                        assert ref["key"] in secret["data"], env
                assert container["image"] == "registry.example.com/sentiflow:0.1.0"
    workers = one(rendered["without-keda"], "Deployment", "sentiflow-worker")
    assert workers["spec"]["replicas"] == 3


def test_manifests_agree_with_the_code() -> None:
    docs = base_manifests()
    keys = Keys(Settings().redis_prefix)
    config = one(docs, "ConfigMap", "sentiflow")
    assert config["data"]["SENTIFLOW_REDIS_PREFIX"] == keys.prefix

    scaled = one(docs, "ScaledObject", "sentiflow-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "sentiflow-worker"
    assert scaled["spec"]["minReplicaCount"] >= 1  # the periodic jobs run in workers
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"]["stream"] == keys.posts_stream
    assert trigger["metadata"]["consumerGroup"] == keys.workers_group
    worker = one(docs, "Deployment", "sentiflow-worker")
    (worker_container,) = containers(worker)
    worker_env = {e["name"] for e in worker_container["env"]}
    for source in ("addressFromEnv", "passwordFromEnv"):
        assert trigger["metadata"][source] in worker_env

    hpa = one(docs, "HorizontalPodAutoscaler", "sentiflow-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "sentiflow-api",
    }
    api = one(docs, "Deployment", "sentiflow-api")
    (api_container,) = containers(api)
    assert api_container["command"][:2] == ["sentiflow", "api"]
    assert api_container["ports"] == [
        {"name": "http", "containerPort": Settings(host="0.0.0.0").port}
    ]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert api_container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    for probe in ("startupProbe", "livenessProbe"):
        assert worker_container[probe]["exec"]["command"] == [
            "python", "-m", "sentiflow.healthcheck", "worker"
        ]  # fmt: skip
    assert worker_container["command"][:2] == ["sentiflow", "worker"]
    job = one(docs, "Job", "sentiflow-migrate")
    (migrate,) = containers(job)
    assert migrate["command"] == ["sentiflow", "db", "upgrade"]

    for doc in (api, worker, job):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert "memory" in container["resources"]["limits"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts
    for doc in (api, worker):
        assert "replicas" not in doc["spec"]  # the autoscalers own it
        pod = doc["spec"]["template"]["spec"]
        data = next(v for v in pod["volumes"] if v["name"] == "data")
        assert data["persistentVolumeClaim"]["claimName"] == "sentiflow-data"
        (container,) = pod["containers"]
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        assert pod["securityContext"]["fsGroup"] == 10001  # the volume is writable by the user


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("Deployment", lambda d: d["spec"].__setitem__("replicas", "two")),
        ("Deployment", lambda d: containers(d)[0].pop("name")),
        ("Job", lambda d: containers(d)[0].__setitem__("comand", ["true"])),
        ("Service", lambda d: d["spec"].__setitem__("portz", [])),
        ("HorizontalPodAutoscaler", lambda d: d["spec"].pop("maxReplicas")),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].pop("stream")),
        ("ScaledObject", lambda d: d["spec"]["triggers"][0]["metadata"].__setitem__("lag", "5")),
        ("ScaledObject", lambda d: d["spec"].__setitem__("maxReplicas", 3)),
    ],
)
def test_an_invalid_manifest_fails_validation(kind: str, change: Any) -> None:
    doc = copy.deepcopy(next(d for d in base_manifests() if d["kind"] == kind))
    validate(doc)
    change(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
