"""The kind cluster's security model is real: bound service-account tokens, RBAC, PodSecurity,
NodeRestriction.

Tests elsewhere prove toolpod's own permissions (the runner may write its own result and nothing
else); these prove the cluster gives such tests something to stand on.
"""

from __future__ import annotations

import copy
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ._cluster import Cluster

pytestmark = pytest.mark.cluster

KUBELET_PEM = "/var/lib/kubelet/pki/kubelet-client-current.pem"


def _client_with_token(cluster: Cluster, token: str) -> Any:
    from kubernetes import client

    base = cluster.api_client.configuration
    cfg = client.Configuration()
    cfg.host = base.host
    cfg.ssl_ca_cert = base.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(cfg)


def _status_of_list_pods(api: Any, namespace: str) -> int:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        client.CoreV1Api(api).list_namespaced_pod(namespace)
    except ApiException as e:
        return int(e.status)
    return 200


def test_bound_token_rbac_and_revocation(cluster: Cluster, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    rbac = client.RbacAuthorizationV1Api(cluster.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "probe"}})
    token = core.create_namespaced_service_account_token(
        "probe", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    api = _client_with_token(cluster, token)
    try:
        # Authenticated, but RBAC grants a fresh service account nothing.
        assert _status_of_list_pods(api, namespace) == 403

        rbac.create_namespaced_role(
            namespace,
            {
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "probe-reads-pods"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pod-reader",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": namespace}],
            },
        )
        deadline = time.monotonic() + 10
        while _status_of_list_pods(api, namespace) != 200:
            assert time.monotonic() < deadline, "the RoleBinding never took effect"
            time.sleep(0.2)
        # Still nothing outside the granted namespace and verbs.
        assert _status_of_list_pods(api, "kube-system") == 403

        # The token is bound to the service account: deleting the account revokes it.
        core.delete_namespaced_service_account("probe", namespace)
        deadline = time.monotonic() + 10
        while _status_of_list_pods(api, namespace) != 401:
            assert time.monotonic() < deadline, "a bound token outlived its service account"
            time.sleep(0.2)
    finally:
        api.close()


def _as_kubelet(cluster: Cluster, tmp_path: Path) -> Any:
    """A client holding kubelet's own client certificate, read from the node container."""
    from kubernetes import client

    pem = subprocess.run(
        ["docker", "exec", cluster.node_name, "cat", KUBELET_PEM], capture_output=True, check=True
    ).stdout
    (tmp_path / "kubelet.pem").write_bytes(pem)
    cfg = copy.copy(cluster.api_client.configuration)
    cfg.cert_file = cfg.key_file = str(tmp_path / "kubelet.pem")
    return client.ApiClient(cfg)


def test_node_restriction(cluster: Cluster, tmp_path: Path) -> None:
    """kubelet's identity may not modify other nodes (NodeRestriction + the Node authorizer)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = _as_kubelet(cluster, tmp_path)
    try:
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(api).create_node({"metadata": {"name": "someone-else"}})
        assert err.value.status == 403
        with pytest.raises(ApiException) as err:
            client.CoreV1Api(api).list_namespaced_secret("kube-system")
        assert err.value.status == 403
    finally:
        api.close()


IN_CLUSTER_PROBE = """
import sys
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

config.load_incluster_config()  # the `kubernetes` Service, through kube-proxy
core = client.CoreV1Api()
ns = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
core.create_namespaced_config_map(ns, {"metadata": {"name": "from-pod"}, "data": {"k": "v"}})
try:
    core.list_namespaced_secret(ns)
except ApiException as e:
    sys.exit(0 if e.status == 403 else 10)
sys.exit(11)  # listing secrets must be forbidden
"""


def test_in_cluster_client_through_the_kubernetes_service(cluster: Cluster, namespace: str) -> None:
    """A Pod's own service-account token reaches the API server through the `kubernetes`
    Service (pod network, kube-proxy), with TLS verified against the cluster CA, and RBAC limits
    it to what its Role grants."""
    from kubernetes import client

    from .jobs import runner_job, wait_job

    core = client.CoreV1Api(cluster.api_client)
    rbac = client.RbacAuthorizationV1Api(cluster.api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "writer"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "configmap-writer"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "writer"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "configmap-writer",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "writer", "namespace": namespace}],
        },
    )
    job = runner_job(
        "probe",
        cluster.runner_image,
        "unused",
        [],
        command=["/opt/toolpod/bin/python", "-c", IN_CLUSTER_PROBE],
    )
    job["spec"]["backoffLimit"] = 0
    pod_spec = job["spec"]["template"]["spec"]
    pod_spec["serviceAccountName"] = "writer"
    pod_spec["automountServiceAccountToken"] = True
    pod_spec["volumes"] = []  # no spec or credentials: the token is the only credential
    pod_spec["containers"][0]["volumeMounts"] = []
    client.BatchV1Api(cluster.api_client).create_namespaced_job(namespace, job)

    done = wait_job(client.BatchV1Api(cluster.api_client), namespace, "probe")
    pods = core.list_namespaced_pod(namespace, label_selector="job-name=probe").items
    logs = core.read_namespaced_pod_log(pods[0].metadata.name, namespace)
    assert done.status.succeeded == 1, logs
    assert core.read_namespaced_config_map("from-pod", namespace).data == {"k": "v"}
