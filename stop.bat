@echo off
rem Stop what start.bat or submit.bat started: stop.bat --local   (see --help). Twin of stop.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i not "%~1"=="--local" (
  echo error: the Docker stack is not part of this version yet; run stop.bat --local 1>&2
  exit /b 2
)
if not exist "%ROOT%\.venv\Scripts\python.exe" (
  echo Nothing to stop: submit.bat --local has not run here. 1>&2
  exit /b 0
)
if not defined ETL_LOCAL_PGPORT set "ETL_LOCAL_PGPORT=54329"
"%ROOT%\.venv\Scripts\python.exe" -m spark_etl.local_postgres stop --dir "%ROOT%\.local\postgres" --port %ETL_LOCAL_PGPORT%
echo Embedded PostgreSQL stopped. 1>&2
exit /b 0

:usage
echo Usage: stop.bat --local     stop the embedded PostgreSQL (its data stays in .local\postgres)
echo        stop.bat             stop the Docker stack (not available yet)
exit /b 0
