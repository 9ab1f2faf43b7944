@echo off
rem Called by submit.bat, start.bat and test.bat: checks the prerequisites Windows cannot
rem install by itself, then creates .venv with the pinned packages of pyproject.toml (again
rem only when pyproject.toml changed). Sets JAVA_HOME, SPARK_ETL_JDBC_JAR, PATH.
set "ROOT=%~dp0.."
where python >nul 2>nul || (echo error: Python 3.10+ not found; install it from python.org and tick "Add to PATH". 1>&2 & exit /b 2)
python -c "import sys; sys.exit(sys.version_info < (3, 10))" || (echo error: Python 3.10 or newer is needed. 1>&2 & exit /b 2)
if not defined JAVA_HOME (
  echo error: JAVA_HOME is not set; install a Java 17 JDK or JRE and set JAVA_HOME to it. 1>&2
  exit /b 2
)
if not defined SPARK_ETL_JDBC_JAR (
  echo error: set SPARK_ETL_JDBC_JAR to the PostgreSQL JDBC jar, org.postgresql:postgresql:42.7.4 from Maven Central. 1>&2
  exit /b 2
)
if not exist "%SPARK_ETL_JDBC_JAR%" (
  echo error: PostgreSQL JDBC driver not found at %SPARK_ETL_JDBC_JAR%. 1>&2
  exit /b 2
)
if not exist "%ROOT%\.venv\Scripts\python.exe" (
  echo Creating .venv ... 1>&2
  python -m venv "%ROOT%\.venv" || (echo error: could not create .venv. 1>&2 & exit /b 2)
)
fc /b "%ROOT%\pyproject.toml" "%ROOT%\.venv\installed-pyproject.toml" >nul 2>nul
if errorlevel 1 (
  echo Installing Python packages into .venv ^(once^) ... 1>&2
  "%ROOT%\.venv\Scripts\python.exe" -m pip install -q --upgrade pip || exit /b 2
  "%ROOT%\.venv\Scripts\python.exe" -m pip install -q -e "%ROOT%[spark,test,lint,docs]" || (echo error: pip could not install the packages of pyproject.toml. 1>&2 & exit /b 2)
  copy /y "%ROOT%\pyproject.toml" "%ROOT%\.venv\installed-pyproject.toml" >nul
)
set "PATH=%ROOT%\.venv\Scripts;%JAVA_HOME%\bin;%PATH%"
if not defined SPARK_LOCAL_IP set "SPARK_LOCAL_IP=127.0.0.1"
exit /b 0
