# syntax=docker/dockerfile:1
# One image per service, built from the repository root (infra/README.md):
#   docker build --build-arg SERVICE=surveys -t rlc/surveys .
# It holds requirements-runtime.lock, the shared library, the typed clients of the services' APIs
# and that one service: no dev or build tools, no CLI, no test kit, no other service. tests/test_deployment_config.py checks this file.
ARG SERVICE

# The build backend (hatchling) and its dependencies, pinned and hashed in the dev lock. They build
# the two editable installs below through a read-only mount; no image layer ever holds them.
FROM python:3.11-slim AS build-tools
ARG BUILD_TOOLS="editables hatchling packaging pathspec pluggy tomlkit trove-classifiers"
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    awk -v tools="$BUILD_TOOLS" 'BEGIN { split(tools, t, " "); for (i in t) wanted[t[i]] = 1 }; /^ *#/ { next }; /^[^ ]/ { split($1, pin, "=="); keep = (pin[1] in wanted) }; keep' /tmp/requirements.lock > /tmp/build-tools.txt \
    && pip install --no-cache-dir --disable-pip-version-check --require-hashes \
        --target /opt/build-tools -r /tmp/build-tools.txt

# What every service runs on: the runtime lock, hash-checked, and the user it runs as.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN --mount=type=bind,source=requirements-runtime.lock,target=/tmp/requirements-runtime.lock \
    pip install --require-hashes -r /tmp/requirements-runtime.lock \
    && groupadd --system --gid 10001 rlc \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin rlc
COPY shared ./shared
COPY clients ./clients

# One stage per service: its settings' prefix and its port (a Dockerfile cannot upper-case a build
# argument, so the table spells them out). The last stage builds on the one SERVICE names.
FROM runtime AS recruitment
ENV RECRUITMENT_HOST=0.0.0.0 RECRUITMENT_PORT=8001 RECRUITMENT_ENVIRONMENT=production
EXPOSE 8001
CMD ["sh", "-c", "exec uvicorn --factory recruitment.main:create_app --host 0.0.0.0 --port ${RECRUITMENT_PORT} --proxy-headers --forwarded-allow-ips='*' --no-access-log"]

FROM runtime AS randomisation
ENV RANDOMISATION_HOST=0.0.0.0 RANDOMISATION_PORT=8002 RANDOMISATION_ENVIRONMENT=production
EXPOSE 8002
CMD ["sh", "-c", "exec uvicorn --factory randomisation.main:create_app --host 0.0.0.0 --port ${RANDOMISATION_PORT} --proxy-headers --forwarded-allow-ips='*' --no-access-log"]

FROM runtime AS surveys
ENV SURVEYS_HOST=0.0.0.0 SURVEYS_PORT=8003 SURVEYS_ENVIRONMENT=production
EXPOSE 8003
CMD ["sh", "-c", "exec uvicorn --factory surveys.main:create_app --host 0.0.0.0 --port ${SURVEYS_PORT} --proxy-headers --forwarded-allow-ips='*' --no-access-log"]

FROM runtime AS workshops
ENV WORKSHOPS_HOST=0.0.0.0 WORKSHOPS_PORT=8004 WORKSHOPS_ENVIRONMENT=production
EXPOSE 8004
CMD ["sh", "-c", "exec uvicorn --factory workshops.main:create_app --host 0.0.0.0 --port ${WORKSHOPS_PORT} --proxy-headers --forwarded-allow-ips='*' --no-access-log"]

# matplotlib's cache goes to /tmp (the only writable path under a read-only root filesystem).
FROM runtime AS analytics
ENV ANALYTICS_HOST=0.0.0.0 ANALYTICS_PORT=8005 ANALYTICS_ENVIRONMENT=production \
    MPLCONFIGDIR=/tmp/matplotlib
EXPOSE 8005
CMD ["sh", "-c", "exec uvicorn --factory analytics.main:create_app --host 0.0.0.0 --port ${ANALYTICS_PORT} --proxy-headers --forwarded-allow-ips='*' --no-access-log"]

# The service itself, editable so that its package stays next to alembic.ini and migrations/
# (main.py finds them from its own path). The migration job runs `alembic upgrade head` here.
FROM ${SERVICE} AS service
ARG SERVICE
COPY services/${SERVICE} ./services/${SERVICE}
RUN --mount=type=bind,from=build-tools,source=/opt/build-tools,target=/opt/build-tools \
    PYTHONPATH=/opt/build-tools pip install --no-deps --no-build-isolation \
        -e ./shared -e ./clients -e ./services/${SERVICE} \
    && python -m compileall -q ./shared ./clients ./services/${SERVICE}
USER 10001:10001
WORKDIR /app/services/${SERVICE}
