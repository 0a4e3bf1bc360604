# syntax=docker/dockerfile:1
# The dataprep_assets code location, and the image of every run container the DockerRunLauncher
# starts (DAGSTER_CURRENT_IMAGE). The webserver and the daemon use it too: one image, one set of
# pinned versions. Dependencies come from uv.lock (`--frozen`: the lock is never re-resolved here).
#
#   docker compose build                                        # what docker-compose.yml does
#   docker build --build-arg UV_EXTRAS="--extra torch" -t dataprep_assets:gpu .   # with PyTorch
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG UV_VERSION=0.13.9
# Optional extras from pyproject.toml, e.g. "--extra torch" for the ResNet-50 / CLIP extractors.
ARG UV_EXTRAS=""

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/dagster/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/dagster/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    DATAPREP_STORE_ROOT=/srv/dataprep/store

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster

WORKDIR /opt/dagster/app

# 1. Third-party dependencies only: this layer is rebuilt when uv.lock changes, not when code does.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project ${UV_EXTRAS}

# 2. The project itself, installed non-editable into the same environment.
COPY README.md ./
COPY dataprep_assets ./dataprep_assets
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable ${UV_EXTRAS}

# 3. The production instance config and the workspace the webserver and the daemon load.
COPY deploy/dagster.prod.yaml /opt/dagster/home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/app/workspace.yaml
RUN mkdir -p /srv/dataprep/store && chown -R dagster:dagster /opt/dagster/home /srv/dataprep

USER dagster
EXPOSE 4000
# The run launcher replaces this command with `dagster api execute_run ...` in run containers.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "dataprep_assets.definitions", "--location-name", "dataprep_assets"]
