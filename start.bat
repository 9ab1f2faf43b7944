@echo off
rem Start what the jobs run on: the Docker stack, or with --local the embedded PostgreSQL.
rem The cmd.exe twin of start.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
set "WORKERS=1"
set "LOCAL="
:parse
if "%~1"=="" goto parsed
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i "%~1"=="--local" (set "LOCAL=1" & shift & goto parse)
if /i "%~1"=="--workers" (
  if "%~2"=="" (echo error: --workers needs a number of workers. 1>&2 & exit /b 2)
  set "WORKERS=%~2"
  shift & shift & goto parse
)
echo error: unknown option '%~1'; see start.bat --help. 1>&2
exit /b 2
:parsed
if defined LOCAL goto local

call "%ROOT%\scripts\docker_env.bat" || exit /b 2
if not exist "%ROOT%\data\input" mkdir "%ROOT%\data\input"
if not exist "%ROOT%\data\report" mkdir "%ROOT%\data\report"
docker compose --project-directory "%ROOT%" -f "%ROOT%\docker-compose.yml" up --detach --build --wait --scale spark-worker=%WORKERS% || exit /b 1
echo The stack is up: Spark master UI http://127.0.0.1:8080 with %WORKERS% worker(s), PostgreSQL on 127.0.0.1 (POSTGRES_PORT of .env). Run a job: submit.bat all 1>&2
exit /b 0

:local
call "%ROOT%\scripts\bootstrap.bat" || exit /b 2
set "PGHOST="
call "%ROOT%\scripts\local_env.bat" || exit /b 2
echo PostgreSQL runs on 127.0.0.1:%ETL_LOCAL_PGPORT%. Query it with: 1>&2
echo   set PGPASSFILE=%LOCAL_PG_DIR%\pgpass ^&^& psql -h 127.0.0.1 -p %ETL_LOCAL_PGPORT% -U etl etl 1>&2
exit /b 0

:usage
echo Usage: start.bat [--workers N]   build and start the Docker stack (Spark master, N workers,
echo                                  PostgreSQL) and wait until every service is healthy
echo        start.bat --local         install what is missing and start the embedded PostgreSQL
echo.
echo The Docker stack reads .env (created from .env.example with a random password if missing).
echo UIs: Spark master http://127.0.0.1:8080, running job http://127.0.0.1:4040.
exit /b 0
