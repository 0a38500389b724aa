# The dwh image: the CLI, the Prefect flows (and the Prefect server of the same release), the
# schema files. The package is installed editable because it finds migrations/, schemas/ and
# flows/ beside src/, as in the repository.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WAREHOUSE_DIR=/app \
    DWH_HOME=/var/lib/dwh \
    PREFECT_HOME=/var/lib/prefect

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md prefect.yaml ./
COPY src ./src
COPY flows ./flows
COPY migrations ./migrations
COPY schemas ./schemas
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/dwh --create-home dwh \
    && install -d -o dwh -g dwh /var/lib/prefect

USER dwh
CMD ["dwh", "--help"]
