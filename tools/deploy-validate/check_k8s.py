"""Check deploy/k8s: the kustomization lists exactly the manifests of the
folder; every built-in kind validates (strictly, unknown fields refused)
against the Kubernetes schemas of the target version; the CloudNativePG
`Cluster` is checked against the fields of its v1 API that this project
uses (its CRD schema is not available offline, see CNPG_* below); and the
manifests agree with each other (names, selectors, ports, secret keys).

Usage: python check_k8s.py DIR KUBERNETES_VERSION
"""

import sys
from pathlib import Path

import kubernetes_validate
import yaml

# The fields of the kustomize v1beta1 Kustomization this folder may use.
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}

# CloudNativePG `Cluster` (postgresql.cnpg.io/v1): the ClusterSpec fields of
# its API reference that a manifest here may set, with their JSON types.
# kubernetes-validate carries only the built-in kinds, so this is what is
# checked for the one custom resource: known fields only, of the right type,
# and the values the Deployment relies on.
CNPG_SPEC_FIELDS = {
    "instances": int,
    "imageName": str,
    "primaryUpdateStrategy": str,
    "primaryUpdateMethod": str,
    "bootstrap": dict,
    "postgresql": dict,
    "storage": dict,
    "walStorage": dict,
    "resources": dict,
    "affinity": dict,
    "monitoring": dict,
    "backup": dict,
    "description": str,
    "enableSuperuserAccess": bool,
    "minSyncReplicas": int,
    "maxSyncReplicas": int,
}
CNPG_INITDB_FIELDS = {"database": str, "owner": str, "secret": dict, "encoding": str, "localeCollate": str, "localeCType": str, "dataChecksums": bool}
CNPG_STORAGE_FIELDS = {"size": str, "storageClass": str, "resizeInUseVolumes": bool}
CNPG_AFFINITY_FIELDS = {"topologyKey": str, "enablePodAntiAffinity": bool, "podAntiAffinityType": str, "nodeSelector": dict, "tolerations": list}
CNPG_POSTGRESQL_FIELDS = {"parameters": dict, "pg_hba": list, "shared_preload_libraries": list}
CNPG_UPDATE_STRATEGIES = {"unsupervised", "supervised"}


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def typed_fields(problems, where, value, fields):
    if not isinstance(value, dict):
        problems.add(where, "must be a mapping")
        return
    for key, item in value.items():
        expected = fields.get(key)
        if expected is None:
            problems.add(where, f"unknown field '{key}'")
        elif not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
            problems.add(f"{where}.{key}", f"must be a {expected.__name__}")


def check_cnpg_cluster(problems, where, doc):
    if set(doc) - {"apiVersion", "kind", "metadata", "spec"}:
        problems.add(where, f"unknown top-level fields {sorted(set(doc) - {'apiVersion', 'kind', 'metadata', 'spec'})}")
    spec = doc.get("spec") or {}
    typed_fields(problems, f"{where} spec", spec, CNPG_SPEC_FIELDS)
    if spec.get("instances") != 3:
        problems.add(where, "spec.instances must be 3 (one primary, two replicas)")
    typed_fields(problems, f"{where} spec.storage", spec.get("storage", {}), CNPG_STORAGE_FIELDS)
    if not spec.get("storage", {}).get("size"):
        problems.add(where, "spec.storage.size is required")
    bootstrap = spec.get("bootstrap", {})
    typed_fields(problems, f"{where} spec.bootstrap", bootstrap, {"initdb": dict})
    initdb = bootstrap.get("initdb", {})
    typed_fields(problems, f"{where} spec.bootstrap.initdb", initdb, CNPG_INITDB_FIELDS)
    if not initdb.get("database") or not initdb.get("owner"):
        problems.add(where, "spec.bootstrap.initdb needs database and owner (they make the <name>-app secret)")
    if "affinity" in spec:
        typed_fields(problems, f"{where} spec.affinity", spec["affinity"], CNPG_AFFINITY_FIELDS)
    if "postgresql" in spec:
        typed_fields(problems, f"{where} spec.postgresql", spec["postgresql"], CNPG_POSTGRESQL_FIELDS)
        for key, value in spec["postgresql"].get("parameters", {}).items():
            if not isinstance(value, str):
                problems.add(f"{where} spec.postgresql.parameters.{key}", "must be a string")
    if spec.get("primaryUpdateStrategy", "unsupervised") not in CNPG_UPDATE_STRATEGIES:
        problems.add(where, f"spec.primaryUpdateStrategy must be one of {sorted(CNPG_UPDATE_STRATEGIES)}")
    for part in ("requests", "limits"):
        for key, value in (spec.get("resources") or {}).get(part, {}).items():
            if key not in ("cpu", "memory") or not isinstance(value, str):
                problems.add(f"{where} spec.resources.{part}.{key}", "must be cpu or memory, as a quantity string")


def load(problems, path):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        problems.add(str(path), str(e))
        return []


def main(folder, version):
    problems = Problems()
    folder = Path(folder)
    kustomization = load(problems, folder / "kustomization.yaml")
    if len(kustomization) != 1:
        problems.add("kustomization.yaml", "must hold one document")
        return report(problems)
    k = kustomization[0]
    if k.get("kind") != "Kustomization" or k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1":
        problems.add("kustomization.yaml", "must be a kustomize.config.k8s.io/v1beta1 Kustomization")
    for key in set(k) - KUSTOMIZATION_FIELDS:
        problems.add("kustomization.yaml", f"unexpected field '{key}'")
    listed = k.get("resources") or []
    on_disk = sorted(p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
    for name in sorted(set(on_disk) - set(listed)):
        problems.add("kustomization.yaml", f"does not list {name}")
    for name in listed:
        if name not in on_disk:
            problems.add("kustomization.yaml", f"lists {name}, which is not in {folder}")
    if len(set(listed)) != len(listed):
        problems.add("kustomization.yaml", "lists a file twice")

    objects = {}
    for name in listed:
        for doc in load(problems, folder / name):
            where = f"{name} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            ns = (doc.get("metadata") or {}).get("namespace")
            if doc.get("kind") != "Namespace" and ns not in (None, k.get("namespace")):
                problems.add(where, f"namespace {ns} is not the kustomization's {k.get('namespace')}")
            objects.setdefault(doc.get("kind"), {})[(doc.get("metadata") or {}).get("name")] = doc
            if doc.get("apiVersion") == "postgresql.cnpg.io/v1" and doc.get("kind") == "Cluster":
                check_cnpg_cluster(problems, where, doc)
                print(f"ok   {where} (CloudNativePG fields)")
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                print(f"ok   {where} (Kubernetes {version} schema, strict)")
            except kubernetes_validate.SchemaNotFoundError:
                problems.add(where, f"no Kubernetes {version} schema for {doc.get('apiVersion')} {doc.get('kind')}")
            except kubernetes_validate.ValidationError as e:
                problems.add(where, f"{'.'.join(str(p) for p in e.path)}: {e.message}")
    cross_check(problems, objects)
    return report(problems)


def cross_check(problems, objects):
    """The manifests name each other correctly."""
    for kind in ("Namespace", "Deployment", "Service", "Ingress", "ConfigMap", "Secret", "PodDisruptionBudget", "Cluster"):
        if not objects.get(kind):
            problems.add("kustomization", f"no {kind}")
    deployments = objects.get("Deployment", {})
    clusters = objects.get("Cluster", {})
    secrets = {name: set((d.get("stringData") or {}) | (d.get("data") or {})) for name, d in objects.get("Secret", {}).items()}
    for name in clusters:
        secrets[f"{name}-app"] = {"uri", "username", "password", "host", "port", "dbname", "jdbc-uri", "pgpass"}
    for dname, d in deployments.items():
        if d["spec"].get("replicas") != 3:
            problems.add(f"Deployment/{dname}", "must run 3 replicas")
        template = d["spec"]["template"]
        labels = template["metadata"].get("labels", {})
        if any(labels.get(k) != v for k, v in d["spec"]["selector"]["matchLabels"].items()):
            problems.add(f"Deployment/{dname}", "selector does not match the pod labels")
        pod = template["spec"]
        if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
            problems.add(f"Deployment/{dname}", "pod must run as non-root")
        mounts_needed = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod["containers"]:
            where = f"Deployment/{dname} container {c['name']}"
            sc = c.get("securityContext") or {}
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                problems.add(where, "needs a read-only root filesystem and no privilege escalation")
            res = c.get("resources") or {}
            if not res.get("requests") or not res.get("limits"):
                problems.add(where, "needs resource requests and limits")
            for probe, path in (("startupProbe", None), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = (c.get(probe) or {}).get("httpGet")
                if not get:
                    problems.add(where, f"needs an HTTP {probe}")
                    continue
                if path and get.get("path") != path:
                    problems.add(where, f"{probe} must GET {path}")
                ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
                if get.get("port") not in ports:
                    problems.add(where, f"{probe} port {get.get('port')} is not a container port")
            mounts_needed -= {m["name"] for m in c.get("volumeMounts", [])}
            for ref in c.get("envFrom", []):
                cm = (ref.get("configMapRef") or {}).get("name")
                if cm and cm not in objects.get("ConfigMap", {}):
                    problems.add(where, f"envFrom names ConfigMap {cm}, which is not here")
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional") and ref.get("key") not in secrets.get(ref.get("name"), set()):
                    problems.add(where, f"env {env['name']} reads {ref.get('name')}/{ref.get('key')}, which no Secret here or CloudNativePG cluster provides")
        for v in mounts_needed:
            problems.add(f"Deployment/{dname}", f"volume {v} is mounted nowhere")
    pod_labels = [d["spec"]["template"]["metadata"].get("labels", {}) for d in deployments.values()]

    def selects(selector):
        return any(selector and all(l.get(k) == v for k, v in selector.items()) for l in pod_labels)

    port_names = {p.get("name") for d in deployments.values() for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for name, s in objects.get("Service", {}).items():
        if not selects(s["spec"].get("selector")):
            problems.add(f"Service/{name}", "selects no Deployment's pods")
        for p in s["spec"].get("ports", []):
            if p.get("targetPort") not in port_names:
                problems.add(f"Service/{name}", f"targetPort {p.get('targetPort')} is not a named container port")
    for name, pdb in objects.get("PodDisruptionBudget", {}).items():
        if not selects(pdb["spec"]["selector"].get("matchLabels")):
            problems.add(f"PodDisruptionBudget/{name}", "selects no Deployment's pods")
    for name, ing in objects.get("Ingress", {}).items():
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                svc = path["backend"]["service"]
                s = objects.get("Service", {}).get(svc["name"])
                if s is None:
                    problems.add(f"Ingress/{name}", f"backend Service {svc['name']} is not here")
                elif svc["port"].get("name") not in {p.get("name") for p in s["spec"]["ports"]}:
                    problems.add(f"Ingress/{name}", f"Service {svc['name']} has no port {svc['port']}")


def report(problems):
    for item in problems.items:
        print(f"FAIL {item}")
    return 1 if problems.items else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
