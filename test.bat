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
lint-imports || exit /b 1
mypy || exit /b 1
set NO_MKDOCS_2_WARNING=1
mkdocs build --strict --quiet --site-dir "%TEMP%\spark-etl-site" || exit /b 1
rem the coverage gate is the full run's: a chosen subset only reports its coverage
if "%~1"=="" (
  pytest --cov=spark_etl --cov-report=term-missing
) else (
  pytest --cov=spark_etl --cov-report=term-missing --cov-fail-under=0 %*
)
exit /b %ERRORLEVEL%

:usage
echo Usage: test.bat [PYTEST ARGS]   linters, mypy, the docs build, then pytest; installs what is missing first
echo The integration tests start a throwaway PostgreSQL of their own, unless PGHOST names a server.
exit /b 0
