"""deploy/dagster/values.yaml for the official Dagster Helm chart, checked offline.

What `helm install -f values.yaml` would check: Helm merges the values over the chart's own
defaults and validates the result against the chart's `values.schema.json`; both files are
vendored in data/ (data/README.md names their commit). The Kubernetes object schemas that the
chart's schema references by URL are resolved to the Kubernetes 1.32 definitions bundled with
kubernetes-validate, so pod fields are checked too.

Then what no schema checks: that the values say what deploy/dagster/dagster.prod.yaml (the same
instance, for tools outside the cluster) says, that every pod fits the Fargate size the cost
section of docs/operations.md assumes, that nothing needs a node (hostPath, privileged,
DaemonSet), that the code location gets every variable the production resources read, and that
the run pods dagster-k8s builds from these values are the ones intended. The last tests
validate each class configured in dagster.prod.yaml against its own Dagster config schema.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import importlib.util
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from attrition_platform_tests.deploy.tools import REPO_ROOT

DATA = Path(__file__).parent / "data"
VALUES = REPO_ROOT / "deploy" / "dagster" / "values.yaml"
PROD_INSTANCE = REPO_ROOT / "deploy" / "dagster" / "dagster.prod.yaml"
CHART_SCHEMA = DATA / "dagster-chart-values.schema.json"
CHART_DEFAULTS = DATA / "dagster-chart-values.yaml"
SUBCHART_SCHEMA = DATA / "dagster-user-deployments-values.schema.json"
VENDORED_README = DATA / "README.md"

# The release the values header says to install; it contains the chart name, so the chart's
# "fullname" (the prefix of every object, e.g. the instance ConfigMap) is the release name.
RELEASE = "attrition-dagster"
NAMESPACE = "attrition"
K8S_VERSION = "1.32.0"
# What the chart's schema $refs for Kubernetes objects (Helm downloads it).
K8S_DEFINITIONS_URL = (
    "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/v1.19.0/"
    "_definitions.json"
)
# The chart renders the storage password as {"env": DAGSTER_PG_PASSWORD} and sets that variable
# from global.postgresqlSecretName in every Dagster container (templates/helpers/instance/
# _postgresql.tpl); host, port, user and database it writes as literals, not variables.
CHART_PG_PASSWORD_ENV = "DAGSTER_PG_PASSWORD"

# EKS Fargate pod sizes: vCPU -> allowed memory in GiB (test_helm_chart.py's table, with the
# 0.5 GB size it leaves out), and the memory Fargate adds to every pod for its own agents.
FARGATE_SIZES: dict[float, list[float]] = {
    0.25: [0.5, 1, 2],
    0.5: [1, 2, 3, 4],
    1.0: list(range(2, 9)),
    2.0: list(range(4, 17)),
    4.0: list(range(8, 31)),
}
FARGATE_OVERHEAD_MIB = 256
# docs/operations.md, cost table: webserver, daemon and user-code server at 0.25 vCPU / 1 GB.
ALWAYS_ON_FARGATE_SIZE = (0.25, 1)


# -- loading and merging ------------------------------------------------------------------------


def _load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.safe_load(handle)


def _coalesce(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over chart defaults: maps merge key by key, anything else
    (lists included) is replaced, and a null removes the default."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _coalesce(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return _load_yaml(VALUES)


@pytest.fixture(scope="module")
def merged(values: dict[str, Any]) -> dict[str, Any]:
    """The values Helm validates and renders: the chart's defaults with ours on top."""
    return _coalesce(_load_yaml(CHART_DEFAULTS), values)


@pytest.fixture(scope="module")
def prod_instance() -> dict[str, Any]:
    return _load_yaml(PROD_INSTANCE)


@pytest.fixture(scope="module")
def k8s_registry() -> Registry:
    """The chart schema's Kubernetes $ref URL, answered offline by kubernetes-validate's bundled
    definitions (non-strict, as the chart references them). That file keys its definitions
    under `$defs`; the chart's pointers say `definitions`, so both names are served."""
    path = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{K8S_VERSION}-local"
        / "_definitions.json"
    )
    bundled = json.loads(path.read_text())
    contents = {
        "$schema": bundled["$schema"],
        "definitions": bundled["$defs"],
        "$defs": bundled["$defs"],
    }
    return Registry().with_resource(K8S_DEFINITIONS_URL, Resource.from_contents(contents))


def _errors(
    schema: Mapping[str, Any],
    instance: Any,
    registry: Registry,
    validator: type[jsonschema.protocols.Validator] = jsonschema.Draft202012Validator,
) -> list[str]:
    found = validator(schema, registry=registry).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def _user_deployment(merged: Mapping[str, Any]) -> dict[str, Any]:
    (deployment,) = merged["dagster-user-deployments"]["deployments"]
    return deployment


def _k8s_launcher(merged: Mapping[str, Any]) -> dict[str, Any]:
    return merged["runLauncher"]["config"]["k8sRunLauncher"]


# -- the vendored chart files ------------------------------------------------------------------


def test_vendored_chart_files_are_the_ones_the_readme_records() -> None:
    """data/README.md names the upstream commit and sha256 of each vendored file; an edit to a
    vendored file (or a re-vendor without updating the record) fails here."""
    recorded = dict(
        re.findall(r"\| `([\w.-]+)` \|.*\| `([0-9a-f]{64})` \|", VENDORED_README.read_text())
    )
    vendored = {p.name: p for p in (CHART_SCHEMA, CHART_DEFAULTS, SUBCHART_SCHEMA)}
    assert set(recorded) == set(vendored)
    for name, path in vendored.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded[name], name
    json.loads(CHART_SCHEMA.read_text())
    json.loads(SUBCHART_SCHEMA.read_text())


def test_chart_defaults_validate_against_the_chart_schema(k8s_registry: Registry) -> None:
    """The vendored defaults and schema belong together (same commit): otherwise a failure of
    our values could be the pair's fault rather than ours."""
    schema = json.loads(CHART_SCHEMA.read_text())
    assert _errors(schema, _load_yaml(CHART_DEFAULTS), k8s_registry) == []


# -- the values against the chart's schemas ----------------------------------------------------


@pytest.mark.parametrize(
    "validator",
    [jsonschema.Draft7Validator, jsonschema.Draft202012Validator],
    ids=["draft7-helm3", "draft2020-helm4"],
)
def test_values_merged_over_chart_defaults_validate_against_chart_schema(
    merged: dict[str, Any], k8s_registry: Registry, validator: type[jsonschema.protocols.Validator]
) -> None:
    """What `helm install` checks before rendering anything. Helm 3 validates with draft-07
    rules (a $ref hides its sibling keywords), Helm 4 with 2020-12 (both apply); the values must
    pass either way."""
    schema = json.loads(CHART_SCHEMA.read_text())
    assert _errors(schema, merged, k8s_registry, validator) == []


MUTATIONS: dict[str, tuple[tuple[str | int, ...], Any]] = {
    # the chart's own fields
    "replicaCount-as-string": (("dagsterWebserver", "replicaCount"), "1"),
    "queue-limit-as-word": (
        ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "maxConcurrentRuns"),
        "two",
    ),
    "unknown-run-launcher": (("runLauncher", "type"), "FargateRunLauncher"),
    "telemetry-as-string": (("telemetry", "enabled"), "false"),
    # a Kubernetes field, reached through the chart's $ref to the Kubernetes definitions
    "runAsNonRoot-as-string": (("dagsterDaemon", "podSecurityContext", "runAsNonRoot"), "yes"),
    "user-code-port-as-string": (("dagster-user-deployments", "deployments", 0, "port"), "3030"),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_a_value_of_the_wrong_type_is_rejected(
    merged: dict[str, Any], k8s_registry: Registry, mutation: str
) -> None:
    """The schema check is not vacuous: one wrong type, in the chart's fields or in a
    Kubernetes field behind a $ref, makes the same merged values invalid."""
    path, wrong = MUTATIONS[mutation]
    broken = copy.deepcopy(merged)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = wrong
    schema = json.loads(CHART_SCHEMA.read_text())
    errors = _errors(schema, broken, k8s_registry)
    assert errors, f"{mutation} was accepted"
    assert any("/".join(map(str, path[:-1])) in e for e in errors), errors


def test_user_code_deployment_validates_against_the_subcharts_schema(
    merged: dict[str, Any], k8s_registry: Registry
) -> None:
    """Helm validates the dagster-user-deployments subchart's values against its own schema as
    well; the deployment and the service account are ours (the rest are subchart defaults)."""
    subschema = json.loads(SUBCHART_SCHEMA.read_text())
    user = merged["dagster-user-deployments"]
    for definition, instance in (
        ("UserDeployment", _user_deployment(merged)),
        ("ServiceAccount", user["serviceAccount"]),
    ):
        only = {"$defs": subschema["$defs"], "$ref": f"#/$defs/{definition}"}
        assert _errors(only, instance, k8s_registry) == [], definition
    broken = {**_user_deployment(merged), "dagsterApiGrpcArgs": "-m attrition_platform.definitions"}
    only = {"$defs": subschema["$defs"], "$ref": "#/$defs/UserDeployment"}
    assert _errors(only, broken, k8s_registry)


def test_user_code_serves_the_definitions_module_on_3030(merged: dict[str, Any]) -> None:
    """The code location `attrition` is `dagster api grpc -m attrition_platform.definitions`
    (the module workspace.yaml loads locally), on the port the chart's workspace points at."""
    deployment = _user_deployment(merged)
    assert deployment["name"] == "attrition"
    assert deployment["port"] == 3030
    args = deployment["dagsterApiGrpcArgs"]
    assert args[0] in ("-m", "--module-name")
    assert args[1] == "attrition_platform.definitions"
    assert importlib.util.find_spec(args[1]) is not None
    assert deployment["image"]["repository"].endswith("/attrition-dagster")


# -- the same instance as dagster.prod.yaml -----------------------------------------------------


def _effective_run_service_account(launcher: Mapping[str, Any], default: str) -> str:
    """A service account in pod_spec_config wins over the launcher's (dagster-k8s job.py);
    the config takes either key spelling."""
    pod_spec = launcher.get("runK8sConfig", launcher.get("run_k8s_config", {})) or {}
    pod_spec = pod_spec.get("podSpecConfig", pod_spec.get("pod_spec_config", {})) or {}
    return pod_spec.get("serviceAccountName") or pod_spec.get("service_account_name") or default


def test_run_launcher_agrees_with_dagster_prod_yaml(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """Runs launched by the cluster and by tools using dagster.prod.yaml land in the same
    namespace, under the same account, with the same size and security context."""
    assert (
        merged["runLauncher"]["type"] == prod_instance["run_launcher"]["class"] == "K8sRunLauncher"
    )
    ours, theirs = _k8s_launcher(merged), prod_instance["run_launcher"]["config"]
    assert ours["jobNamespace"] == theirs["job_namespace"] == NAMESPACE
    assert ours["loadInclusterConfig"] == theirs["load_incluster_config"]
    assert ours["imagePullPolicy"] == theirs["image_pull_policy"]
    # The chart writes its own account into the launcher config; the pod spec overrides it.
    assert _effective_run_service_account(ours, merged["serviceAccount"]["name"]) == (
        _effective_run_service_account(theirs, theirs["service_account_name"])
    )
    run, prod_run = ours["runK8sConfig"], theirs["run_k8s_config"]
    assert run["containerConfig"]["resources"] == prod_run["container_config"]["resources"]
    assert run["podSpecConfig"]["securityContext"] == prod_run["pod_spec_config"]["securityContext"]


def test_run_launcher_names_the_instance_objects_the_chart_creates(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """A run pod mounts the instance from a ConfigMap and reads the database password from a
    secret, both named in the launcher config. The chart names them after the release and
    global.postgresqlSecretName; dagster.prod.yaml must name the same objects."""
    chart = _chart_run_launcher_config(merged)
    theirs = prod_instance["run_launcher"]["config"]
    for key in ("instance_config_map", "postgres_password_secret", "dagster_home"):
        assert theirs.get(key) == chart[key], key


def test_queued_run_limit_agrees_with_dagster_prod_yaml(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """At most two runs at once (a training next to the nightly scores), whichever side
    queues them; and one place only that sets the limit."""
    coordinator = merged["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True
    assert (
        coordinator["type"] == prod_instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    )
    limit = coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"]
    assert limit == prod_instance["run_coordinator"]["config"]["max_concurrent_runs"] == 2
    # The chart's newer `concurrency` block would set the same limit a second way.
    assert merged["concurrency"]["enabled"] is False


def test_compute_logs_agree_with_dagster_prod_yaml(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """Same class, bucket variable and prefix: step logs written by a run are found by the UI,
    whichever side wrote them."""
    assert merged["computeLogManager"]["type"] == prod_instance["compute_logs"]["class"]
    ours = merged["computeLogManager"]["config"]["s3ComputeLogManager"]
    theirs = prod_instance["compute_logs"]["config"]
    assert ours["bucket"] == theirs["bucket"] == {"env": "ATTRITION_LOG_BUCKET"}
    assert ours["prefix"] == theirs["prefix"] == "dagster/compute-logs"
    assert ours["localDir"] == theirs["local_dir"]
    assert ours["uploadInterval"] == theirs["upload_interval"]
    assert ours["showUrlOnly"] == theirs["show_url_only"]


def _container_envs(merged: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The env list of every Dagster container the values configure."""
    return {
        "webserver": merged["dagsterWebserver"]["env"],
        "daemon": merged["dagsterDaemon"]["env"],
        "user-code": _user_deployment(merged)["env"],
        "runs": _k8s_launcher(merged)["runK8sConfig"]["containerConfig"]["env"],
    }


def test_postgres_storage_agrees_with_dagster_prod_yaml(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """An external RDS database, the password from an existing secret under the variable both
    sides read (the chart's DAGSTER_PG_PASSWORD), and the same SQLAlchemy driver."""
    postgres_db = prod_instance["storage"]["postgres"]["postgres_db"]
    assert postgres_db["password"] == {"env": CHART_PG_PASSWORD_ENV}
    assert merged["postgresql"]["enabled"] is False
    assert merged["postgresql"]["postgresqlHost"]
    assert merged["global"]["postgresqlSecretName"]
    assert merged["postgresql"]["postgresqlScheme"] == postgres_db.get("scheme", "")


def test_every_container_that_loads_the_instance_can_resolve_it(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """The instance reads its compute-log bucket from ATTRITION_LOG_BUCKET, so every Dagster
    container needs it; PGSSLMODE=require puts TLS under every connection to RDS."""
    bucket_env = prod_instance["compute_logs"]["config"]["bucket"]["env"]
    for container, env in _container_envs(merged).items():
        plain = {e["name"]: e.get("value") for e in env}
        assert plain.get("PGSSLMODE") == "require", container
        assert plain.get(bucket_env), container


def test_telemetry_is_off_as_in_dagster_prod_yaml(
    merged: dict[str, Any], prod_instance: dict[str, Any]
) -> None:
    """The chart enables telemetry by default; production sends none, from either side."""
    assert merged["telemetry"]["enabled"] is False
    assert prod_instance["telemetry"]["enabled"] is False


SECRET_KEY = re.compile(r"password|secret_?key|token|sql_?url|salt", re.IGNORECASE)
SECRET_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY|SQL_URL|SALT")


def _plain_secrets(node: Any, path: str = "") -> Iterator[str]:
    """Places where a secret would be written out: a scalar under a password/token-like key
    (names of secrets excepted), or an env entry with a secret-like name and a literal value."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}/{key}"
            secret_like = SECRET_KEY.search(str(key)) and not str(key).endswith(("Name", "Secret"))
            if secret_like and not isinstance(value, Mapping | list):
                yield here
            yield from _plain_secrets(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            named = isinstance(item, Mapping) and "value" in item
            if named and SECRET_ENV.search(str(item.get("name", ""))):
                yield f"{path}[{i}]={item['name']}"
            yield from _plain_secrets(item, f"{path}[{i}]")


def test_values_hold_no_secret(values: dict[str, Any]) -> None:
    """Secrets arrive by reference (an existing secret, secretKeyRef): the file that goes into
    git and ArgoCD holds none. (The chart's default postgresqlPassword stays in the merged
    values, read only to generate a secret, which generatePostgresqlPasswordSecret=false stops.)"""
    assert values["generatePostgresqlPasswordSecret"] is False
    assert list(_plain_secrets(values)) == []


@pytest.mark.parametrize(
    "plant",
    [
        {"postgresql": {"postgresqlPassword": "hunter2"}},
        {"dagsterDaemon": {"env": [{"name": "ATTRITION_SUPPRESSION_SALT", "value": "s"}]}},
    ],
    ids=["chart-password", "env-literal"],
)
def test_the_secret_check_finds_a_written_out_secret(
    values: dict[str, Any], plant: dict[str, Any]
) -> None:
    """test_values_hold_no_secret can fail: a password or a secret env value, planted, is found."""
    assert list(_plain_secrets(_coalesce(values, plant)))


# -- nothing that needs a node -----------------------------------------------------------------

FORBIDDEN_KEYS = {"hostPath", "hostNetwork", "hostPID", "hostIPC", "hostPort"}
FORBIDDEN_TRUE = {"privileged", "allowPrivilegeEscalation"}
FORBIDDEN_KINDS = {"DaemonSet"}


def _node_bound_settings(node: Any, path: str = "") -> Iterator[str]:
    """Settings Fargate refuses or that reach into the node: host paths, host namespaces and
    ports, privileged containers, added capabilities, DaemonSets (in extraManifests)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key in FORBIDDEN_KEYS and value not in (None, False, {}, []):
                yield here
            if key in FORBIDDEN_TRUE and value is True:
                yield here
            if key == "add" and path.endswith("capabilities") and value:
                yield here
            if key == "kind" and value in FORBIDDEN_KINDS:
                yield here
            yield from _node_bound_settings(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _node_bound_settings(item, f"{path}[{i}]")


def test_nothing_needs_a_node(merged: dict[str, Any]) -> None:
    """Fargate has no nodes to share: no hostPath, host namespaces, privileged containers or
    DaemonSets, in our values or in the chart defaults they are merged over."""
    assert list(_node_bound_settings(merged)) == []


PLANTS: dict[str, tuple[tuple[str, ...], Any]] = {
    "hostPath-volume": (
        ("dagsterDaemon", "volumes"),
        [{"name": "h", "hostPath": {"path": "/var"}}],
    ),
    "privileged": (("dagsterWebserver", "securityContext", "privileged"), True),
    "escalation": (("dagsterWebserver", "securityContext", "allowPrivilegeEscalation"), True),
    "hostNetwork": (
        ("runLauncher", "config", "k8sRunLauncher", "runK8sConfig", "podSpecConfig", "hostNetwork"),
        True,
    ),
    "added-capability": (
        ("dagsterDaemon", "securityContext", "capabilities", "add"),
        ["NET_ADMIN"],
    ),
    "daemonset": (("extraManifests",), [{"apiVersion": "apps/v1", "kind": "DaemonSet"}]),
}


@pytest.mark.parametrize("plant", PLANTS, ids=list(PLANTS))
def test_the_node_check_finds_each_forbidden_setting(merged: dict[str, Any], plant: str) -> None:
    """test_nothing_needs_a_node can fail: each kind of forbidden setting, planted, is found."""
    path, value = PLANTS[plant]
    planted = copy.deepcopy(merged)
    target = planted
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    assert list(_node_bound_settings(planted))


# -- Fargate sizes and security context ---------------------------------------------------------


def _cpu(quantity: str | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024, "M": 1000**2 / 1024**2, "G": 1000**3 / 1024**2}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 1024**2


def _fargate_size(
    containers: list[Mapping[str, Any]], init: list[Mapping[str, Any]]
) -> tuple[float, float]:
    """The (vCPU, GB) pair Fargate bills: the larger of the init containers' and the sum of the
    regular containers' requests, plus its 256 MiB, rounded up to a valid pair."""

    def total(kind: str, parse: Any, group: list[Mapping[str, Any]], combine: Any) -> float:
        return combine([parse(c["requests"][kind]) for c in group] or [0])

    cpu = max(total("cpu", _cpu, containers, sum), total("cpu", _cpu, init, max))
    memory = max(
        total("memory", _mebibytes, containers, sum), total("memory", _mebibytes, init, max)
    )
    memory += FARGATE_OVERHEAD_MIB
    for vcpu, sizes in sorted(FARGATE_SIZES.items()):
        if vcpu >= cpu:
            for gb in sizes:
                if gb * 1024 >= memory:
                    return vcpu, gb
    raise AssertionError(f"no Fargate size holds {cpu} vCPU / {memory} MiB")


def test_every_pod_is_a_fargate_size_with_requests_equal_to_limits(merged: dict[str, Any]) -> None:
    """Fargate bills requests (+256 MiB) rounded up; limits above requests are never usable.
    The always-on pods land exactly on the 0.25 vCPU / 1 GB the cost table of
    docs/operations.md assumes; run pods on a valid size too."""
    always_on = {
        "webserver": (
            [merged["dagsterWebserver"]["resources"]],
            [merged["dagsterWebserver"]["initContainerResources"]],
        ),
        "daemon": (
            [merged["dagsterDaemon"]["resources"]],
            [merged["dagsterDaemon"]["initContainerResources"]],
        ),
        "user-code": ([_user_deployment(merged)["resources"]], []),
    }
    runs = [_k8s_launcher(merged)["runK8sConfig"]["containerConfig"]["resources"]]
    for name, (containers, init) in {**always_on, "runs": (runs, [])}.items():
        for resources in containers + init:
            assert resources["requests"] == resources["limits"], name
        size = _fargate_size(containers, init)
        if name in always_on:
            assert size == ALWAYS_ON_FARGATE_SIZE, (name, size)


def test_dagster_containers_run_as_non_root_on_a_read_only_root(merged: dict[str, Any]) -> None:
    """Where the chart exposes a container security context (webserver, daemon, user code):
    non-root, no privilege escalation, no capabilities, read-only root with /tmp on an emptyDir
    (the only writable path, also HOME). Run pods: non-root as dagster.prod.yaml sets them."""
    for name, section in {
        "webserver": merged["dagsterWebserver"],
        "daemon": merged["dagsterDaemon"],
        "user-code": _user_deployment(merged),
    }.items():
        pod, container = section["podSecurityContext"], section["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert container["readOnlyRootFilesystem"] is True, name
        assert container["allowPrivilegeEscalation"] is False, name
        assert container["capabilities"]["drop"] == ["ALL"], name
        empty_dirs = {v["name"] for v in section["volumes"] if "emptyDir" in v}
        assert {m["mountPath"] for m in section["volumeMounts"] if m["name"] in empty_dirs} == {
            "/tmp"
        }, name
        assert {"name": "HOME", "value": "/tmp"} in section["env"], name
    run_pod = _k8s_launcher(merged)["runK8sConfig"]["podSpecConfig"]["securityContext"]
    assert run_pod["runAsNonRoot"] is True


# -- the code location's environment -------------------------------------------------------------


def _env_var_names(resource: Any) -> set[str]:
    """Every dg.EnvVar a resource (and the resources nested in it) was configured with."""
    names: set[str] = set()
    for field in type(resource).model_fields:
        value = getattr(resource, field, None)
        if isinstance(value, dg.EnvVar):
            names.add(value.env_var_name)
        elif isinstance(value, dg.ConfigurableResource):
            names |= _env_var_names(value)
    return names


def test_user_code_env_sets_every_variable_the_prod_resources_read(
    merged: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built with the code server's own environment (secret references stand for their
    value), the resources are the production set and every dg.EnvVar they read is in that
    environment; so is the salt a remote lake requires (privacy/suppression.py)."""
    from attrition_platform.definitions import build_resources
    from attrition_platform.privacy.suppression import SALT_ENV
    from attrition_platform.settings import environment

    env = _user_deployment(merged)["env"]
    for name in [n for n in os.environ if n.startswith("ATTRITION_HRIS_")]:
        monkeypatch.delenv(name)
    for item in env:
        monkeypatch.setenv(item["name"], item.get("value", "<from secret>"))
    assert environment() == "prod"
    resources = build_resources(environment())
    read = set().union(*(_env_var_names(r) for r in resources.values()))
    assert {"ATTRITION_LAKE_URI", "ATTRITION_SERVING_URI", "MLFLOW_TRACKING_URI"} <= read
    assert read | {SALT_ENV} <= {item["name"] for item in env}
    # kind `sql` reads the URL through dg.EnvVar: proof the HRIS is not the built-in simulation
    assert resources["hris"].kind == "sql"


# -- the run pods dagster-k8s builds from these values -------------------------------------------


def _chart_run_launcher_config(merged: Mapping[str, Any]) -> dict[str, Any]:
    """The K8sRunLauncher config the chart writes into the instance ConfigMap, mirroring
    templates/helpers/instance/_run-launcher.tpl (`dagsterYaml.runLauncher.k8s`)."""
    k8s = _k8s_launcher(merged)
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        # dagster.serviceAccountName: global name, else serviceAccount.name, else fullname
        "service_account_name": merged["global"]["serviceAccountName"]
        or merged["serviceAccount"]["name"]
        or RELEASE,
        "dagster_home": merged["global"]["dagsterHome"],
        "instance_config_map": f"{RELEASE}-instance",
        "postgres_password_secret": merged["global"]["postgresqlSecretName"],
    }
    if merged.get("imagePullSecrets"):
        config["image_pull_secrets"] = merged["imagePullSecrets"]
    for chart_key, key in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if k8s.get(chart_key):
            config[key] = [item["name"] for item in k8s[chart_key]]
    for chart_key, key in (
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("schedulerName", "scheduler_name"),
        ("securityContext", "security_context"),
    ):
        if k8s.get(chart_key):
            config[key] = k8s[chart_key]
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    run = k8s.get("runK8sConfig") or {}
    sections = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    if run:
        config["run_k8s_config"] = {
            key: run[name] for name, key in sections.items() if run.get(name)
        }
    return config


def _code_location_container_context(merged: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the user-code subchart hands to the runs when includeConfigInLaunchedRuns is on,
    mirroring its `dagsterUserDeployments.k8sContainerContext` helper; None when off."""
    deployment = _user_deployment(merged)
    if not (deployment.get("includeConfigInLaunchedRuns") or {"enabled": True})["enabled"]:
        return None
    user = merged["dagster-user-deployments"]
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env"]
        + [c["name"] for c in deployment.get("envConfigMaps") or []],
        "namespace": NAMESPACE,
        "service_account_name": merged["global"]["serviceAccountName"]
        or user["serviceAccount"]["name"],
        "run_k8s_config": {"pod_spec_config": {"automount_service_account_token": True}},
    }
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in deployment["envSecrets"]]
    for key, target in (
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ):
        if deployment.get(key):
            k8s[target] = deployment[key]
    if isinstance(deployment.get("env"), list):
        k8s["env"] = deployment["env"]
    return {"k8s": k8s}


def _run_pod(
    merged: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict[str, Any]]:
    """(namespace, Job) for a run, built by dagster-k8s itself: the K8sRunLauncher from the
    chart-rendered config (its cluster login stubbed out), the run's container context merged as
    the launcher merges it, and the Job the launcher would submit. The run is a stand-in object
    carrying only what `create_for_run` reads (the code location's container context, tags)."""
    import dagster_k8s.launcher
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher, construct_dagster_k8s_job

    monkeypatch.setattr(dagster_k8s.launcher, "load_kubernetes_config", lambda **_: None)
    processed = process_config(K8sRunLauncher.config_type(), _chart_run_launcher_config(merged))
    assert processed.success, processed.errors
    launcher = K8sRunLauncher.from_config_value(None, processed.value)
    run = SimpleNamespace(
        job_code_origin=SimpleNamespace(
            repository_origin=SimpleNamespace(
                container_context=_code_location_container_context(merged)
            )
        ),
        tags={},
    )
    context = launcher.get_container_context_for_run(run)
    image = "{repository}:{tag}".format(**_user_deployment(merged)["image"])
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=image, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name="dagster-run-test",
        user_defined_k8s_config=context.run_k8s_config,
        labels={},
    )
    return context.namespace, job.to_dict()


def test_run_pods_are_the_size_account_and_environment_intended(
    merged: dict[str, Any], prod_instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Job dagster-k8s builds from the chart-rendered launcher config: dagster.prod.yaml's
    namespace, account, resources and pod security context; the code server's environment
    (secrets still by reference); the Fargate profile's label; /tmp writable."""
    namespace, job = _run_pod(merged, monkeypatch)
    prod = prod_instance["run_launcher"]["config"]
    pod = job["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert namespace == prod["job_namespace"]
    assert pod["spec"]["service_account_name"] == prod["service_account_name"]
    want = prod["run_k8s_config"]["container_config"]["resources"]
    assert container["resources"]["requests"] == want["requests"]
    assert container["resources"]["limits"] == want["limits"]
    security = pod["spec"]["security_context"]
    assert security["run_as_non_root"] is True and security["run_as_user"] == 10001
    assert security["seccomp_profile"]["type"] == "RuntimeDefault"
    by_name = {e["name"]: e for e in container["env"]}
    for item in _user_deployment(merged)["env"]:
        assert item["name"] in by_name, item["name"]
        if "valueFrom" in item:
            assert by_name[item["name"]]["value"] is None and by_name[item["name"]]["value_from"]
    assert pod["metadata"]["labels"]["fargate.attrition.io/profile"] == "dagster"
    assert "/tmp" in {m["mount_path"] for m in container["volume_mounts"]}


def test_handing_the_code_servers_config_to_runs_would_shrink_them(
    merged: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why includeConfigInLaunchedRuns is off: with the chart's default (on), dagster-k8s merges
    the code server's 250m / 768Mi over the launcher's resources and runs get a quarter vCPU."""
    turned_on = copy.deepcopy(merged)
    _user_deployment(turned_on)["includeConfigInLaunchedRuns"] = {"enabled": True}
    _, job = _run_pod(turned_on, monkeypatch)
    resources = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"] == _user_deployment(merged)["resources"]["requests"]


def test_chart_rendered_run_launcher_config_is_valid_dagster_config(merged: dict[str, Any]) -> None:
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    result = validate_config(K8sRunLauncher.config_type(), _chart_run_launcher_config(merged))
    assert result.success, [e.message for e in result.errors]


# -- dagster.prod.yaml against each class's own config schema ------------------------------------


def _prod_classes() -> dict[str, tuple[str, Any]]:
    """Section of dagster.prod.yaml -> (class, its config), imported normally: dagster-k8s and
    dagster-postgres are dependencies of the production instance."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres.storage import DagsterPostgresStorage

    instance = _load_yaml(PROD_INSTANCE)
    return {
        "run_launcher": (K8sRunLauncher, instance["run_launcher"]["config"]),
        "compute_logs": (S3ComputeLogManager, instance["compute_logs"]["config"]),
        "run_coordinator": (QueuedRunCoordinator, instance["run_coordinator"]["config"]),
        "storage": (DagsterPostgresStorage, instance["storage"]["postgres"]),
    }


@pytest.mark.parametrize("section", ["run_launcher", "compute_logs", "run_coordinator", "storage"])
def test_dagster_prod_yaml_section_validates_against_its_class_schema(section: str) -> None:
    """Each class's own config schema, with {"env": NAME} values left unresolved as Dagster
    allows (they are read when the instance is loaded, where the variables exist)."""
    from dagster._config import validate_config

    cls, config = _prod_classes()[section]
    assert cls.__name__ == _load_yaml(PROD_INSTANCE).get(section, {}).get("class", cls.__name__)
    result = validate_config(cls.config_type(), config)
    assert result.success, [e.message for e in result.errors]


def test_dagster_prod_yaml_is_a_valid_instance_config() -> None:
    """The file as a whole, against the instance schema (module/class names, top-level keys)."""
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    result = validate_config(dagster_instance_config_schema(), _load_yaml(PROD_INSTANCE))
    assert result.success, [e.message for e in result.errors]


def test_class_schema_check_rejects_a_misspelled_key() -> None:
    """The per-class check can fail: a misspelled key of the run launcher is refused."""
    from dagster._config import validate_config

    cls, config = _prod_classes()["run_launcher"]
    wrong = {**config, "service_acount_name": config.get("service_account_name")}
    result = validate_config(cls.config_type(), wrong)
    assert not result.success
    assert any("service_acount_name" in e.message for e in result.errors)
