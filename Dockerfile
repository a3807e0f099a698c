# toolpod's images: `runner` (the one container of every invocation's Job) and `controller`
# (`toolpod serve`, the chart's Deployment). One recipe for users and for offline CI:
#
#   docker build --target runner     -t toolpod-runner:0.1.0 .
#   docker build --target controller -t toolpod-controller:0.1.0 .
#
# Build arguments (what offline CI swaps, nothing else):
#   PYTHON_BASE  the Python 3.11 base image. Default: the official slim Debian image, pinned.
#                CI passes a local image made from a Debian root filesystem (e2e/kind/README.md).
#   WHEELS       download (default): wheels come from the package index, checked against the
#                hashes in requirements/*.txt; context: from ./wheelhouse in the build context,
#                prepared on a host that can reach the index (scripts/wheelhouse), same hashes.
#   VERSION, REVISION, SOURCE  OCI labels.
# Needs BuildKit (the default builder of current Docker; DOCKER_BUILDKIT=1 on older engines):
# only the stages a target needs are built. No syntax directive, so no frontend image is pulled.
#
# The final images hold the base's Python and one virtualenv at /opt/toolpod with exactly the
# locked packages (the controller's extra ones beside it, in /opt/toolpod-extras): no compiler,
# no pip, no package index configuration. They run as uid 65532
# with a read-only root filesystem (bytecode is compiled at build time).

ARG PYTHON_BASE=python:3.11.14-slim-bookworm
ARG WHEELS=download

FROM ${PYTHON_BASE} AS wheels-download
COPY requirements/ /src/requirements/
RUN python3 -m pip download --no-cache-dir --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r /src/requirements/controller.txt -d /wheels \
 && python3 -m pip download --no-cache-dir --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r /src/requirements/build.txt -d /wheels

FROM ${PYTHON_BASE} AS wheels-context
COPY wheelhouse/ /wheels/

FROM wheels-${WHEELS} AS wheels

# toolpod's own wheel, built offline from the locked build backend.
FROM ${PYTHON_BASE} AS project
COPY --from=wheels /wheels /wheels
COPY requirements/ /src/requirements/
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install -q --disable-pip-version-check --no-index --find-links /wheels \
      --require-hashes -r /src/requirements/build.txt
COPY pyproject.toml README.md /src/
COPY runner/ /src/runner/
COPY controller/ /src/controller/
RUN /opt/build/bin/pip wheel -q --disable-pip-version-check --no-index --no-deps \
      --no-build-isolation -w /project /src

# The locked dependencies first (a layer that changes only with the lock), toolpod on top.
FROM ${PYTHON_BASE} AS deps
COPY --from=wheels /wheels /wheels
COPY requirements/ /src/requirements/
COPY scripts/image-venv /usr/local/bin/image-venv

FROM deps AS venv-runner
RUN image-venv deps runner
COPY --from=project /project /project
RUN image-venv project

# The controller is the runner plus the service's packages (requirements/controller.txt is a
# superset of runner.txt with the same pins): only those extra packages are a layer of its own,
# so the two images share everything else (pulled, stored and loaded into a cluster once).
FROM deps AS extras-controller
RUN image-venv extras runner controller

FROM ${PYTHON_BASE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="toolpod" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/toolpod/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The same numeric uid the Job's and the chart's securityContext name (no passwd entry needed).
USER 65532:65532

FROM runtime AS runner
LABEL org.opencontainers.image.description="toolpod runner: one bounded NATS / Pub/Sub / Kafka operation per Job"
COPY --from=venv-runner /opt/toolpod /opt/toolpod
# The Job runs `toolpod-runner run` (controller/settings.py runner_command).
ENTRYPOINT ["toolpod-runner"]

FROM runner AS controller
LABEL org.opencontainers.image.description="toolpod controller: the HTTP service (toolpod serve) that turns invocations into Jobs"
# /opt/toolpod-extras and, in the runner's virtualenv, the .pth file that puts it on sys.path.
COPY --from=extras-controller /opt/ /opt/
ENTRYPOINT ["toolpod"]
CMD ["serve"]
