#!/usr/bin/env bash
# One-shot set-up before the Airflow components start: docker-compose.yml's airflow-init and
# `make serve` run this same script, with the components' environment. It prints no secret.
set -euo pipefail

airflow db migrate
airflow pools set duckdb_writer 1 "One writer at a time on the DuckDB warehouse"

# The API login. SimpleAuthManager reads the password of each user in
# AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS from a JSON file; a user missing from the file would get
# a generated password printed to the api-server's log. So the file is written here, from .env.
python - <<'PY'
import json
import os
import sys

path = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
users = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "")
if not (path and password and users):
    sys.exit(
        "airflow-init: set AIRFLOW_ADMIN_PASSWORD in .env, and "
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS and _PASSWORDS_FILE in the environment"
    )
names = [entry.split(":")[0].strip() for entry in users.split(",") if entry.strip()]
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
    json.dump({name: password for name in names}, fh)
# group-readable and -writable: in docker-compose.yml the api-server runs as AIRFLOW_UID, group 0,
# and opens the file for appending
os.chmod(path, 0o660)
print(f"airflow-init: API login for {', '.join(names)} written to {path}")
PY
