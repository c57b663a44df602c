"""The Kustomize overlays render, validate against Kubernetes 1.31, and run each tier safely."""

import copy

import pytest

from deploy import render
from tests.deploy.conftest import REPO

OVERLAYS = ("dev", "prod")
TIERS = ("api", "gateway")
REPLICAS = {"dev": {"api": 1, "gateway": 1}, "prod": {"api": 2, "gateway": 3}}
PRE_STOP_SECONDS = 5


def objects_of(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def named(objects, kind, name):
    (found,) = [o for o in objects_of(objects, kind) if o["metadata"]["name"] == name]
    return found


def deployment(objects, tier):
    return named(objects, "Deployment", f"drone-events-{tier}")


def config(objects):
    return named(objects, "ConfigMap", "drone-events-config")["data"]


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def app_container(objects, tier):
    (container,) = deployment(objects, tier)["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_validate_against_kubernetes_schemas(rendered, overlay):
    assert render.validation_errors(rendered[overlay]) == []


def test_validation_rejects_an_unknown_field(rendered):
    broken = copy.deepcopy(deployment(rendered["prod"], "api"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    (error,) = render.validation_errors([broken])
    assert "livenesProbe" in error


def test_secret_template_validates_and_cannot_start_production():
    import yaml

    from shared.auth import check_production_keys
    from shared.settings import Settings, SettingsError

    template = yaml.safe_load((REPO / "deploy/base/secret.template.yaml").read_text())
    assert render.validation_errors([template]) == []
    placeholder = template["stringData"]["JWT_SECRET"]
    with pytest.raises(SettingsError):
        check_production_keys(
            Settings.from_env({"APP_ENV": "production", "JWT_SECRET": placeholder})
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_per_tier(rendered, overlay):
    for tier in TIERS:
        assert deployment(rendered[overlay], tier)["spec"]["replicas"] == REPLICAS[overlay][tier]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_tier_has_an_autoscaler_starting_at_its_replicas(rendered, overlay):
    for tier in TIERS:
        hpa = named(rendered[overlay], "HorizontalPodAutoscaler", f"drone-events-{tier}")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"drone-events-{tier}",
        }
        assert hpa["spec"]["minReplicas"] == REPLICAS[overlay][tier]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_tier_has_a_disruption_budget_over_its_pods(rendered, overlay):
    for tier in TIERS:
        pdb = named(rendered[overlay], "PodDisruptionBudget", f"drone-events-{tier}")
        pod_labels = deployment(rendered[overlay], tier)["spec"]["template"]["metadata"]["labels"]
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        assert selector["app.kubernetes.io/component"] == tier


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tier_selectors_do_not_overlap(rendered, overlay):
    api, gateway = (deployment(rendered[overlay], t)["spec"]["selector"] for t in TIERS)
    assert api["matchLabels"] != gateway["matchLabels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_probes_and_resource_limits(rendered, overlay):
    for owner, spec in pod_specs(rendered[overlay]):
        for container in spec["containers"]:
            where = f"{owner}/{container['name']}"
            assert "livenessProbe" in container and "readinessProbe" in container, where
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), where
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(rendered, overlay):
    for owner, spec in pod_specs(rendered[overlay]):
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, owner
        assert spec["automountServiceAccountToken"] is False, owner
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, owner
            assert context["readOnlyRootFilesystem"] is True, owner
            assert context["allowPrivilegeEscalation"] is False, owner
            assert context["capabilities"]["drop"] == ["ALL"], owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_probes_use_healthz_and_readyz(rendered, overlay):
    for tier in TIERS:
        container = app_container(rendered[overlay], tier)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_runs_as_the_image_user_with_writable_tmp_and_var_dir(rendered, overlay):
    var_dir = config(rendered[overlay])["VAR_DIR"]
    for tier in TIERS:
        spec = deployment(rendered[overlay], tier)["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsUser"] == 10001
        empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["/tmp"] in empty_dirs and mounts[var_dir] in empty_dirs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_drain_before_the_grace_period_ends(rendered, overlay):
    grace = int(config(rendered[overlay])["SHUTDOWN_GRACE_SECONDS"])
    for tier in TIERS:
        spec = deployment(rendered[overlay], tier)["spec"]["template"]["spec"]
        pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop == ["sleep", str(PRE_STOP_SECONDS)]
        assert spec["terminationGracePeriodSeconds"] > PRE_STOP_SECONDS + grace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_each_tier_on_its_configured_port(rendered, overlay):
    data = config(rendered[overlay])
    for tier in TIERS:
        container = app_container(rendered[overlay], tier)
        assert container["command"] == ["python", "-m", f"services.{tier}"]
        (port,) = container["ports"]
        assert port["containerPort"] == int(data[f"{tier.upper()}_PORT"])
        service = named(rendered[overlay], "Service", f"drone-events-{tier}")
        pod_labels = deployment(rendered[overlay], tier)["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == port["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_runs_production_on_all_interfaces(rendered, overlay, settings_names):
    data = config(rendered[overlay])
    assert data["APP_ENV"] == "production"
    assert data["API_HOST"] == data["GATEWAY_HOST"] == "0.0.0.0"
    assert set(data) <= settings_names, sorted(set(data) - settings_names)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_files_come_from_the_mounted_secret(rendered, overlay, settings_names):
    for tier in TIERS:
        spec = deployment(rendered[overlay], tier)["spec"]["template"]["spec"]
        container = spec["containers"][0]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secrets"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "secrets"]
        keys = {item["key"] for item in volume["secret"]["items"]}
        for env in container["env"]:
            assert env["name"] in settings_names
            assert env["value"] == f"{mount['mountPath']}/{env['name'].removesuffix('_FILE')}"
            assert env["name"].removesuffix("_FILE") in keys
        assert "JWT_SECRET" in keys and "REDIS_URL" in keys


def test_dev_secret_has_every_key_the_pods_mount(rendered):
    (secret,) = objects_of(rendered["dev"], "Secret")
    for tier in TIERS:
        (volume,) = [
            v
            for v in deployment(rendered["dev"], tier)["spec"]["template"]["spec"]["volumes"]
            if v["name"] == "secrets"
        ]
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        assert {i["key"] for i in volume["secret"]["items"]} <= secret["data"].keys()


def test_prod_renders_no_secret_and_the_template_covers_the_pods(rendered):
    import yaml

    assert objects_of(rendered["prod"], "Secret") == []
    template = yaml.safe_load((REPO / "deploy/base/secret.template.yaml").read_text())
    for tier in TIERS:
        (volume,) = [
            v
            for v in deployment(rendered["prod"], tier)["spec"]["template"]["spec"]["volumes"]
            if v["name"] == "secrets"
        ]
        assert volume["secret"]["secretName"] == template["metadata"]["name"]
        assert {i["key"] for i in volume["secret"]["items"]} <= template["stringData"].keys()


def test_dev_runs_its_own_mongo_and_redis_and_prod_does_not(rendered):
    def workloads(overlay):
        return {o["metadata"]["name"] for o in rendered[overlay] if "template" in o.get("spec", {})}

    assert {"drone-events-mongo", "drone-events-redis"} <= workloads("dev")
    assert workloads("prod") == {"drone-events-api", "drone-events-gateway"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_api_and_websocket_paths(rendered, overlay):
    routes = {}
    for ingress in objects_of(rendered[overlay], "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes[path["path"]] = (ingress, path["backend"]["service"]["name"])
    assert {p: name for p, (_, name) in routes.items()} == {
        "/api": "drone-events-api",
        "/ws/events": "drone-events-gateway",
        "/": "drone-events-gateway",
        "/static": "drone-events-gateway",
    }
    annotations = routes["/ws/events"][0]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[prefix + "proxy-read-timeout"] == "3600"
    assert annotations[prefix + "proxy-send-timeout"] == "3600"
    assert annotations[prefix + "proxy-buffering"] == "off"


def test_prod_images_are_pinned_to_a_registry_tag(rendered):
    for _, spec in pod_specs(rendered["prod"]):
        for container in spec["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert "/" in name and tag and tag != "latest", container["image"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_lands_in_the_overlay_namespace(rendered, overlay):
    (namespace,) = objects_of(rendered[overlay], "Namespace")
    for obj in rendered[overlay]:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"]


def test_every_available_kustomize_renders_the_same():
    commands = render.kustomize_commands()
    if len(commands) < 2:
        pytest.skip("only one kustomize on this machine")
    for overlay in render.OVERLAYS:
        outputs = {render.render_text(overlay, command) for command in commands}
        assert len(outputs) == 1, f"{overlay} renders differently with {commands}"


def _routed(paths: list[dict], url_path: str) -> bool:
    """Whether an Ingress path list sends ``url_path`` to a backend (Kubernetes' matching:
    Exact is the whole path, Prefix whole path elements)."""
    for path in paths:
        if path["pathType"] == "Exact" and path["path"] == url_path:
            return True
        prefix = path["path"].rstrip("/")
        if path["pathType"] == "Prefix" and (
            url_path == prefix or url_path.startswith(prefix + "/") or not prefix
        ):
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_keeps_readiness_and_metrics_internal(rendered, overlay):
    paths = [
        path
        for ingress in objects_of(rendered[overlay], "Ingress")
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]

    for internal in ("/metrics", "/readyz"):
        assert not _routed(paths, internal), internal
    for public in ("/", "/static/app.js", "/ws/events/", "/api/v1/drones"):
        assert _routed(paths, public), public
