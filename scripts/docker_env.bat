@echo off
rem Called by start.bat, stop.bat and submit.bat for the Docker stack; the cmd.exe twin of
rem docker_env.sh. One action per call:
rem   call docker_env.bat check          Docker installed, its engine running, Compose 2.20.0+
rem   call docker_env.bat ensure_env     .env created from .env.example with a random password
rem   call docker_env.bat require_env    .env must exist
rem   call docker_env.bat free_ports     each published port free, unless its service runs
rem   call docker_env.bat memory         an executor fits in its worker's memory
rem   call docker_env.bat stack_up       the stack runs
rem   call docker_env.bat login          the jobs' credentials open the database
rem   call docker_env.bat workers N      wait until N workers have registered with the master
rem Sets COMPOSE (docker compose on the project's file) and MASTER (a command in spark-master,
rem through the image's entry point, which docker exec skips); reads .env into the environment.
rem "call": docker may be a .cmd or .bat shim, which would otherwise end the calling script.
set "COMPOSE=call docker compose --project-directory "%ROOT%" -f "%ROOT%\docker-compose.yml""
set "MASTER=%COMPOSE% exec -T spark-master /opt/spark-etl/docker/spark/entrypoint.sh"
if exist "%ROOT%\.env" call :read_env
goto %~1

:check
rem Found the way cmd finds it (where.exe is not on every system, nor reliable under wine).
set "DOCKER_EXE="
for %%x in (docker.exe docker.cmd docker.bat) do if not defined DOCKER_EXE if not "%%~$PATH:x"=="" set "DOCKER_EXE=%%~$PATH:x"
if not defined DOCKER_EXE goto no_docker
call docker info >nul 2>nul
if errorlevel 1 goto no_engine
set "COMPOSE_VERSION="
for /f "delims=" %%v in ('docker compose version --short 2^>nul') do set "COMPOSE_VERSION=%%v"
if not defined COMPOSE_VERSION goto no_compose
set "COMPOSE_VERSION=%COMPOSE_VERSION:v=%"
set "COMPOSE_MAJOR=0"
set "COMPOSE_MINOR=0"
for /f "tokens=1,2 delims=.-+" %%a in ("%COMPOSE_VERSION%") do (
  set "COMPOSE_MAJOR=%%a"
  set "COMPOSE_MINOR=%%b"
)
set "COMPOSE_NUMBER=0"
set /a "COMPOSE_NUMBER=COMPOSE_MAJOR*1000+COMPOSE_MINOR" >nul 2>nul
if %COMPOSE_NUMBER% LSS 2020 goto old_compose
exit /b 0
:no_docker
echo error: Docker is not installed; install Docker Desktop (with Compose), or run with --local. 1>&2
exit /b 2
:no_engine
echo error: the Docker engine is not running (docker info failed); start Docker Desktop, or run with --local. 1>&2
exit /b 2
:no_compose
echo error: Docker Compose v2 is missing (docker compose version failed); install the Compose plugin, 2.20.0 or newer (docker-compose 1.x is not supported). 1>&2
exit /b 2
:old_compose
echo error: Docker Compose %COMPOSE_VERSION% is too old; install 2.20.0 or newer. 1>&2
exit /b 2

:ensure_env
if exist "%ROOT%\.env" exit /b 0
rem A password from the system's cryptographic random generator.
powershell -NoProfile -Command "$b = New-Object byte[] 18; [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($b); $p = -join ($b | ForEach-Object { $_.ToString('x2') }); (Get-Content '%ROOT%\.env.example') -replace '^POSTGRES_PASSWORD=.*', ('POSTGRES_PASSWORD=' + $p) | Set-Content '%ROOT%\.env'"
if errorlevel 1 exit /b 2
echo Created .env with a random PostgreSQL password. 1>&2
call :read_env
exit /b 0

:require_env
if exist "%ROOT%\.env" exit /b 0
echo error: %ROOT%\.env is missing; it holds the stack's settings (start.bat creates it). Restore it, or remove the stack with: docker compose -p spark-etl down 1>&2
exit /b 2

rem Settings of .env, unless the environment has them (as docker compose does).
:read_env
for /f "eol=# tokens=1,* delims==" %%a in ('type "%ROOT%\.env"') do if not defined %%a set "%%a=%%b"
exit /b 0

:running
for /f "delims=" %%s in ('%COMPOSE% ps --status running --services 2^>nul') do set "RUNNING_%%s=1"
exit /b 0

:free_ports
call :running
call :free_port POSTGRES_PORT 55432 postgres
if errorlevel 1 exit /b 2
call :free_port SPARK_MASTER_UI_PORT 8080 spark-master
if errorlevel 1 exit /b 2
call :free_port SPARK_APP_UI_PORT 4040 spark-master
if errorlevel 1 exit /b 2
call :free_port SPARK_HISTORY_PORT 18080 spark-history
if errorlevel 1 exit /b 2
exit /b 0
:free_port
if defined RUNNING_%3 exit /b 0
call set "PORT=%%%1%%"
if "%PORT%"=="" set "PORT=%2"
set "TAKEN="
rem Local addresses of listening TCP sockets, as netstat prints them (0.0.0.0:8080, 127.0.0.1:8080).
for /f "tokens=1,2,4" %%a in ('netstat -an -p tcp 2^>nul') do if /i "%%a"=="TCP" if /i "%%c"=="LISTENING" call :is_port %%b
if not defined TAKEN exit /b 0
echo error: port %PORT% on 127.0.0.1 is already in use (%1 in .env); stop what uses it, or set %1 to a free port in .env. 1>&2
exit /b 2
:is_port
set "ADDRESS=%~1"
if "%ADDRESS:*:=%"=="%PORT%" set "TAKEN=1"
exit /b 0

:memory
rem An executor larger than its worker's memory is never started: every job would wait forever.
set "WORKER_MEMORY=%SPARK_WORKER_MEMORY%"
if not defined WORKER_MEMORY set "WORKER_MEMORY=2g"
set "EXECUTOR_MEMORY=%SPARK_EXECUTOR_MEMORY%"
if not defined EXECUTOR_MEMORY set "EXECUTOR_MEMORY=%WORKER_MEMORY%"
call :mib SPARK_WORKER_MEMORY "%WORKER_MEMORY%"
if errorlevel 1 exit /b 2
set "WORKER_MIB=%MIB%"
call :mib SPARK_EXECUTOR_MEMORY "%EXECUTOR_MEMORY%"
if errorlevel 1 exit /b 2
if %MIB% LEQ %WORKER_MIB% exit /b 0
echo error: SPARK_EXECUTOR_MEMORY (%EXECUTOR_MEMORY%) is more than SPARK_WORKER_MEMORY (%WORKER_MEMORY%): no worker could start an executor and every job would wait. Lower SPARK_EXECUTOR_MEMORY in .env, or leave it empty for the worker's whole memory. 1>&2
exit /b 2
rem :mib NAME SIZE sets MIB to SIZE (a number and its unit: 512m, 2g, 2gb) in MiB. A bare number
rem is refused: the worker reads it as bytes and an executor as MiB.
:mib
set "SIZE=%~2"
set "MIB="
if /i "%SIZE:~-1%"=="b" set "SIZE=%SIZE:~0,-1%"
set "NUMBER=%SIZE:~0,-1%"
set "N="
set /a "N=%NUMBER%" >nul 2>nul
if not "%N%"=="%NUMBER%" goto not_a_size
if /i "%SIZE:~-1%"=="k" set /a "MIB=N/1024"
if /i "%SIZE:~-1%"=="m" set /a "MIB=N"
if /i "%SIZE:~-1%"=="g" set /a "MIB=N*1024"
if /i "%SIZE:~-1%"=="t" set /a "MIB=N*1048576"
if defined MIB exit /b 0
:not_a_size
echo error: %1 in .env must be a size with its unit, such as 2g or 1536m (found '%~2'). 1>&2
exit /b 2

:stack_up
call :running
if defined RUNNING_spark-master exit /b 0
echo error: the Docker stack is not up; run start.bat first (or use --local). 1>&2
exit /b 2

:login
set "LOGIN="
for /f "tokens=1,*" %%a in ('%MASTER% python docker/spark/check_login.py 2^>nul') do (
  set "LOGIN=%%a"
  set "LOGIN_ERROR=%%b"
)
if "%LOGIN%"=="ok" exit /b 0
if not defined POSTGRES_USER set "POSTGRES_USER=etl"
if not "%LOGIN%"=="credentials" goto no_login
echo error: PostgreSQL refuses the user or password of .env: the database volume was created with other credentials. Put the old ones back in .env, or set the new password in the database with: docker compose -p spark-etl exec postgres psql -U %POSTGRES_USER% -d postgres -c "\password %POSTGRES_USER%" (or delete the database with stop.bat --purge). 1>&2
exit /b 2
:no_login
echo error: the jobs cannot connect to PostgreSQL: %LOGIN_ERROR% 1>&2
exit /b 2

:workers
set /a "TRIES=0"
:workers_again
set "ALIVE=0"
for /f %%n in ('%MASTER% python -c "import json, urllib.request; print(json.load(urllib.request.urlopen('http://localhost:8080/json/'))['aliveworkers'])" 2^>nul') do set "ALIVE=%%n"
if %ALIVE% GEQ %2 exit /b 0
set /a "TRIES+=1"
if %TRIES% GEQ 60 goto too_few_workers
timeout /t 1 /nobreak >nul
goto workers_again
:too_few_workers
echo error: only %ALIVE% of %2 Spark workers registered with the master in 60 s; see: docker compose -p spark-etl logs spark-worker 1>&2
exit /b 2
