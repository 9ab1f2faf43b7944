@echo off
rem Stop the Docker stack, or with --local the embedded PostgreSQL. The cmd.exe twin of stop.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
set "LOCAL="
set "PURGE="
:parse
if "%~1"=="" goto parsed
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i "%~1"=="--local" (set "LOCAL=1" & shift & goto parse)
if /i "%~1"=="--purge" (set "PURGE=1" & shift & goto parse)
echo error: unknown option '%~1'; see stop.bat --help. 1>&2
exit /b 2
:parsed
if defined LOCAL goto local

call "%ROOT%\scripts\docker_env.bat" check
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" require_env
if errorlevel 1 exit /b 2
if defined PURGE goto purge
%COMPOSE% down --remove-orphans
if errorlevel 1 exit /b 1
echo Docker stack stopped; the database volume is kept (--purge deletes it). 1>&2
exit /b 0
:purge
%COMPOSE% down --volumes --remove-orphans
if errorlevel 1 exit /b 1
echo Docker stack stopped; its volumes (the database) are deleted. 1>&2
exit /b 0

:local
if not exist "%ROOT%\.venv\Scripts\python.exe" (
  echo Nothing to stop: submit.bat --local has not run here. 1>&2
  exit /b 0
)
if not defined ETL_LOCAL_PGPORT set "ETL_LOCAL_PGPORT=54329"
"%ROOT%\.venv\Scripts\python.exe" -m spark_etl.local.postgres stop --dir "%ROOT%\.local\postgres" --port %ETL_LOCAL_PGPORT%
echo Embedded PostgreSQL stopped. 1>&2
exit /b 0

:usage
echo Usage: stop.bat [--purge]   stop the Docker stack; --purge also deletes its volumes (the database)
echo        stop.bat --local     stop the embedded PostgreSQL (its data stays in .local\postgres)
exit /b 0
