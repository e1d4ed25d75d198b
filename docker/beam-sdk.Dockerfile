# Worker image for distributed runners (docs/runners.md): Beam's SDK image of the same Beam and Python versions,
# with the project installed, so that workers run the same code as the driver.
#   docker build -f docker/beam-sdk.Dockerfile -t REGISTRY/corpus-etl-beam:0.1.0 .
FROM apache/beam_python3.11_sdk:2.77.0

ENV PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1
RUN pip install uv==0.13.8
WORKDIR /opt/corpus-etl
COPY requirements.lock pyproject.toml README.md ./
RUN uv pip install --system torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && grep -vE '^(nvidia-|cuda-|triton==)' requirements.lock > /tmp/requirements.cpu.lock \
 && uv pip install --system -r /tmp/requirements.cpu.lock
COPY etl ./etl
COPY transforms ./transforms
COPY expectations ./expectations
RUN uv pip install --system --no-deps -e .
# The SDK image's own entrypoint (/opt/apache/beam/boot) stays: it starts the SDK harness or a worker pool.
