# The corpus-etl service image: Airflow 3 and the pipeline from the same lock file as `make install`.
# Used by docker-compose.yml for the api-server, scheduler, dag-processor and the one-off init services.
FROM python:3.11.7-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    AIRFLOW_HOME=/opt/airflow

RUN pip install uv==0.13.8

WORKDIR /opt/corpus-etl
COPY requirements.lock pyproject.toml README.md ./
# torch first from the CPU index (the lock pins torch==2.13.0; +cpu satisfies it), then the lock without the
# packages only torch's CUDA build needs (as the Makefile does beside a local CPU wheel), so no CUDA wheels come in.
# psycopg2 is the driver of Airflow's Postgres metadata database (not needed for local runs, so not locked).
RUN uv pip install --system torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && grep -vE '^(nvidia-|cuda-|triton==)' requirements.lock > /tmp/requirements.cpu.lock \
 && uv pip install --system -r /tmp/requirements.cpu.lock psycopg2-binary==2.9.10

COPY etl ./etl
COPY transforms ./transforms
COPY expectations ./expectations
RUN uv pip install --system --no-deps -e .

RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
 && mkdir -p /opt/airflow/dags /opt/airflow/logs \
 && chown -R 50000:0 /opt/airflow
USER 50000
WORKDIR /opt/airflow
ENTRYPOINT ["airflow"]
CMD ["version"]
