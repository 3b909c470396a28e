# The code location's image: the Dagster webserver, the daemon and every run task (ECS run launcher)
# run from it. Dependencies come from the committed lock, exact versions with sha256 hashes, as
# `make install` installs them; the project's own packages are imported from /opt/rtinfer (nothing is
# built or resolved at image build time).
FROM python:3.11.14-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    DAGSTER_HOME=/opt/dagster/home \
    RTINFER_ENV=aws \
    RTINFER_HOME=/tmp/rtinfer \
    PYTHONPATH=/opt/rtinfer

WORKDIR /opt/rtinfer

COPY requirements-bootstrap.txt requirements.lock ./
RUN python -m pip install --require-hashes -r requirements-bootstrap.txt \
    && uv pip sync --system --require-hashes --compile-bytecode requirements.lock

COPY workspace.yaml ./
COPY orchestration orchestration
COPY assets assets
COPY jobs jobs
COPY sensors sensors
COPY serving serving
RUN python -m compileall -q orchestration assets jobs sensors serving

COPY infra/dagster/dagster.yaml /opt/dagster/home/dagster.yaml

RUN useradd --system --uid 10001 --home-dir /opt/dagster --shell /usr/sbin/nologin rtinfer \
    && mkdir -p /tmp/rtinfer \
    && chown -R rtinfer /opt/dagster /tmp/rtinfer
USER 10001

EXPOSE 3000
# The webserver; the daemon's task runs `dagster-daemon run -w workspace.yaml`, run tasks get their
# command from the ECS run launcher. Inside the container the webserver listens on every interface:
# the task's network (and its security group) is what reaches it; locally `make dev` binds 127.0.0.1.
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
