"""The production stack's files, checked without a Docker engine.

The compose files validate against the Compose Specification's JSON Schema (vendored:
``compose-spec.json``, provenance in ``compose-spec.NOTICE``); every ``DWH_`` variable a
service gets is a real setting; images are pinned; host ports are unique and clear of the
platform's; mounted files exist; the configs they mount parse; no password is written down.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dwh.config import Settings
from dwh.dds.cluster import CLUSTER_SESSION_SETTINGS

from .stack import REPO, load_yaml

COMPOSE_FILES = ("docker-compose.yml", "docker-compose.platform.yml")
#: Host ports the main project (hse-system-design) publishes.
PLATFORM_PORTS = {3000, 5432, 5439, 6100, 6200, 8080, 9090, *range(7000, 7201)}
DWH_IMAGE = re.compile(r"^dwh:\d")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """``(host path, container path)`` of every bind mount (named volumes left out)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = (
            (volume.split(":")[0], volume.split(":")[1])
            if isinstance(volume, str)
            else (volume.get("source", ""), volume.get("target", ""))
        )
        if source.startswith((".", "/")):
            mounts.append((REPO / source, target))
    return mounts


def _host_ports(service: dict[str, Any]) -> list[int]:
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append(int(port["published"]))
            continue
        parts = str(port).split(":")
        assert len(parts) >= 2, f"{port}: publish an explicit host port"
        ports.append(int(parts[-2]))
    return ports


def _setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"DWH_{name.upper()}")
        aliases = getattr(field.validation_alias, "choices", [])
        names.update(str(alias) for alias in aliases)
    return names


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_files_follow_the_compose_specification(name: str) -> None:
    schema = json.loads((REPO / "tests/deploy/compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(load_yaml(REPO / name))
    ]
    assert errors == []


def test_the_vendored_schema_is_the_recorded_one() -> None:
    import hashlib

    digest = hashlib.sha256((REPO / "tests/deploy/compose-spec.json").read_bytes()).hexdigest()
    assert digest in (REPO / "tests/deploy/compose-spec.NOTICE").read_text()


def test_the_schema_catches_mistakes() -> None:
    schema = json.loads((REPO / "tests/deploy/compose-spec.json").read_text())
    broken = {"services": {"a": {"image": "x:1", "depends_on": {"b": {"condition": "up"}}}}}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


def test_dwh_variables_are_real_settings(compose: dict[str, Any]) -> None:
    settings = _setting_names()
    for name, service in _services(compose).items():
        passed = {k for k in _environment(service) if k.startswith("DWH_")}
        if service.get("build") or DWH_IMAGE.match(service.get("image", "")):
            unknown = passed - settings
        else:
            # Another program's container (Grafana): its DWH_ variables must be read by a
            # file mounted into it, e.g. ${DWH_GRAFANA_DDS_HOST} in the provisioning.
            mounted = "".join(
                file.read_text(errors="replace")
                for path, _ in _bind_mounts(service)
                for file in ([path] if path.is_file() else sorted(path.rglob("*")))
                if file.is_file()
            )
            unknown = {variable for variable in passed if "${" + variable + "}" not in mounted}
        assert not unknown, f"{name}: {sorted(unknown)} are not dwh settings"


def test_the_dwh_services_cover_the_settings_they_need(compose: dict[str, Any]) -> None:
    worker = _environment(_services(compose)["prefect-worker"])
    for setting in ("DWH_SOURCE_DSN", "DWH_REPLICA_DSN", "DWH_ODS_DSN", "DWH_CLICKHOUSE_DSN"):
        # An empty DSN would start an embedded PostgreSQL or chDB inside the container.
        assert worker.get(setting), setting


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        image = service.get("image")
        assert image, f"{name}: name the image (and tag what `build` makes)"
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", name
        assert re.match(r"^v?\d+(\.\d+)+", tag), f"{name}: {image} is not pinned to a version"
        assert "$" not in image, name


def test_host_ports_are_unique_and_clear_of_the_platform(compose: dict[str, Any]) -> None:
    published = [(port, name) for name, s in _services(compose).items() for port in _host_ports(s)]
    ports = [port for port, _ in published]
    assert len(ports) == len(set(ports)), published
    clashes = [(port, name) for port, name in published if port in PLATFORM_PORTS]
    assert clashes == []
    assert {5433, 5434, 8123, 9000, 8124, 9001} <= set(ports)  # the seed's layer ports


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in _services(compose).items():
        for path, _ in _bind_mounts(service):
            assert path.exists(), f"{name}: {path.relative_to(REPO)} is missing"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"
        build = service.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file()


def test_dependencies_exist_and_are_healthy_or_done(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    # Everything that loads waits for the one-shot migration.
    for loader in ("prefect-worker", "consumer"):
        rule = services[loader]["depends_on"]["migrate"]
        assert rule["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["dwh", "migrate"]


def test_the_platform_override_joins_the_platform_network() -> None:
    override = load_yaml(REPO / "docker-compose.platform.yml")
    assert override["networks"]["platform"] == {
        "name": "hse-system-design_default",
        "external": True,
    }
    assert override["services"]["source"]["profiles"] == ["standalone"]
    base = load_yaml(REPO / "docker-compose.yml")
    assert set(override["services"]) <= set(base["services"])
    assert base["services"]["replica"]["depends_on"]["source"]["required"] is False


def test_no_password_is_written_down(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        for key, value in _environment(service).items():
            if _SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{name}: {key}"
            for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", password), f"{name}: {key}"
    for path in (REPO / "deploy").rglob("*"):
        text = path.read_text() if path.is_file() else ""
        assert not re.search(r"PASSWORD\s+'[^:]", text), path  # SQL takes :'variables'
        if path.suffix == ".xml":
            for element in ET.fromstring(text).iter():
                if "password" in element.tag or element.tag == "secret":
                    assert element.get("from_env"), f"{path}: <{element.tag}> from_env"
                    assert not (element.text or "").strip(), path
    example = (REPO / ".env.example").read_text()
    secrets = re.findall(r"^([A-Z_]*PASSWORD)=(.*)$", example, re.MULTILINE)
    assert secrets
    assert all(value.startswith("change-me-") for _, value in secrets)


def test_every_required_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert required <= example


def test_prometheus_config_parses_and_scrapes_the_prober_and_the_warehouse() -> None:
    path = REPO / "deploy/prometheus/prometheus.yml"
    config = load_yaml(path)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"prober", "pushgateway", "dwh-consumer", "clickhouse"} <= set(jobs)
    assert jobs["prober"]["static_configs"][0]["targets"] == ["prober.system-design.org:6200"]
    promtool = shutil.which("promtool")
    if promtool:  # Debian's prometheus package ships it (.ci/run installs it)
        result = subprocess.run(
            [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_parses_and_matches_its_mounts(compose: dict[str, Any]) -> None:
    grafana = _services(compose)["grafana"]
    mounts = {target: path for path, target in _bind_mounts(grafana)}
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = load_yaml(provisioning / "dashboards/dwh.yaml")["providers"]
    for provider in providers:
        dashboards = mounts[provider["options"]["path"]]
        files = sorted(dashboards.glob("*.json"))
        assert files
        for file in files:
            assert json.loads(file.read_text())["uid"]
    environment = _environment(grafana)
    datasources = (provisioning / "datasources/dwh.yaml").read_text()
    assert load_yaml(provisioning / "datasources/dwh.yaml")["datasources"]
    for variable in _VARIABLE.findall(datasources):
        assert variable in environment, f"Grafana needs {variable}"
    assert "grafana-clickhouse-datasource" in environment["GF_INSTALL_PLUGINS"]


def test_clickhouse_users_keep_plain_queries_exact_and_grafana_read_only() -> None:
    users = ET.parse(REPO / "deploy/clickhouse/users.d/dwh.xml").getroot()
    profiles = users.find("profiles")
    assert profiles is not None
    grafana = profiles.find("dwh_grafana")
    writer = profiles.find("dwh_writer")
    assert grafana is not None
    assert writer is not None
    assert grafana.findtext("final") == writer.findtext("final") == "1"
    assert grafana.findtext("readonly") == "1"
    for setting, value in CLUSTER_SESSION_SETTINGS.items():  # what cluster mode relies on
        assert writer.findtext(setting) == str(value), setting
    user = users.find("users/grafana")
    assert user is not None
    assert user.findtext("profile") == "dwh_grafana"
    grants = [query.text for query in user.iter("query")]
    assert grants
    assert all(re.fullmatch(r"GRANT SELECT ON (dds|marts)\.\*", g or "") for g in grants)
    for name in ("config.d/dwh.xml", "config.d/keeper.xml"):
        ET.parse(REPO / "deploy/clickhouse" / name)


def test_init_scripts_are_valid_shell() -> None:
    for script in sorted((REPO / "deploy").rglob("*.sh")):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_readme_full_stack_lists_every_service_port_and_login(compose: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Full stack" in readme
    section = readme.split("## Full stack", 1)[1].split("\n## ", 1)[0]
    for name, service in _services(compose).items():
        assert f"`{name}`" in section, f"README: service {name}"
        for port in _host_ports(service):
            assert str(port) in section, f"README: port {port} of {name}"
    for login in ("GRAFANA_ADMIN_PASSWORD", "CLICKHOUSE_DWH_PASSWORD", "ODS_WRITER_PASSWORD"):
        assert login in section
