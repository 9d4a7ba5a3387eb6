"""The container and deployment files: Dockerfile, .dockerignore, deploy/compose.yaml with
deploy/nginx/nginx.conf, and deploy/k8s/.

Offline: the Kubernetes manifests are validated against the Kubernetes JSON schemas that
kubernetes-validate bundles (strict: an unknown or misspelt field fails), and the compose file
against the compose-spec schema that check-jsonschema vendors. Then the facts no schema sees: the
probes and health checks name routes the app serves, every command line parses as `tuneforge
serve` options, the grace periods outlast the drain, selectors match, one API-key path everywhere.
The health-check commands and nginx's round robin run against stub servers on loopback; the image
build runs only where a Docker daemon answers.
"""

from __future__ import annotations

import copy
import http.server
import importlib.resources
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path, PurePosixPath

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
API_KEY_FILE = "/run/secrets/tuneforge-api-keys"
# applied to a cluster (listed in kustomization.yaml or applied by hand): every one must validate
K8S_FILES = ["deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "pvc.yaml", "secret.yaml",
             "bundle-loader.yaml", "hpa-queue-depth.yaml"]


def _yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _one(path: Path) -> dict:
    docs = _yaml_docs(path)
    assert len(docs) == 1, f"{path.name}: expected one resource, found {len(docs)}"
    return docs[0]


def _container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["tuneforge"]
    return containers[0]


# ---- the Dockerfile, parsed --------------------------------------------------------------------------

def _dockerfile() -> list[dict]:
    """Stages in order: {"name", "base", "instructions": [(INSTRUCTION, argument text)]}."""
    lines, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and raw.lstrip().startswith("#"):
            continue  # comments and the syntax directive
        if pending and raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        full = (pending + raw).strip()
        pending = ""
        if full:
            lines.append(full)
    stages: list[dict] = []
    for line in lines:
        instruction, _, argument = line.partition(" ")
        instruction, argument = instruction.upper(), argument.strip()
        if instruction == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", argument, re.IGNORECASE)
            assert m, f"FROM {argument}"
            stages.append({"base": m.group(1), "name": m.group(2), "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instruction, argument))
    return stages


def _chain(stages: list[dict], stage: dict) -> list[dict]:
    """``stage`` and the stages it is built FROM, nearest first."""
    by_name = {s["name"]: s for s in stages if s["name"]}
    chain = [stage]
    while chain[-1]["base"] in by_name:
        chain.append(by_name[chain[-1]["base"]])
    return chain


def _effective(stages: list[dict], stage: dict, instruction: str) -> str | None:
    """The argument of the last ``instruction`` in force in ``stage`` (inherited from its base stages)."""
    for s in _chain(stages, stage):
        found = [arg for ins, arg in s["instructions"] if ins == instruction]
        if found:
            return found[-1]
    return None


def _exec_form(argument: str) -> list[str]:
    parsed = json.loads(argument)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), argument
    return parsed


def _serve_params(argv: list[str]) -> dict:
    """``tuneforge serve ARGV`` parsed by the real CLI (types converted, nothing run): an unknown option,
    a bad value or a missing bundle raises."""
    import typer

    from tuneforge.cli import app

    group = typer.main.get_command(app)
    return group.commands["serve"].make_context("serve", list(argv)).params


def _entrypoint_and_cmd() -> tuple[list[str], list[str]]:
    stages = _dockerfile()
    final = stages[-1]
    entrypoint = _exec_form(_effective(stages, final, "ENTRYPOINT"))
    cmd = _exec_form(_effective(stages, final, "CMD"))
    assert entrypoint[:2] == ["tuneforge", "serve"], entrypoint
    return entrypoint, cmd


def _app_get_routes() -> set[str]:
    from tuneforge.serve.app import ServeSettings, create_app

    app = create_app(ServeSettings(bundle="unused"))  # routes only: the lifespan (model load) never runs
    return {r.path for r in app.routes if "GET" in (getattr(r, "methods", None) or set())}


def _drain_timeout(params: dict) -> float:
    return float(params["drain_timeout"])


def _seconds(duration: str) -> float:
    """A compose duration such as ``30s``, ``1m30s``."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_dockerfile_is_multi_stage_non_root_with_a_livez_healthcheck():
    stages = _dockerfile()
    assert len(stages) >= 2 and stages[0]["name"] == "builder", [s["name"] for s in stages]
    final = stages[-1]
    assert final["name"] == "runtime", "the default target (the last stage) serves a mounted bundle"
    for stage in (final, next(s for s in stages if s["name"] == "baked")):
        user = _effective(stages, stage, "USER")
        assert user and user.split(":")[0] not in ("0", "root"), f"stage {stage['name']} runs as {user!r}"
        healthcheck = _effective(stages, stage, "HEALTHCHECK")
        assert healthcheck and "/livez" in healthcheck and "curl" not in healthcheck, healthcheck
        assert _effective(stages, stage, "EXPOSE") == "8000"
    # the runtime image gets the builder's virtualenv, not its compilers and caches
    chain = _chain(stages, final)
    copies = [arg for s in chain for ins, arg in s["instructions"] if ins == "COPY"]
    assert any(arg.startswith("--from=builder ") for arg in copies), copies
    assert all(s["name"] != "builder" for s in chain)


def test_dockerfile_installs_the_pinned_cpu_torch_and_a_python_the_package_supports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_pin = next(d for d in project["dependencies"] if d.startswith("torch"))
    text = (ROOT / "Dockerfile").read_text()
    runs = [arg for s in _dockerfile() for ins, arg in s["instructions"] if ins == "RUN"]
    torch_run = [arg for arg in runs if re.search(r"\btorch==", arg)]
    assert len(torch_run) == 1 and torch_pin in torch_run[0].split(), (torch_pin, torch_run)
    assert "--index-url" in torch_run[0]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    version = re.search(r"ARG PYTHON_VERSION=(\d+)\.(\d+)", text)
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", project["requires-python"])
    assert version and minimum
    assert tuple(map(int, version.groups())) >= tuple(map(int, minimum.groups()))
    assert all(s["base"].startswith("python:${PYTHON_VERSION}-slim") for s in _dockerfile()
               if s["name"] in ("builder", "base"))


def test_image_command_line_is_one_tuneforge_serve_accepts():
    entrypoint, cmd = _entrypoint_and_cmd()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint[0] in scripts
    params = _serve_params(entrypoint[2:] + cmd)
    assert params["host"] == "0.0.0.0" and params["port"] == 8000
    assert str(params["api_key_file"]) == API_KEY_FILE
    assert params["bundle"] == "/models/bundle"
    with pytest.raises(Exception, match="No such option"):  # the parse really checks
        _serve_params(entrypoint[2:] + cmd + ["--drain-timout", "20"])


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) per line of .dockerignore, Docker's syntax: ``*`` within a path segment,
    ``**`` across segments; a pattern that matches a folder excludes what is inside it."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i:end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def _in_build_context(path: str) -> bool:
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, regex in _dockerignore_patterns():  # the last matching pattern decides
        if any(regex.fullmatch(p) for p in prefixes):
            excluded = not negated
    return not excluded


def test_dockerignore_keeps_out_runs_venv_git_and_caches_but_not_what_the_image_copies():
    for path in [".venv/bin/python", "runs/demo/bundle/model/model.safetensors", ".git/HEAD", "bench/results/drift.json",
                 "tests/test_cli.py", ".pytest_cache/v/cache/nodeids", ".hypothesis/examples/x",
                 "src/tuneforge/__pycache__/cli.cpython-311.pyc", "src/tuneforge.egg-info/PKG-INFO", "Makefile"]:
        assert not _in_build_context(path), f"{path} would be sent to the Docker daemon"
    sources = []
    for stage in _dockerfile():
        for ins, arg in stage["instructions"]:
            if ins == "COPY" and not arg.startswith("--from"):
                sources += arg.split()[:-1]
    assert sources, "the Dockerfile copies nothing from the build context"
    for source in sources:
        assert (ROOT / source).exists(), source
        inside = [source] if (ROOT / source).is_file() else \
            [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py") if "__pycache__" not in p.parts][:50]
        assert inside and all(_in_build_context(p) for p in inside), f"{source} is excluded by .dockerignore"


# ---- Kubernetes ------------------------------------------------------------------------------------

K8S_VERSIONS = ["1.30.0", "newest"]  # an older minor, and the newest that kubernetes-validate bundles


def _kubernetes_validate():
    return pytest.importorskip("kubernetes_validate.utils", reason="kubernetes-validate: pip install -e '.[dev]'")


def _k8s_validate(resource: dict, version: str) -> None:
    kv = _kubernetes_validate()
    # strict: the schemas that reject unknown fields; a kind without a schema raises, never passes
    kv.validate(resource, kv.latest_version() if version == "newest" else version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_validate_against_the_kubernetes_schemas(version):
    kinds = set()
    for name in K8S_FILES:
        for resource in _yaml_docs(K8S / name):
            try:
                _k8s_validate(resource, version)
            except _kubernetes_validate().ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{name} ({resource['kind']}) against Kubernetes {version}: {path}: {exc.message}")
            kinds.add((resource["apiVersion"], resource["kind"]))
    assert kinds == {("apps/v1", "Deployment"), ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
                     ("policy/v1", "PodDisruptionBudget"), ("v1", "PersistentVolumeClaim"), ("v1", "Secret"),
                     ("v1", "Pod")}
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "prometheus-adapter-values.yaml"}
    assert on_disk == set(K8S_FILES), "a manifest in deploy/k8s that this test does not validate"


@pytest.mark.parametrize("mutate, error", [
    (lambda d: _container(d)["ports"][0].update(containerPort="eight-thousand"), "not of type 'integer'"),
    (lambda d: _container(d).update(readinesProbe=_container(d)["readinessProbe"]), "readinesProbe"),
    (lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds="40s"), "not of type"),
    (lambda d: d["spec"].pop("selector"), "'selector' is a required property"),
], ids=["port-not-an-integer", "misspelt-field", "grace-period-a-string", "no-selector"])
def test_the_kubernetes_validator_rejects_a_broken_deployment(mutate, error):
    deployment = copy.deepcopy(_one(K8S / "deployment.yaml"))
    _k8s_validate(deployment, K8S_VERSIONS[-1])
    mutate(deployment)
    with pytest.raises(_kubernetes_validate().ValidationError, match=error):
        _k8s_validate(deployment, K8S_VERSIONS[-1])


def test_kustomization_lists_the_manifests_and_explains_the_rest():
    kustomization = _one(K8S / "kustomization.yaml")
    listed = kustomization["resources"]
    assert all((K8S / name).is_file() for name in listed), listed
    assert {"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"} <= set(listed)
    assert "secret.yaml" not in listed, "the placeholder Secret would replace the real keys on every apply"
    assert "hpa-queue-depth.yaml" not in listed, "two autoscalers of one name in one apply"
    comment = (K8S / "kustomization.yaml").read_text()
    for name in {p.name for p in K8S.glob("*.yaml")} - set(listed) - {"kustomization.yaml"}:
        assert name in comment, f"{name}: neither listed in kustomization.yaml nor said why not"
    image = _container(_one(K8S / "deployment.yaml"))["image"]
    assert [i["name"] for i in kustomization["images"]] == [image.split(":")[0]]


def test_probes_and_healthchecks_name_routes_the_server_has():
    routes = _app_get_routes()
    assert {"/livez", "/readyz", "/metrics", "/v1/models"} <= routes
    container = _container(_one(K8S / "deployment.yaml"))
    port_names = {p["name"] for p in container["ports"]}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/livez"
    for probe in probes.values():
        assert probe["path"] in routes and probe["port"] in port_names
    service = _one(K8S / "service.yaml")
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for text in (" ".join(compose["services"]["tuneforge"]["healthcheck"]["test"]),
                 _effective(_dockerfile(), _dockerfile()[-1], "HEALTHCHECK")):
        paths = re.findall(r"http://127\.0\.0\.1:8000(/[a-z/]*)", text)
        assert paths and set(paths) <= routes, text


def test_deployment_runs_the_image_non_root_read_only_and_outlasts_the_drain():
    deployment = _one(K8S / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    entrypoint, _ = _entrypoint_and_cmd()
    assert "command" not in container, "keep the image's entrypoint (host, port, key file)"
    params = _serve_params(entrypoint[2:] + container["args"])
    assert params["port"] == container["ports"][0]["containerPort"] == 8000
    assert params["workers"] == 1, "scale with replicas: each worker loads the model again"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # the bundle argument is the read-only bundle volume
    bundle = mounts[params["bundle"]]
    assert bundle["readOnly"] is True and volumes[bundle["name"]]["persistentVolumeClaim"]["readOnly"] is True
    assert volumes[bundle["name"]]["persistentVolumeClaim"]["claimName"] == _one(K8S / "pvc.yaml")["metadata"]["name"]
    # the key file is the Secret's item
    key_file = PurePosixPath(str(params["api_key_file"]))
    keys = volumes[mounts[str(key_file.parent)]["name"]]["secret"]
    assert [item["path"] for item in keys["items"]] == [key_file.name]
    # non-root, as the image's user, nothing writable but /tmp
    user = _effective(_dockerfile(), _dockerfile()[-1], "USER").split(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user[0] and str(pod["securityContext"]["runAsGroup"]) == user[1]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    env = _effective(_dockerfile(), _dockerfile()[-1], "ENV")
    writable = dict(re.findall(r"(HOME|TUNEFORGE_HOME|XDG_CACHE_HOME|HF_HOME|MPLCONFIGDIR)=(\S+)", env))
    assert len(writable) == 5 and all(v == "/tmp" or v.startswith("/tmp/") for v in writable.values()), writable
    # SIGKILL comes after the preStop hook and the whole drain
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + _drain_timeout(params)
    # requests and limits for CPU and memory, the limits at least the requests
    resources = container["resources"]
    assert resources["requests"]["cpu"] == "1" and resources["limits"]["cpu"] == "2"
    assert resources["requests"]["memory"] == "1Gi" and resources["limits"]["memory"] == "2Gi"
    threads = next(e for e in container["env"] if e["name"] == "OMP_NUM_THREADS")
    assert threads["valueFrom"]["resourceFieldRef"] == {"containerName": "tuneforge", "resource": "limits.cpu",
                                                         "divisor": "1"}


def test_selectors_autoscalers_and_disruption_budget_fit_together():
    deployment = _one(K8S / "deployment.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert _one(K8S / "service.yaml")["spec"]["selector"].items() <= labels.items()
    pdb = _one(K8S / "pdb.yaml")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpas = [_one(K8S / "hpa.yaml"), _one(K8S / "hpa-queue-depth.yaml")]
    assert {h["metadata"]["name"] for h in hpas} == {"tuneforge"}, "the example must replace hpa.yaml, not add one"
    for hpa in hpas:
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "tuneforge")
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # a drain can always evict one pod
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
        cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
        assert cpu and cpu[0]["resource"]["name"] == "cpu" and cpu[0]["resource"]["target"]["type"] == "Utilization"


def test_queue_depth_autoscaling_uses_the_gauge_the_server_exports():
    from tuneforge.serve.metrics import service_metrics

    gauges = {family.name for family in service_metrics().registry.collect() if family.type == "gauge"}
    queue = [name for name in gauges if "queue_depth" in name]
    assert len(queue) == 1, gauges
    exported = queue[0]
    hpa = _one(K8S / "hpa-queue-depth.yaml")
    pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert len(pods) == 1 and pods[0]["metric"]["name"] == exported
    assert pods[0]["target"]["type"] == "AverageValue"
    rules = _one(K8S / "prometheus-adapter-values.yaml")["rules"]["custom"]
    rule = next(r for r in rules if r["name"]["as"] == exported)
    assert re.match(rf"{exported}\{{", rule["seriesQuery"]) and re.search(rule["name"]["matches"], exported)
    assert {k: v["resource"] for k, v in rule["resources"]["overrides"].items()} == {"namespace": "namespace",
                                                                                     "pod": "pod"}
    assert "<<.Series>>" in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]


def test_secret_placeholder_fails_closed_and_matches_the_mount(tmp_path):
    from tuneforge.errors import ConfigError
    from tuneforge.serve.security import read_api_keys

    secret = _one(K8S / "secret.yaml")
    deployment = _one(K8S / "deployment.yaml")
    mounted = next(v["secret"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    assert mounted["secretName"] == secret["metadata"]["name"]
    assert [item["key"] for item in mounted["items"]] == list(secret["stringData"])
    keys = tmp_path / "api-keys.txt"
    keys.write_text(secret["stringData"]["api-keys"])
    with pytest.raises(ConfigError, match="holds no key"):  # an unedited Secret stops the server
        read_api_keys(keys)
    assert "kubectl -n tuneforge create secret generic tuneforge-api-keys" in (K8S / "secret.yaml").read_text()


# ---- compose and nginx -----------------------------------------------------------------------------

def _compose_schema() -> dict:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (dev extra; Python 3.11+) ships the schema")
    schema = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(schema.read_text())


def _compose_errors(document: dict) -> list[str]:
    import jsonschema

    schema = _compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_validates_against_the_compose_spec():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert _compose_errors(compose) == []
    broken = copy.deepcopy(compose)
    broken["services"]["tuneforge"]["stop_grace_perod"] = broken["services"]["tuneforge"].pop("stop_grace_period")
    assert any("stop_grace_perod" in e for e in _compose_errors(broken))
    broken = copy.deepcopy(compose)
    broken["services"]["tuneforge"]["deploy"]["replicas"] = [2]
    assert any("replicas" in e for e in _compose_errors(broken))
    broken = copy.deepcopy(compose)
    broken["services"]["tuneforge"]["healthcheck"]["test"] = {"CMD": "python"}
    assert _compose_errors(broken)


def test_compose_runs_two_ready_replicas_behind_nginx():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"tuneforge", "nginx"}
    server, nginx = services["tuneforge"], services["nginx"]
    assert server["deploy"]["replicas"] == 2
    assert "ports" not in server and "container_name" not in server, "replicas cannot share a host port or a name"
    assert (DEPLOY / server["build"]["context"] / server["build"].get("dockerfile", "Dockerfile")).is_file()
    assert server["build"]["target"] == "runtime"
    entrypoint, _ = _entrypoint_and_cmd()
    params = _serve_params(entrypoint[2:] + server["command"])
    bundle = next(v for v in server["volumes"] if v["target"] == params["bundle"])
    assert bundle["read_only"] is True and bundle["source"].endswith(":-../runs/demo/bundle}")
    # the secret lands where the image's entrypoint reads the keys
    secret = server["secrets"][0]
    assert f"/run/secrets/{secret['target']}" == str(params["api_key_file"]) and secret["source"] in compose["secrets"]
    assert ":?" in compose["secrets"][secret["source"]]["file"], "no default key file: compose stops and says why"
    assert "/readyz" in " ".join(server["healthcheck"]["test"])
    assert _seconds(server["stop_grace_period"]) > _drain_timeout(params)
    assert server["read_only"] is True and any(t.startswith("/tmp") for t in server["tmpfs"])
    assert nginx["depends_on"]["tuneforge"]["condition"] == "service_healthy"
    config = next(v for v in nginx["volumes"] if v["target"] == "/etc/nginx/nginx.conf")
    assert (DEPLOY / config["source"]).resolve() == DEPLOY / "nginx" / "nginx.conf"
    assert nginx["ports"] == ["${TUNEFORGE_PORT:-8080}:8080"]


def _nginx_conf() -> str:
    return (DEPLOY / "nginx" / "nginx.conf").read_text()


def test_nginx_conf_round_robins_over_the_compose_service():
    conf = _nginx_conf()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S)
    assert upstream, "no upstream block"
    servers = re.findall(r"^\s*server\s+([^\s;]+)", upstream.group(2), re.M)
    assert servers == ["tuneforge:8000"], servers  # the service name: one address per replica
    for balancer in ("ip_hash", "least_conn", "hash ", "random", "sticky"):
        assert balancer not in upstream.group(2), f"{balancer}: not round robin"
    assert re.search(rf"proxy_pass\s+http://{upstream.group(1)};", conf)
    assert re.search(r"^\s*listen\s+8080;", conf, re.M)


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the server's ``status`` and its name; keeps the requests' headers."""

    def do_GET(self):  # noqa: N802
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        body = json.dumps({"backend": self.server.label}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _stub(label: str, status: int = 200) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.label, server.status, server.seen = label, status, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (Debian's nginx package)")
def test_nginx_conf_spreads_requests_over_both_replicas(tmp_path):
    """The real nginx.conf with its addresses moved to loopback (two stub replicas), its files into
    tmp_path and one worker: nginx accepts it and alternates between the replicas."""
    stubs = [_stub("a"), _stub("b")]
    port = _free_port()
    conf = _nginx_conf()
    conf, n = re.subn(r"server tuneforge:8000([^;]*);", lambda m: " ".join(
        f"server 127.0.0.1:{s.server_address[1]}{m.group(1)};" for s in stubs), conf)
    assert n == 1
    conf, n = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", conf)
    assert n == 1
    # one worker: round robin keeps its turn per worker process, so two could both start with the same replica
    conf, n = re.subn(r"worker_processes auto;", "worker_processes 1;", conf)
    assert n == 1
    conf = conf.replace("/tmp/", f"{tmp_path}/").replace("/dev/stdout", f"{tmp_path}/access.log")
    conf = conf.replace("/dev/stderr", f"{tmp_path}/error.log")
    (tmp_path / "nginx.conf").write_text(conf)
    tmp_path.chmod(0o755)  # nginx's workers drop root
    checked = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert nginx.poll() is None and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        answered = []
        for i in range(6):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models",
                                             headers={"X-Request-Id": f"req-{i}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                answered.append(json.loads(response.read())["backend"])
        assert answered in (["a", "b"] * 3, ["b", "a"] * 3), answered  # round robin
        seen = stubs[0].seen + stubs[1].seen
        assert sorted(r["x-request-id"] for r in seen) == [f"req-{i}" for i in range(6)]
        assert {r["host"] for r in seen} == {f"127.0.0.1:{port}"}, "the client's Host, with its port"
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        for stub in stubs:
            stub.shutdown()


def _healthcheck_code(test: list[str]) -> str:
    assert test[:3] == ["CMD", "python", "-c"] or test[:2] == ["python", "-c"], test
    return test[-1]


@pytest.mark.parametrize("source", ["Dockerfile", "compose"])
def test_healthcheck_commands_pass_on_200_and_fail_on_503(source):
    if source == "Dockerfile":
        healthcheck = _effective(_dockerfile(), _dockerfile()[-1], "HEALTHCHECK")
        code = _healthcheck_code(_exec_form(healthcheck[healthcheck.index("CMD") + len("CMD"):].strip()))
    else:
        compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
        code = _healthcheck_code(compose["services"]["tuneforge"]["healthcheck"]["test"])
    path = re.search(r"http://127\.0\.0\.1:8000(/\w+)", code).group(1)
    for status, passes in ((200, True), (503, False)):
        stub = _stub("server", status)
        try:
            here = code.replace("127.0.0.1:8000", f"127.0.0.1:{stub.server_address[1]}")
            ran = subprocess.run([sys.executable, "-c", here], capture_output=True, text=True, timeout=30)
            assert (ran.returncode == 0) is passes, (status, ran.stderr[-500:])
            assert [r["path"] for r in stub.seen] == [path]
        finally:
            stub.shutdown()


# ---- the image itself, where Docker can build it ----------------------------------------------------

def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
def test_image_builds_and_runs_as_the_non_root_user():
    if not _docker_answers():
        pytest.skip("no Docker daemon answers `docker info` here: the image build is not tested")
    tag = "tuneforge:test-deploy-manifests"
    built = subprocess.run(["docker", "build", "--target", "runtime", "-t", tag, str(ROOT)],
                           capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-3000:]
    inspected = json.loads(subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True,
                                          check=True).stdout)[0]["Config"]
    assert inspected["User"] == "10001:10001" and "/livez" in " ".join(inspected["Healthcheck"]["Test"])
    helped = subprocess.run(["docker", "run", "--rm", "--entrypoint", "tuneforge", tag, "serve", "--help"],
                            capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0 and "--api-key-file" in helped.stdout, helped.stderr[-2000:]
