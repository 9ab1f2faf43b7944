@echo off
rem A stand-in for docker.exe under wine, for tests of the .bat scripts (see stand_in_docker.sh).
echo docker %*>>"%FAKE_DOCKER_LOG%"
if "%~1"=="info" goto info
if not "%~1"=="compose" exit /b 0
shift
:skip
if "%~1"=="--project-directory" (shift & shift & goto skip)
if "%~1"=="-f" (shift & shift & goto skip)
if "%~1"=="version" goto version
if "%~1"=="ps" goto ps
if "%~1"=="exec" goto exec
exit /b 0
:info
if "%FAKE_DOCKER_INFO%"=="down" exit /b 1
echo 20.10.24
exit /b 0
:version
if "%FAKE_COMPOSE_VERSION%"=="none" exit /b 1
if defined FAKE_COMPOSE_VERSION (echo %FAKE_COMPOSE_VERSION%) else (echo v2.26.1)
exit /b 0
:ps
for %%s in (%FAKE_RUNNING%) do echo %%s
exit /b 0
:exec
if "%~1"=="" goto exec_other
if "%~1"=="docker/spark/check_login.py" goto login
if "%~1"=="-c" goto workers
shift
goto exec
:login
if not defined FAKE_LOGIN set "FAKE_LOGIN=ok"
echo %FAKE_LOGIN%
if "%FAKE_LOGIN%"=="ok" exit /b 0
exit /b 1
:workers
if not defined FAKE_WORKERS set "FAKE_WORKERS=1"
echo %FAKE_WORKERS%
exit /b 0
:exec_other
if defined FAKE_EXEC_OUTPUT echo %FAKE_EXEC_OUTPUT%
if defined FAKE_EXEC_STATUS exit /b %FAKE_EXEC_STATUS%
exit /b 0
