# Certificates and kubeconfigs for the local cluster, made with openssl. Sourced by `up`.
# One CA signs everything; each component authenticates with its own client certificate, so RBAC
# and the Node authorizer see the identities a real cluster uses.
# shellcheck shell=bash

# issue NAME CN [O] [SANS]: a key and certificate signed by the CA ($ISSUER, default `ca`), valid
# for a year.
issue() {
  local ca="${ISSUER:-ca}"
  local name="$1" cn="$2" org="${3:-}" sans="${4:-}" subj="/CN=$2"
  [ -f "$PKI/$name.crt" ] && return 0
  [ -n "$org" ] && subj="/O=$org/CN=$cn"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# write_kubeconfig FILE CERTNAME: a kubeconfig for the loopback API server and one identity.
write_kubeconfig() {
  local file="$1" cert="$2"
  cat >"$file" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: toolpod-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: toolpod-local
  context: {cluster: toolpod-local, user: $cert}
current-context: toolpod-local
YAML
  chmod 600 "$file"
}

# make_ca NAME CN: a self-signed CA.
make_ca() {
  [ -f "$PKI/$1.crt" ] && return 0
  openssl genrsa -out "$PKI/$1.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$PKI/$1.crt" 2>/dev/null
}

make_pki() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  [ -f "$PKI/ca.crt" ] || log "creating the cluster's CA and certificates ($PKI)"
  make_ca ca toolpod-local-ca
  # The aggregation layer's own CA: the API server proxies to extension API servers with a
  # client certificate from it, and components trust request headers only from that client.
  make_ca front-proxy-ca toolpod-local-front-proxy-ca
  ISSUER=front-proxy-ca issue front-proxy-client front-proxy-client
  # Service-account tokens are signed with this key; the API server verifies with the public half.
  [ -f "$PKI/sa.key" ] || {
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  }
  local svc_ip="${SERVICE_CIDR%.*}.1"
  issue apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME"
  issue admin toolpod-admin system:masters
  issue apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  issue controller-manager system:kube-controller-manager
  issue scheduler system:kube-scheduler
  issue kubelet "system:node:$NODE_NAME" system:nodes
  write_kubeconfig "$KUBECONFIG_PATH" admin
  write_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$STATE/scheduler.kubeconfig" scheduler
  write_kubeconfig "$STATE/kubelet.kubeconfig" kubelet
}
