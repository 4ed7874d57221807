# sentiflow's image: one image for every role. The command picks it:
#   sentiflow api       (the default; embedded mode when no URL is set: SQLite under /data)
#   sentiflow worker    (distributed mode: needs SENTIFLOW_DATABASE_URL and SENTIFLOW_REDIS_URL)
#   sentiflow db upgrade
# It runs as uid 10001 (numeric, so Kubernetes' runAsNonRoot can check it); /data is its
# writable volume: the SQLite file, dataset snapshots and promoted models live there.
#
# BASE_IMAGE: any Debian-like image with Python 3.11+ and its venv module, e.g. one made by
# mmdebstrap where Docker Hub cannot be reached (docs/deploy.md).
# PIP_INSTALL_OPTIONS: extra pip options, e.g. "--no-index --find-links=/wheels" for an
# offline build with a wheel folder mounted there, or "--index-url https://mirror/simple".
ARG BASE_IMAGE=python:3.11-slim

# The dependencies, in layers of their own that a change of the code leaves cached.
FROM ${BASE_IMAGE} AS deps
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/sentiflow
COPY pyproject.toml /src/
# hadolint ignore=SC2086,DL3013
RUN python3 -c 'import tomllib; print(*tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > /src/requirements.txt \
    && /opt/sentiflow/bin/pip install ${PIP_INSTALL_OPTIONS} -r /src/requirements.txt

# sentiflow itself, as a wheel.
FROM deps AS build
ARG PIP_INSTALL_OPTIONS=""
COPY README.md /src/
COPY src /src/src
# hadolint ignore=SC2086
RUN /opt/sentiflow/bin/pip wheel ${PIP_INSTALL_OPTIONS} --no-deps --wheel-dir /wheel /src

FROM ${BASE_IMAGE}
ENV PATH=/opt/sentiflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SENTIFLOW_DATA_DIR=/data \
    SENTIFLOW_HOST=0.0.0.0 \
    SENTIFLOW_PORT=8000
RUN groupadd --system --gid 10001 sentiflow \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin sentiflow \
    && mkdir -p /data /run/sentiflow-metrics \
    && chown 10001:10001 /data /run/sentiflow-metrics
COPY --from=deps /opt/sentiflow /opt/sentiflow
COPY --from=build /wheel /tmp/wheel
RUN PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/sentiflow/bin/pip install --no-cache-dir --no-deps /tmp/wheel/*.whl \
    && rm -rf /tmp/wheel
USER 10001:10001
WORKDIR /data
# A named volume mounted here starts as a copy of this folder, owned by the user above.
VOLUME ["/data"]
EXPOSE 8000
# The API's /health (store and broker reachable); a worker container overrides it with
# `python -m sentiflow.healthcheck worker` (compose.yaml, the Kubernetes manifests).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/sentiflow/bin/python", "-m", "sentiflow.healthcheck", "api"]
CMD ["sentiflow", "api"]
