@echo off
rem Lint and test: test.bat [PYTEST ARGS]. The cmd.exe twin of test.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
cd /d "%ROOT%"
call "%ROOT%\scripts\bootstrap.bat"
if errorlevel 1 exit /b 2
ruff check . || exit /b 1
ruff format --check . || exit /b 1
pytest --cov=spark_etl --cov-report=term-missing %*
exit /b %ERRORLEVEL%

:usage
echo Usage: test.bat [PYTEST ARGS]   ruff, then pytest with coverage; installs what is missing first
echo The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
exit /b 0
