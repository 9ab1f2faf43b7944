@echo off
rem Called after bootstrap.bat: points the PG* variables at the embedded PostgreSQL (started if
rem needed; PG_BIN_DIR names the folder of initdb.exe and pg_ctl.exe when they are not on PATH),
rem unless PGHOST already names another server.
if not defined ETL_LOCAL_PGPORT set "ETL_LOCAL_PGPORT=54329"
set "LOCAL_PG_DIR=%ROOT%\.local\postgres"
if defined PGHOST (
  echo Using PostgreSQL at %PGHOST% ^(from PGHOST^). 1>&2
  exit /b 0
)
python -m spark_etl.local.postgres start --dir "%LOCAL_PG_DIR%" --port %ETL_LOCAL_PGPORT% || exit /b 2
set "PGHOST=127.0.0.1"
set "PGPORT=%ETL_LOCAL_PGPORT%"
set "PGUSER=etl"
set "PGDATABASE=etl"
set "PGPASSFILE=%LOCAL_PG_DIR%\pgpass"
set "EMBEDDED_POSTGRES=1"
exit /b 0
