# syntax=docker/dockerfile:1.7
# The Dagster user-code image: the code location `attrition_platform.definitions` served over gRPC
# to the webserver and daemon of the official Dagster Helm chart (deploy/dagster/values.yaml), and
# the image every run pod starts from (K8sRunLauncher). The `platform` extra: Dagster, MLflow,
# deltalake, dagster-postgres, dagster-k8s, dagster-aws. Build from the repository root:
#   docker build -f deploy/docker/dagster.Dockerfile -t attrition-dagster:$(git rev-parse --short HEAD) .
# Base image: a full version tag; release CI pins it by digest as well (see serving.Dockerfile).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements-dagster.lock pyproject.toml README.md ./
RUN python -m venv /opt/attrition \
 && /opt/attrition/bin/pip install --no-deps -r requirements-dagster.lock
COPY attrition_platform ./attrition_platform
COPY serving ./serving
RUN /opt/attrition/bin/pip install --no-deps . \
 && /opt/attrition/bin/python -m compileall -q /opt/attrition/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 attrition \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin attrition \
 && mkdir -p /opt/dagster/dagster_home && chown 10001:10001 /opt/dagster/dagster_home
COPY --from=build /opt/attrition /opt/attrition
ENV PATH=/opt/attrition/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ATTRITION_ENV=prod \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    HOME=/tmp
USER 10001:10001
EXPOSE 3030
# The chart passes its own arguments (dagsterApiGrpcArgs); this default serves the same location.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "attrition_platform.definitions"]
