# syntax=docker/dockerfile:1
# The TuneForge HTTP server (`tuneforge serve`) as a container image.
#
# Two ways to give it a bundle (a folder written by `tuneforge train`):
#
#   1. Mounted (the default target, `runtime`): the image holds no model; mount the bundle
#      read-only at /models/bundle.
#        docker build -t tuneforge:0.1.0 .
#        docker run --rm -p 8000:8000 \
#          -v "$PWD/runs/demo/bundle:/models/bundle:ro" \
#          -v "$PWD/api-keys.txt:/run/secrets/tuneforge-api-keys:ro" tuneforge:0.1.0
#
#   2. Baked in (target `baked`): the bundle is copied into the image from the named build context
#      `bundle` (BuildKit, Docker 23+), which replaces the empty stage of that name below. A named
#      context rather than a path inside this folder, so that runs/ stays out of every build's
#      context (.dockerignore) and any folder on disk can be baked; without it the build stops.
#        docker build --target baked --build-context bundle=runs/demo/bundle -t tuneforge-demo:0.1.0 .
#
# The API keys (one per line, each at least 16 characters) are read from the file
# /run/secrets/tuneforge-api-keys: a compose secret or a Kubernetes Secret mounted there, or a bind
# mount as above (the file must be readable by uid 10001). Off loopback the server refuses to start
# without it. Arguments after the image name replace the default bundle path and add options:
#   docker run ... tuneforge:0.1.0 /models/bundle --max-batch-size 16 --workers 2
#
# Build arguments: PYTHON_VERSION (pyproject: >=3.10), EXTRAS (pip extras installed besides the core:
# serve is needed; add onnx for --backend onnx, vision for image bundles, e.g. EXTRAS=serve,onnx),
# TORCH_INDEX_URL (where the CPU build of torch 2.13.0 comes from).

ARG PYTHON_VERSION=3.11

# ---- builder: a virtualenv at /opt/venv with torch (CPU) and tuneforge[EXTRAS] ---------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# torch first and pinned as in pyproject.toml, from the CPU wheel index (PyPI's default wheel pulls CUDA).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
ARG EXTRAS=serve
RUN pip install ".[${EXTRAS}]" && pip check

# ---- bundle: empty; `--build-context bundle=DIR` replaces it with the folder DIR ------------------
FROM scratch AS bundle

# ---- base: the runtime image without a bundle ------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS base
RUN groupadd --system --gid 10001 tuneforge \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin tuneforge \
    && mkdir -p /models/bundle \
    && chown -R 10001:10001 /models
COPY --from=builder /opt/venv /opt/venv
# Every folder the server may write below /tmp, so the root filesystem can be read-only
# (Kubernetes readOnlyRootFilesystem, compose read_only) with a writable /tmp mounted over it.
# Bundles are self-contained: the server never needs a model hub (HF_HUB_OFFLINE).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TUNEFORGE_HOME=/tmp/tuneforge \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
# Liveness only (the process answers); readiness (/readyz, 503 while loading or draining) is for the
# load balancer: compose's healthcheck and Kubernetes' readinessProbe use it. The model loads before
# the server listens, hence the long start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4)"]
# SIGTERM drains requests in flight (--drain-timeout, 20 s): give the container longer than that to stop
# (docker stop -t 30, compose stop_grace_period, Kubernetes terminationGracePeriodSeconds).
ENTRYPOINT ["tuneforge", "serve", "--host", "0.0.0.0", "--port", "8000", \
            "--api-key-file", "/run/secrets/tuneforge-api-keys"]
CMD ["/models/bundle"]

# ---- baked: the bundle copied into the image (docker build --target baked --build-context bundle=DIR) --
FROM base AS baked
COPY --from=bundle --chown=10001:10001 . /models/bundle
RUN test -f /models/bundle/tuneforge.json \
    || { echo "no bundle: build with --build-context bundle=DIR (a folder written by tuneforge train)" >&2; exit 1; }

# ---- runtime (the default target, last): the bundle mounted at /models/bundle -----------------------
FROM base AS runtime
