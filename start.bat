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
  set "WORKERS=%~2"
  shift & shift & goto check_workers
)
echo error: unknown option '%~1'; see start.bat --help. 1>&2
exit /b 2
:check_workers
if "%WORKERS%"=="" goto bad_workers
set "N="
set /a "N=%WORKERS%" >nul 2>nul
if not "%N%"=="%WORKERS%" goto bad_workers
if %N% LSS 1 goto bad_workers
goto parse
:bad_workers
echo error: --workers needs a number of workers (1 or more). 1>&2
exit /b 2
:parsed
if defined LOCAL goto local

call "%ROOT%\scripts\docker_env.bat" check
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" ensure_env
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" free_ports
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" memory
if errorlevel 1 exit /b 2
if defined PIP_CERT if not exist "%PIP_CERT%" (echo error: PIP_CERT names %PIP_CERT%, which is not a readable file. 1>&2 & exit /b 2)
rem The mounted folders are created here, so that they exist before Docker mounts them.
call :folder "%ETL_INPUT_DIR%" data\input
if errorlevel 1 exit /b 2
call :folder "%ETL_REPORT_DIR%" data\report
if errorlevel 1 exit /b 2
call :folder "%ETL_ARCHIVE_DIR%" data\archive
if errorlevel 1 exit /b 2
call :folder "%ETL_LAKE_DIR%" data\lake
if errorlevel 1 exit /b 2
call :folder "%ETL_LOG_DIR%" data\logs
if errorlevel 1 exit /b 2
if not exist "%FOLDER%\spark-events\" mkdir "%FOLDER%\spark-events"
%COMPOSE% up --detach --build --wait --scale spark-worker=%WORKERS%
if errorlevel 1 (echo error: the stack did not start; see: docker compose -p spark-etl logs 1>&2 & exit /b 2)
call "%ROOT%\scripts\docker_env.bat" login
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" workers %WORKERS%
if errorlevel 1 exit /b 2
if not defined SPARK_MASTER_UI_PORT set "SPARK_MASTER_UI_PORT=8080"
if not defined SPARK_HISTORY_PORT set "SPARK_HISTORY_PORT=18080"
if not defined POSTGRES_PORT set "POSTGRES_PORT=55432"
echo The stack is up: Spark master http://127.0.0.1:%SPARK_MASTER_UI_PORT% with %WORKERS% worker(s), history http://127.0.0.1:%SPARK_HISTORY_PORT%, PostgreSQL on 127.0.0.1:%POSTGRES_PORT% (credentials in .env). Run a job: submit.bat all 1>&2
exit /b 0

rem :folder SETTING DEFAULT sets FOLDER to the setting's folder (relative to the project) and
rem creates it.
:folder
set "FOLDER=%~1"
if "%FOLDER%"=="" set "FOLDER=%~2"
set "FOLDER=%FOLDER:/=\%"
if "%FOLDER:~0,2%"==".\" set "FOLDER=%FOLDER:~2%"
if not "%FOLDER:~1,1%"==":" set "FOLDER=%ROOT%\%FOLDER%"
if not exist "%FOLDER%\" mkdir "%FOLDER%" 2>nul
if exist "%FOLDER%\" exit /b 0
echo error: cannot create %FOLDER%. 1>&2
exit /b 2
exit /b 0

:local
call "%ROOT%\scripts\bootstrap.bat"
if errorlevel 1 exit /b 2
set "PGHOST="
call "%ROOT%\scripts\local_env.bat"
if errorlevel 1 exit /b 2
echo PostgreSQL runs on 127.0.0.1:%ETL_LOCAL_PGPORT%. Query it with: 1>&2
echo   set PGPASSFILE=%LOCAL_PG_DIR%\pgpass ^&^& psql -h 127.0.0.1 -p %ETL_LOCAL_PGPORT% -U etl etl 1>&2
exit /b 0

:usage
echo Usage: start.bat [--workers N]   build and start the Docker stack (Spark master, N workers,
echo                                  history server, PostgreSQL) and wait until every service is
echo                                  healthy and the N workers have registered (default N: 1)
echo        start.bat --local         install what is missing and start the embedded PostgreSQL
echo.
echo The Docker stack reads .env (created from .env.example with a random password if missing).
echo PIP_CERT=FILE (environment or .env): an extra CA bundle for pip while the image builds.
echo UIs: Spark master http://127.0.0.1:8080, running job http://127.0.0.1:4040,
echo history of finished jobs http://127.0.0.1:18080 (ports as set in .env).
exit /b 0
