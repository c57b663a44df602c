# syntax=docker/dockerfile:1
# One image for both services:
#   API      python -m services.api      (default command, port 5000)
#   gateway  python -m services.gateway  (port 5001)

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: compilers live here only ---------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from the pins in pyproject.toml, so source edits reuse this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt

# --- runtime: the venv and the source, nothing else --------------------------
FROM ${PYTHON_IMAGE} AS runtime
# Numeric ids, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 10001 /var/lib/drones
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=5000 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=5001 \
    VAR_DIR=/var/lib/drones
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY shared ./shared
COPY services ./services
COPY deploy/docker/healthcheck.py /usr/local/bin/healthcheck
# Bytecode is compiled now because the root filesystem is read-only at run time.
RUN python -m compileall -q /app && chmod 0755 /usr/local/bin/healthcheck

USER 10001:10001
EXPOSE 5000 5001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck"]
CMD ["python", "-m", "services.api"]
