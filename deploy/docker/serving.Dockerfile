# syntax=docker/dockerfile:1.7
# The serving image: the `serving` extra only (no Dagster, no MLflow), non-root, read-only root
# filesystem friendly. Build from the repository root:
#   docker build -f deploy/docker/serving.Dockerfile -t attrition-serving:$(git rev-parse --short HEAD) .
# What it installs is installed the same way by attrition_platform_tests/deploy/test_serving_install.py
# (a fresh virtualenv, the lock without resolving, the project without dependencies), which starts the
# service from it and gets a prediction: the test proves the content this file cannot prove here.
#
# Base image: a full version tag; release CI pins it by digest as well
# (PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...; `docker buildx imagetools inspect` prints it).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements-serving.lock pyproject.toml README.md ./
# Dependencies first: this layer is rebuilt only when the lock changes, not on every code change.
RUN python -m venv /opt/attrition \
 && /opt/attrition/bin/pip install --no-deps -r requirements-serving.lock
COPY attrition_platform ./attrition_platform
COPY serving ./serving
# Bytecode compiled at build time: the root filesystem is read-only at run time, and compiling
# on every cold start would cost seconds (docs/operations.md, cold start).
RUN /opt/attrition/bin/pip install --no-deps . \
 && /opt/attrition/bin/python -m compileall -q /opt/attrition/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 attrition \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin attrition
COPY --from=build /opt/attrition /opt/attrition
ENV PATH=/opt/attrition/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    ATTRITION_ENV=prod \
    ATTRITION_SERVING_HOST=0.0.0.0 \
    ATTRITION_SERVING_PORT=8000 \
    ATTRITION_HOME=/tmp/attrition
# /tmp is the one writable path (an emptyDir in the chart): verified bundle copies, audit spool.
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "serving"]
