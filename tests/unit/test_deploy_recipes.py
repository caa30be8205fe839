"""docker/: the monitored network recipes, checked without a container engine.

- docker/compose.yaml through docker-compose v1's own parser (`docker-compose config`, from PyPI,
  in .venv/compose-v1: `make install`), and every test below reads the configuration it prints
  (anchors merged, paths resolved), not our reading of the YAML;
- the init service's command run for real (docker/init-network.py: keys, genesis, allowlist,
  bootnodes) in a temp dir standing for the `network` volume;
- every jsc-node command line (the image's entrypoint `jsc-node` + command, with the service's
  JSC_* environment) through the real CLI and NodeConfig, then the checks `jsc-node run` makes
  before it binds a port (genesis, node key, nodes allowlist, bootnode multiaddrs);
- prometheus.yml's targets against the services and their --metrics-port; Grafana's provisioning
  against the mounts; every PromQL expression of the dashboard and the alert rules through a real
  PromQL parser (promql-parser). Which metrics a running node exports is checked against a real
  node's /metrics in tests/integration/test_metrics.py, with ``promql_metric_names`` from here;
- the Kubernetes manifests (docker/kubernetes/) with kubernetes-validate --strict, and their
  command lines as above.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from eth_account import Account
from typer.testing import CliRunner

from jsc_node import node as node_module
from jsc_node.cli import app
from jsc_node.config import NodeConfig
from jsc_node.genesis import load_genesis
from jsc_node.p2p.host import peer_id_of
from jsc_node.p2p.permissions import load_nodes_allowlist
from tests.unit.test_cli_run import FakeNode, install

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
COMPOSE_V1 = REPO / ".venv" / "compose-v1" / "bin" / "docker-compose"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "jsc-node.json"
PROMETHEUS_YML = DOCKER / "prometheus" / "prometheus.yml"
ALERTS_YML = DOCKER / "prometheus" / "alerts.yml"
IMAGE = "jsc-node:local"
IMAGE_ENTRYPOINT = ["jsc-node"]  # docker/Dockerfile's ENTRYPOINT
README = REPO / "README.md"


# --- PromQL (also used by tests/integration/test_metrics.py) -------------------------------------

# Grafana's interval macros are not PromQL: each becomes a duration before parsing.
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def dashboard_expressions() -> list[str]:
    """Every query of the committed Grafana dashboard, rows included."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS_YML.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from promql-parser's syntax tree (a syntax error
    raises). A selector without a metric name (``{__name__=~"..."}``) is refused: it could
    name anything."""
    for macro, duration in GRAFANA_MACROS.items():
        expr = expr.replace(macro, duration)
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    assert names, f"{expr!r} selects no metric"
    return names


# Prometheus's own series about each scrape (not exported by the node): `up` is 1 when the target
# answered. The alert on a node that is down needs it.
PROMETHEUS_SYNTHETIC = frozenset({"up"})


def test_promql_names_come_from_the_syntax_tree() -> None:
    assert promql_metric_names(
        "histogram_quantile(0.95, sum by (le, method) (rate(jsc_rpc_request_duration_seconds_bucket"
        '{node=~"rpc.*"}[$__rate_interval])))'
    ) == {"jsc_rpc_request_duration_seconds_bucket"}
    assert promql_metric_names(
        'scalar(max(jsc_chain_head_block)) - on() group_left jsc_p2p_peers{job="x"} offset 5m > bool 3'
    ) == {"jsc_chain_head_block", "jsc_p2p_peers"}
    with pytest.raises(ValueError, match=r"."):
        promql_metric_names("rate(jsc_chain_head_block[5m]")  # unbalanced
    with pytest.raises(AssertionError, match="without a metric name"):
        promql_metric_names('{__name__=~"jsc_.*"}')


def readme_metric_samples() -> set[str]:
    """The sample names the README's metric table promises (histograms with their three series)."""
    text = README.read_text()
    section = text[text.index("## Metrics") :]
    section = section[: section.index("\n## ", 1)]
    names: set[str] = set()
    for name, kind in re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \|", section, re.MULTILINE):
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        names |= {name + suffix for suffix in suffixes}
    return names


def test_dashboard_and_alerts_parse_and_name_documented_metrics() -> None:
    expressions = dashboard_expressions() + alert_expressions()
    assert len(expressions) >= 30
    used = set().union(*map(promql_metric_names, expressions))
    assert used - PROMETHEUS_SYNTHETIC <= readme_metric_samples(), used - readme_metric_samples()
    # The panels the issue asks for: height (head and finalized), finality time, round changes,
    # peers, tx/s, RPC latency per method, proposals made and missed per validator.
    panel_metrics = set().union(*map(promql_metric_names, dashboard_expressions()))
    assert {
        "jsc_chain_head_block",
        "jsc_chain_finalized_block",
        "jsc_tx_inclusion_seconds_bucket",
        "jsc_qbft_round_changes_total",
        "jsc_p2p_peers",
        "jsc_block_transactions_sum",
        "jsc_rpc_request_duration_seconds_bucket",
        "jsc_qbft_proposals_total",
        "jsc_qbft_proposals_missed_total",
    } <= panel_metrics
    exprs = dashboard_expressions()
    assert any("by (le, method)" in e and "jsc_rpc_request_duration_seconds_bucket" in e for e in exprs)
    for name in ("jsc_qbft_proposals_total", "jsc_qbft_proposals_missed_total"):
        assert any(f"by (validator) (increase({name}" in e for e in exprs), name


def test_alert_rules_and_scrape_config_keys() -> None:
    """No promtool here: the keys Prometheus reads, so a misspelt one (which Prometheus refuses at
    start) fails; the expressions themselves went through the PromQL parser above."""
    rules = yaml.safe_load(ALERTS_YML.read_text())
    [group] = rules["groups"]
    assert set(group) == {"name", "rules"}
    for rule in group["rules"]:
        assert (
            {"alert", "expr", "labels", "annotations"}
            <= set(rule)
            <= {"alert", "expr", "for", "labels", "annotations"}
        ), rule
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert set(rule["annotations"]) == {"summary"}
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule
    prometheus = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert set(prometheus) == {"global", "rule_files", "scrape_configs"}
    assert set(prometheus["global"]) == {"scrape_interval", "evaluation_interval"}
    for job in prometheus["scrape_configs"]:
        assert set(job) == {"job_name", "static_configs"}
        for group in job["static_configs"]:
            assert set(group) <= {"targets", "labels"}


def test_dashboard_panels_use_the_provisioned_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [source] = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # Grafana's 24-column grid: every panel inside it, none on top of another.
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        assert panel["type"] in {"row", "stat", "timeseries", "bargauge"}, panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


# --- docker/compose.yaml through docker-compose v1 -----------------------------------------------


def compose_config_of(path: Path) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_V1.exists(), f"{COMPOSE_V1} is missing: run `make install`"
    # No daemon is asked: `config` only parses, validates against the Compose schema and prints.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    return subprocess.run(
        [str(COMPOSE_V1), "--project-directory", str(path.parent), "-f", str(path), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    done = compose_config_of(COMPOSE_FILE)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_parser_refuses_a_bad_key(tmp_path: Path) -> None:
    """The parser is a real check: the same file with one misspelt service key is refused."""
    text = COMPOSE_FILE.read_text()
    assert "  stop_grace_period: 40s" in text
    bad = tmp_path / "compose.yaml"
    bad.write_text(text.replace("  stop_grace_period: 40s", "  stop_grace_periode: 40s", 1))
    done = compose_config_of(bad)
    assert done.returncode != 0
    assert "stop_grace_periode" in done.stderr


NODES = ["validator-0", "validator-1", "validator-2", "validator-3", "rpc-0"]


def test_compose_services_images_and_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"init", *NODES, "prometheus", "grafana", "dev"}
    assert services["dev"]["profiles"] == ["dev"]
    for name, service in services.items():
        image = service["image"]
        if image != IMAGE:
            repository, _, tag = image.partition(":")
            assert repository in {"prom/prometheus", "grafana/grafana"}, name
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin a release, not {image!r}"
        # Published only on the loopback interface.
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
        # Bind mounts name files of this repository.
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), f"{name} mounts {source}, which is not in the repository"
    for name in NODES:
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
        assert "network:/network:ro" in services[name]["volumes"], name
        assert f"{name}-data:/data:rw" in services[name]["volumes"], name
    published = [s for s in NODES if services[s].get("ports")]
    assert published == ["rpc-0"]
    assert set(services["rpc-0"]["ports"]) == {
        "127.0.0.1:8545:8545/tcp",
        "127.0.0.1:8546:8546/tcp",
        "127.0.0.1:8547:8547/tcp",  # the chain page
    }
    assert "network:/network:rw" in services["init"]["volumes"]


def _substitute(text: str, mounts: dict[str, Path]) -> str:
    for target, local in mounts.items():
        if text == target or text.startswith(target + "/"):
            return str(local) + text[len(target) :]
    return text


@dataclass(frozen=True)
class ParsedNode:
    name: str
    config: NodeConfig


@pytest.fixture(scope="module")
def network(compose: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The init service's command, run for real with the `network` volume as a temp dir."""
    init = compose["services"]["init"]
    assert init["entrypoint"] == ["python", "/opt/jsc-init/init-network.py"]
    assert "./init-network.py" not in init["volumes"]  # resolved to an absolute path by the parser
    [script_mount] = [v for v in init["volumes"] if v.endswith(":/opt/jsc-init/init-network.py:ro")]
    script = Path(script_mount.split(":")[0])
    assert script == DOCKER / "init-network.py"
    out = tmp_path_factory.mktemp("network")
    args = [_substitute(a, {"/network": out}) for a in init["command"]]
    run_init(script, args)
    return out


def run_init(script: Path, args: list[str]) -> str:
    # The image's PATH has jsc-node in it; here it is this venv's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def parse_node_command(
    monkeypatch: pytest.MonkeyPatch,
    entrypoint: list[str],
    command: list[str],
    environment: dict[str, str],
    mounts: dict[str, Path],
) -> NodeConfig:
    """A node's command line through the real CLI (typer's parser and NodeConfig with its
    JSC_* environment, which `jsc-node run` would then hand to the node): a misspelt flag, a bad
    value or an unknown JSC_* setting fails."""
    assert entrypoint == IMAGE_ENTRYPOINT
    for name in environment:
        assert name.startswith("JSC_"), name
        # pydantic-settings ignores JSC_* variables it does not know: a misspelt one must not pass.
        assert name.removeprefix("JSC_").lower() in NodeConfig.model_fields, f"unknown setting {name}"
    fake = FakeNode()
    with monkeypatch.context() as patch:
        install(patch, fake)
        for name, value in environment.items():
            patch.setenv(name, _substitute(str(value), mounts))
        result = CliRunner().invoke(app, [_substitute(a, mounts) for a in command])
    assert result.exit_code == 0, result.output
    [(what, config)] = fake.calls
    assert what == "run"
    return config


def check_node_starts(config: NodeConfig, validator: bool) -> None:
    """What `jsc-node run` checks before it binds a port (jsc_node/node.py run_node)."""
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from multiaddr import Multiaddr

    assert config.genesis_file is not None
    assert config.node_private_key_file is not None
    spec = load_genesis(config.genesis_file)
    key = node_module.load_node_key(config, spec)
    assert node_module.isolation_warning(config, spec, key) is None
    from eth_keys.datatypes import PrivateKey

    address = bytes(PrivateKey(key).public_key.to_canonical_address())
    assert (address in spec.validators) is validator
    admitted = load_nodes_allowlist(config.permissions_nodes_config_file)
    assert str(peer_id_of(key)) in admitted
    for bootnode in config.bootnodes:
        info_from_p2p_addr(Multiaddr(bootnode))


@pytest.fixture(scope="module")
def compose_nodes(
    compose: dict[str, Any], network: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParsedNode]:
    parsed: dict[str, ParsedNode] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [*NODES, "dev"]:
            service = compose["services"][name]
            data = tmp_path_factory.mktemp(name)
            config = parse_node_command(
                monkeypatch,
                service.get("entrypoint", IMAGE_ENTRYPOINT),
                service["command"],
                service.get("environment", {}),
                {"/network": network, "/data": data},
            )
            assert config.data_path == data
            parsed[name] = ParsedNode(name, config)
    return parsed


def test_init_makes_keys_genesis_allowlist_and_bootnodes(
    network: Path, compose: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_genesis(network / "genesis.json")
    assert len(spec.validators) == 4
    assert spec.jsc is not None  # the registry policy: every genesis validator attested
    peer_ids = {name: (network / name / "peer-id").read_text().strip() for name in NODES}
    assert set(load_nodes_allowlist(network / "permissions_config.toml")) == set(peer_ids.values())
    bootnodes = NodeConfig.model_validate(
        {"bootnodes": tomllib.loads((network / "bootnodes.toml").read_text())["bootnodes"]}
    ).bootnodes
    assert bootnodes == [f"/dns4/validator-{i}/tcp/30303/p2p/{peer_ids[f'validator-{i}']}" for i in range(4)]
    # A second run keeps every key and admits a node added to --nodes (how a node joins). The
    # script's main() in this process: the fixture ran it as the container does.
    keys = {name: (network / name / "key").read_bytes() for name in NODES}
    init = compose["services"]["init"]
    args = [_substitute(a, {"/network": network}) for a in init["command"]]
    args[args.index("--nodes") + 1] += ",validator-4"
    init_network = load_init_script()
    init_network.main(args)
    assert {name: (network / name / "key").read_bytes() for name in NODES} == keys
    assert load_genesis(network / "genesis.json").validators == spec.validators
    joined = (network / "validator-4" / "peer-id").read_text().strip()
    assert joined in load_nodes_allowlist(network / "permissions_config.toml")
    address = (network / "validator-4" / "address").read_text().strip()
    assert address == Account.from_key((network / "validator-4" / "key").read_text().strip()).address
    assert bytes.fromhex(address[2:]) not in spec.validators
    assert {(network / f"validator-{i}" / "address").read_text().strip().lower() for i in range(4)} == {
        "0x" + v.hex() for v in spec.validators
    }
    # Another network in the same directory is refused, not mixed in.
    args[args.index("--validators") + 1] = "5"
    with pytest.raises(SystemExit) as exit_status:
        init_network.main(args)
    assert exit_status.value.code == 1
    assert "holds a network of 4 genesis validators, not 5" in capsys.readouterr().err


def load_init_script() -> Any:
    spec = importlib.util.spec_from_file_location("init_network", DOCKER / "init-network.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_nodes_parse_and_would_start(compose_nodes: dict[str, ParsedNode], network: Path) -> None:
    for name in NODES:
        config = compose_nodes[name].config
        check_node_starts(config, validator=name.startswith("validator-"))
        assert config.node_private_key_file == network / name / "key"
        assert (config.metrics_enabled, config.metrics_host) == (True, "0.0.0.0")
        assert (config.p2p_host, config.p2p_port) == ("0.0.0.0", 30303)
        # Every node dials the validators by their compose service names.
        hosts = {b.split("/")[2] for b in config.bootnodes}
        assert hosts == {f"validator-{i}" for i in range(4)}
    for i in range(4):
        config = compose_nodes[f"validator-{i}"].config
        # JSON-RPC on the container's loopback only: the healthcheck's URL, nothing else.
        assert config.rpc_http_host == "127.0.0.1"
        assert {"QBFT", "ADMIN"} <= set(config.rpc_http_api)
    rpc = compose_nodes["rpc-0"].config
    assert (rpc.rpc_http_host, rpc.rpc_ws_host) == ("0.0.0.0", "0.0.0.0")
    assert "rpc-0" in rpc.host_allowlist
    assert "ADMIN" not in rpc.rpc_http_api
    dev = compose_nodes["dev"].config
    assert dev.genesis_file is None
    assert "dev" in dev.host_allowlist


def test_compose_healthchecks_probe_readiness(
    compose: dict[str, Any], compose_nodes: dict[str, ParsedNode]
) -> None:
    for name in NODES:
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"]
        [url] = re.findall(r"'(http://[^']+)'", test[3])
        config = compose_nodes[name].config
        assert url == f"http://127.0.0.1:{config.rpc_http_port}/readiness"
    for name in ("prometheus", "grafana"):
        assert compose["services"][name]["healthcheck"]["test"][:2] == ["CMD", "wget"]


def test_prometheus_scrapes_every_compose_node(
    compose: dict[str, Any], compose_nodes: dict[str, ParsedNode]
) -> None:
    prometheus = yaml.safe_load(PROMETHEUS_YML.read_text())
    [job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "jsc-node"]
    targets = {target: group["labels"] for group in job["static_configs"] for target in group["targets"]}
    expected = {f"{name}:{compose_nodes[name].config.metrics_port}": name for name in NODES}
    assert set(targets) == set(expected)
    for target, labels in targets.items():
        name = expected[target]
        assert labels == {"node": name, "role": "validator" if name.startswith("validator-") else "rpc"}
    # The rule file and the config are under the directory compose mounts into the container.
    mounts = dict(
        v.split(":")[1::-1] for v in compose["services"]["prometheus"]["volumes"] if v.startswith("/")
    )
    assert mounts["/etc/prometheus"] == str(PROMETHEUS_YML.parent)
    command = compose["services"]["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    [rules] = prometheus["rule_files"]
    assert Path(_substitute(rules, {"/etc/prometheus": PROMETHEUS_YML.parent})) == ALERTS_YML


def test_grafana_provisioning_matches_the_mounts(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: Path(v.split(":")[0]) for v in grafana["volumes"] if v.startswith("/")}
    assert mounts["/etc/grafana/provisioning"] == DOCKER / "grafana" / "provisioning"
    [provider] = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/jsc-node.yaml").read_text())[
        "providers"
    ]
    dashboards = Path(_substitute(provider["options"]["path"], mounts))
    assert dashboards == DASHBOARD.parent
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(_substitute(home, mounts)) == DASHBOARD
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


# --- docker/kubernetes/ --------------------------------------------------------------------------

KUBERNETES = DOCKER / "kubernetes"
# The oldest and the newest Kubernetes the manifests are checked against (kubernetes-validate's
# offline schemas, strict: an unknown field is an error).
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
IMAGE_USER = 10001  # docker/Dockerfile: USER 10001:10001


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def test_kubernetes_manifests_validate_strictly() -> None:
    import kubernetes_validate

    docs = manifests()
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("Namespace", "jsc"),
        ("NetworkPolicy", "jsc-node-validators"),
        ("PodDisruptionBudget", "jsc-node-validators"),
        ("Service", "jsc-node-p2p"),
        ("Service", "jsc-node-rpc"),
        ("StatefulSet", "rpc-0"),
        *[("StatefulSet", f"validator-{i}") for i in range(4)],
    ]
    for version in KUBERNETES_VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)
    # Strict is a real check: one misspelt field in a container is refused.
    bad = by_kind("StatefulSet")["validator-0"]
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[-1], strict=True)


def readme_sh_lines() -> list[list[str]]:
    """The commands of docker/kubernetes/README.md's first sh block, split as a shell would."""
    text = (KUBERNETES / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [words for line in block.splitlines() if (words := shlex.split(line, comments=True))]


@pytest.fixture(scope="module")
def kubernetes_files(network: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What the README's steps make, here: docker/init-network.py with its flags (in this
    process, on a copy of the compose network: same keys and genesis), the ConfigMap's files and
    each node's Secret, as directories a volume would mount. Name -> directory."""
    lines = readme_sh_lines()
    [init] = [words for words in lines if words[1:2] == ["docker/init-network.py"]]
    assert init[0] == ".venv/bin/python"
    net = tmp_path_factory.mktemp("k8s") / "net"
    shutil.copytree(network, net)
    args = init[2:]
    assert args[args.index("--out") + 1] == "net"
    args[args.index("--out") + 1] = str(net)
    load_init_script().main(args)
    files: dict[str, Path] = {}
    [configmap] = [w for w in lines if w[:5] == ["kubectl", "-n", "jsc", "create", "configmap"]]
    files[configmap[5]] = directory = net.parent / "configmap"
    directory.mkdir()
    for flag in configmap[6:]:
        source = Path(flag.removeprefix("--from-file="))
        assert source.parts[0] == "net"
        shutil.copy(net.joinpath(*source.parts[1:]), directory / source.name)
    [secrets] = [w for w in lines if w[:2] == ["for", "n"]]
    names = secrets[3 : secrets.index("do")]
    names[-1] = names[-1].removesuffix(";")
    assert secrets[secrets.index("do") + 1 :] == [
        "kubectl", "-n", "jsc", "create", "secret", "generic", "$n-key", "--from-file=key=net/$n/key;", "done"
    ]  # fmt: skip
    for name in names:
        files[f"{name}-key"] = directory = net.parent / f"{name}-key"
        directory.mkdir()
        shutil.copy(net / name / "key", directory / "key")
    return files


def test_kubernetes_nodes_parse_and_would_start(
    kubernetes_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statefulsets = by_kind("StatefulSet")
    [headless] = [s for s in by_kind("Service").values() if s["spec"].get("clusterIP") == "None"]
    assert headless["spec"]["publishNotReadyAddresses"] is True
    namespace = headless["metadata"]["namespace"]
    validators = sorted(n for n in statefulsets if n.startswith("validator-"))
    assert validators == [f"validator-{i}" for i in range(4)]
    for name, statefulset in statefulsets.items():
        spec = statefulset["spec"]
        assert spec["replicas"] == 1
        assert spec["serviceName"] == headless["metadata"]["name"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in headless["spec"]["selector"].items()), name
        assert labels["app.kubernetes.io/component"] == ("validator" if name in validators else "rpc")
        # Service links would put JSC_NODE_P2P_PORT=tcp://... into the node's JSC_* settings.
        assert pod["enableServiceLinks"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_USER
        [container] = pod["containers"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]
        assert "command" not in container  # the image's ENTRYPOINT, jsc-node
        # Each volume as the directory the kubelet would mount.
        volumes = {v["name"]: v for v in pod["volumes"]}
        [claim] = spec["volumeClaimTemplates"]
        mounts: dict[str, Path] = {}
        for mount in container["volumeMounts"]:
            volume = volumes.get(mount["name"])
            if mount["name"] == claim["metadata"]["name"]:
                mounts[mount["mountPath"]] = tmp_path / name / "data"
            elif volume is not None and "configMap" in volume:
                mounts[mount["mountPath"]] = kubernetes_files[volume["configMap"]["name"]]
            elif volume is not None and "secret" in volume:
                assert volume["secret"]["secretName"] == f"{name}-key"  # its own key, no other
                mounts[mount["mountPath"]] = kubernetes_files[volume["secret"]["secretName"]]
            else:
                assert volume is not None, mount
                assert "emptyDir" in volume, mount
        config = parse_node_command(monkeypatch, IMAGE_ENTRYPOINT, container["args"], {}, mounts)
        check_node_starts(config, validator=name in validators)
        assert config.data_path == tmp_path / name / "data"
        hosts = {b.split("/")[2] for b in config.bootnodes}
        assert hosts == {f"{v}-0.{spec['serviceName']}.{namespace}.svc.cluster.local" for v in validators}
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["rpc-http"] == config.rpc_http_port
        assert ports["p2p"] == config.p2p_port
        assert ports["metrics"] == config.metrics_port
        assert config.rpc_http_host == config.metrics_host == config.p2p_host == "0.0.0.0"
        assert config.metrics_enabled
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(config.metrics_port),
            "prometheus.io/path": "/metrics",
        }
        for probe, path in (
            ("startupProbe", "/liveness"),
            ("livenessProbe", "/liveness"),
            ("readinessProbe", "/readiness"),
        ):
            assert container[probe]["httpGet"] == {"path": path, "port": "rpc-http"}, (name, probe)
        if name in validators:
            assert {"QBFT", "ADMIN"} <= set(config.rpc_http_api)
        else:
            assert ports["rpc-ws"] == config.rpc_ws_port
            assert ports["ui"] == config.ui_port  # the chain page
            assert "ADMIN" not in config.rpc_http_api
            rpc_service = by_kind("Service")["jsc-node-rpc"]
            assert f"jsc-node-rpc.{namespace}.svc.cluster.local" in config.host_allowlist
            assert rpc_service["spec"]["selector"]["app.kubernetes.io/component"] == "rpc"
            assert {p["targetPort"] for p in rpc_service["spec"]["ports"]} == {"rpc-http", "rpc-ws", "ui"}


def test_kubernetes_validators_protected() -> None:
    [budget] = by_kind("PodDisruptionBudget").values()
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "validator"
    [policy] = by_kind("NetworkPolicy").values()
    assert policy["spec"]["podSelector"] == budget["spec"]["selector"]
    open_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert open_ports == {"p2p", "metrics"}  # not rpc-http: QBFT and ADMIN only by port-forward


def test_readme_kubernetes_steps_are_the_recipes() -> None:
    """README.md's "Kubernetes" commands are docker/kubernetes/README.md's, which the tests above
    run."""
    text = README.read_text()
    section = text[text.index("### Kubernetes\n") :]
    section = section[: section.index("\n## ")]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    steps = {" ".join(words) for words in readme_sh_lines()}
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    assert len(commands) == 6
    for words in commands:
        assert " ".join(words) in steps, words
