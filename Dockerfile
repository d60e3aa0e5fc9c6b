# The hub as a container: the locked dependencies (requirements/hub.lock), then the hub,
# run as a non-root user, listening on 8080.
# Settings come from a YAML file mounted at /etc/hub/config.yaml (see docker-compose.yml and
# config/docker.yaml); secrets come from the environment variables that file names.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system hub \
    && useradd --system --gid hub --home-dir /var/lib/hub --create-home \
       --shell /usr/sbin/nologin hub

WORKDIR /src
# The locked versions first (a layer that changes only with requirements/hub.lock), then the
# hub itself without resolving again.
COPY requirements/hub.lock ./requirements/
RUN pip install -r requirements/hub.lock
COPY pyproject.toml README.md LICENSE ./
COPY config ./config
COPY connectors ./connectors
COPY hub ./hub
COPY routing ./routing
RUN pip install --no-deps . && rm -rf /src

# The working directory is where a SQLite setup (database.url: sqlite:///hub.db) keeps its file.
WORKDIR /var/lib/hub
USER hub

EXPOSE 8080

# --host/--port override http.host/http.port so the port matches EXPOSE whatever the file says.
# `hub run` migrates the database before it listens, and stops cleanly on SIGTERM.
ENTRYPOINT ["hub"]
CMD ["run", "--config", "/etc/hub/config.yaml", "--host", "0.0.0.0", "--port", "8080"]
