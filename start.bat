@echo off
rem Start the services the jobs use: start.bat --local   (see --help). The twin of start.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i not "%~1"=="--local" (
  echo error: the Docker stack is not part of this version yet; run start.bat --local 1>&2
  exit /b 2
)
call "%ROOT%\scripts\bootstrap.bat" || exit /b 2
set "PGHOST="
call "%ROOT%\scripts\local_env.bat" || exit /b 2
echo PostgreSQL runs on 127.0.0.1:%ETL_LOCAL_PGPORT%. Query it with: 1>&2
echo   set PGPASSFILE=%LOCAL_PG_DIR%\pgpass ^&^& psql -h 127.0.0.1 -p %ETL_LOCAL_PGPORT% -U etl etl 1>&2
exit /b 0

:usage
echo Usage: start.bat --local    install what is missing and start the embedded PostgreSQL
echo        start.bat            build and start the Docker stack (not available yet)
exit /b 0
