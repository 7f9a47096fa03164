# Airflow 3 image with the project's locked dependencies (used by docker-compose.yml).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md /opt/leadscore/
COPY --chown=airflow:0 plugins /opt/leadscore/plugins
RUN pip install --no-cache-dir -r /opt/leadscore/requirements.txt \
    && pip install --no-cache-dir --no-deps -e /opt/leadscore
