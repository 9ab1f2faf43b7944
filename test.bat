@echo off
rem Lint and test: test.bat [PYTEST ARGS]. The cmd.exe twin of test.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
cd /d "%ROOT%"
call "%ROOT%\scripts\bootstrap.bat" || exit /b 2
ruff check . || exit /b 1
ruff format --check . || exit /b 1
pytest --cov=spark_etl --cov-report=term-missing %*
