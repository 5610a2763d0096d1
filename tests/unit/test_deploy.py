"""The Kubernetes manifests in deploy/k8s: valid against the Kubernetes schemas (offline, with the schemas
that kubernetes-validate ships), consistent with each other, and naming only health services, ports and
settings that the server really has."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.cli import _parser
from service.config import ENV_PREFIX, Settings, settings_from_env
from service.server import LIVENESS_SERVICE, READINESS_SERVICES, SERVICE_NAME

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
KEDA = K8S / "components" / "keda"
# The oldest Kubernetes the manifests are for (gRPC probes are GA from 1.27; the PDB's
# unhealthyPodEvictionPolicy from 1.27 too) and the newest whose schemas the package ships.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
POD_LABELS = {"app.kubernetes.io/name": "summarizer", "app.kubernetes.io/component": "server"}


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(folder: Path) -> dict[str, Any]:
    (doc,) = load(folder / "kustomization.yaml")
    return doc


def base_objects() -> list[dict[str, Any]]:
    return [obj for name in kustomization(BASE)["resources"] for obj in load(BASE / name)]


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (match,) = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return match


def strategic_merge(target: Any, patch: Any) -> Any:
    """Enough of kustomize's strategic merge for these patches: maps merge key by key, and lists of maps
    that have a `name` (containers, ports, env) merge item by item on it; anything else is replaced."""
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            merged[key] = strategic_merge(target[key], value) if key in target else copy.deepcopy(value)
        return merged
    if (
        isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in [*target, *patch])
    ):
        merged_list = [copy.deepcopy(x) for x in target]
        for item in patch:
            index = next((i for i, x in enumerate(merged_list) if x["name"] == item["name"]), None)
            if index is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[index] = strategic_merge(merged_list[index], item)
        return merged_list
    return copy.deepcopy(patch)


def keda_objects() -> list[dict[str, Any]]:
    """The base with the KEDA component applied, as kustomize would render the keda overlay."""
    objects = base_objects()
    component = kustomization(KEDA)
    for entry in component["patches"]:
        (patch,) = load(KEDA / entry["path"])
        target = find(objects, patch["kind"], patch["metadata"]["name"])
        index = objects.index(target)
        if patch.get("$patch") == "delete":
            del objects[index]
        else:
            objects[index] = strategic_merge(target, patch)
    return objects + [obj for name in component["resources"] for obj in load(KEDA / name)]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = find(objects, "Deployment", "summarizer")["spec"]["template"]["spec"]["containers"]
    return only


def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(objects).get("env", [])}


def settings_flags() -> set[str]:
    return {option for action in _parser()._actions for option in action.option_strings}


# -- schemas ---------------------------------------------------------------------------------------


def test_schemas_ship_with_the_package():
    """kubernetes-validate works offline: the schemas are files inside the package."""
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (schemas / f"v{KUBERNETES_VERSIONS[-1]}-local-strict" / "deployment-apps-v1.json").is_file()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("render", [base_objects, keda_objects], ids=["base", "keda"])
def test_every_kubernetes_object_validates_strictly(render, version):
    validated = set()
    for obj in render():
        if obj["apiVersion"].startswith("keda.sh/"):
            continue  # a custom resource: no schema ships for it; its shape is checked below
        kubernetes_validate.validate(obj, version, strict=True)
        validated.add(obj["kind"])
    expected = {"Deployment", "Service", "PodDisruptionBudget"}
    assert expected <= validated
    assert ("HorizontalPodAutoscaler" in validated) == (render is base_objects)


def test_a_schema_violation_is_caught():
    broken = copy.deepcopy(find(base_objects(), "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


# -- kustomize -------------------------------------------------------------------------------------


def test_kustomizations_name_files_and_objects_that_exist():
    base = kustomization(BASE)
    assert base["kind"] == "Kustomization"
    for name in base["resources"]:
        assert (BASE / name).is_file(), name
    assert {i["name"] for i in base["images"]} == {container(base_objects())["image"]}
    component = kustomization(KEDA)
    assert (component["apiVersion"], component["kind"]) == ("kustomize.config.k8s.io/v1alpha1", "Component")
    for entry in [*component["resources"], *(p["path"] for p in component["patches"])]:
        assert (KEDA / entry).is_file(), entry
    overlay = kustomization(K8S / "overlays" / "keda")
    overlay_dir = K8S / "overlays" / "keda"
    assert [(overlay_dir / r).resolve() for r in overlay["resources"]] == [BASE.resolve()]
    assert [(overlay_dir / c).resolve() for c in overlay["components"]] == [KEDA.resolve()]
    yaml_files = {p.relative_to(K8S) for p in K8S.rglob("*.yaml")}
    listed = {Path("base") / r for r in base["resources"]} | {Path("base/kustomization.yaml")}
    listed |= {Path("components/keda") / r for r in component["resources"]}
    listed |= {Path("components/keda") / p["path"] for p in component["patches"]}
    listed |= {Path("components/keda/kustomization.yaml"), Path("overlays/keda/kustomization.yaml")}
    assert yaml_files == listed, "a manifest that no kustomization uses"


def test_selectors_pick_the_pods():
    objects = base_objects()
    deployment = find(objects, "Deployment")
    assert deployment["spec"]["selector"]["matchLabels"] == POD_LABELS
    assert POD_LABELS.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for service in (o for o in objects if o["kind"] == "Service"):
        assert service["spec"]["selector"] == POD_LABELS
    assert find(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == POD_LABELS
    for scaler in (find(objects, "HorizontalPodAutoscaler"), find(keda_objects(), "ScaledObject")):
        assert scaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert scaler["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"


# -- what the server has ---------------------------------------------------------------------------


def test_probes_ask_the_health_names_the_server_sets_on_its_port():
    objects = base_objects()
    main = container(objects)
    grpc_port = {p["name"]: p["containerPort"] for p in main["ports"]}["grpc"]
    assert int(env_of(objects)["SUMMARIZER_PORT"]["value"]) == grpc_port
    probes = {name: main[name]["grpc"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert {probe["port"] for probe in probes.values()} == {grpc_port}
    assert probes["startupProbe"]["service"] in READINESS_SERVICES
    assert probes["readinessProbe"]["service"] == SERVICE_NAME
    assert probes["livenessProbe"]["service"] == LIVENESS_SERVICE


def test_services_expose_the_grpc_port():
    objects = base_objects()
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert services["summarizer-headless"]["spec"]["clusterIP"] == "None"
    assert services["summarizer"]["spec"].get("type", "ClusterIP") == "ClusterIP"
    container_ports = {p["name"] for p in container(objects)["ports"]}
    for service in services.values():
        (port,) = service["spec"]["ports"]
        assert port["name"] == "grpc"
        assert port["targetPort"] in container_ports


@pytest.mark.parametrize("render", [base_objects, keda_objects], ids=["base", "keda"])
def test_every_env_var_is_a_setting_with_a_flag(render):
    fields = {name for name in Settings.__dataclass_fields__}
    flags = settings_flags()
    env = env_of(render())
    pending = {"SUMMARIZER_METRICS_PORT"} - {ENV_PREFIX + f.upper() for f in fields}
    if render is keda_objects and pending:
        pytest.skip(f"{sorted(pending)}: the metrics endpoint is not part of this build yet")
    for name in env:
        assert name.startswith(ENV_PREFIX), f"{name}: only the server's own settings belong here"
        field = name.removeprefix(ENV_PREFIX).lower()
        assert field in fields, f"{name} is not a setting of the server"
        assert "--" + field.replace("_", "-") in flags, f"{name} has no command-line flag"


def test_the_env_values_are_accepted_by_the_server():
    objects = base_objects()
    main = container(objects)
    values = {}
    for name, item in env_of(objects).items():
        if "value" in item:
            values[name] = item["value"]
        else:  # the only computed one: the CPU limit, rounded up to whole cores
            assert item["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
            values[name] = str(int(-(-float(main["resources"]["limits"]["cpu"]) // 1)))
    settings = settings_from_env(values)
    assert settings.host == "0.0.0.0"
    assert settings.inference_threads == int(values["SUMMARIZER_THREADS"])
    # The pod is killed only after the pre-stop window and the drain have both run out.
    grace_period = find(objects, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace_period > settings.prestop_s + settings.grace_s
    assert settings.prestop_s > 0 and settings.max_connection_age_s > 0


def test_pods_run_read_only_as_the_image_user_with_a_writable_tmp():
    objects = base_objects()
    pod = find(objects, "Deployment")["spec"]["template"]["spec"]
    main = container(objects)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (uid,) = set(re.findall(r"^ARG APP_UID=(\d+)$", dockerfile, re.M))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    (mount,) = main["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and "emptyDir" in volume
    # Service links would put SUMMARIZER_PORT=tcp://... into the environment of every pod.
    assert pod["enableServiceLinks"] is False


def test_resources_are_guaranteed():
    resources = container(base_objects())["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]


# -- KEDA ------------------------------------------------------------------------------------------


def test_the_scaled_object_scales_on_the_queue_and_on_cpu():
    objects = keda_objects()
    scaled = find(objects, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "idleReplicaCount",
        "initialCooldownPeriod",
        "fallback",
        "advanced",
        "triggers",
    }
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    triggers = {t["type"]: t for t in spec["triggers"]}
    assert set(triggers) == {"prometheus", "cpu"}
    prometheus = triggers["prometheus"]
    assert prometheus["metricType"] in ("AverageValue", "Value")
    assert "summarizer_requests_queued" in prometheus["metadata"]["query"]
    assert re.match(r"https?://", prometheus["metadata"]["serverAddress"])
    for key in ("threshold", "activationThreshold"):
        float(prometheus["metadata"][key])  # KEDA wants numbers as strings
        assert isinstance(prometheus["metadata"][key], str)
    assert triggers["cpu"]["metricType"] == "Utilization"
    assert "cpu" in container(objects)["resources"]["requests"]  # utilization is relative to requests
    # The behaviour KEDA passes on to its HorizontalPodAutoscaler must itself be valid.
    hpa_behaviour = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-hpa-summarizer"},
        "spec": {
            "scaleTargetRef": spec["scaleTargetRef"],
            "maxReplicas": spec["maxReplicaCount"],
            "behavior": spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        },
    }
    kubernetes_validate.validate(hpa_behaviour, KUBERNETES_VERSIONS[0], strict=True)


def test_the_metrics_port_is_exposed_where_prometheus_is_told_to_scrape():
    objects = keda_objects()
    deployment = find(objects, "Deployment")
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    assert int(env_of(objects)["SUMMARIZER_METRICS_PORT"]["value"]) == ports["metrics"]
    assert ports["grpc"] != ports["metrics"]
