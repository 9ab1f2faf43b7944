@echo off
rem Run a job: submit.bat --local JOB [ARGS]   (see --help). The cmd.exe twin of submit.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
set "JOBS=all product_data_transform customer_data_transform cart_data_transform generate_data"
if "%~1"=="" goto usage_error
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i not "%~1"=="--local" (
  echo error: the Docker stack is not part of this version yet; run submit.bat --local %* 1>&2
  exit /b 2
)
shift
if "%~1"=="" goto usage_error
set "JOB=%~1"
set "KNOWN="
for %%j in (%JOBS%) do if /i "%%j"=="%JOB%" set "KNOWN=1"
if not defined KNOWN (
  echo error: unknown job '%JOB%'; choose one of: %JOBS%. 1>&2
  exit /b 2
)
shift
set "ARGS="
:collect
if "%~1"=="" goto collected
set ARGS=%ARGS% "%~1"
shift
goto collect
:collected

call "%ROOT%\scripts\bootstrap.bat" || exit /b 2
if not defined SPARK_ETL_LOG_DIR set "SPARK_ETL_LOG_DIR=%ROOT%\.local\logs"
if not exist "%SPARK_ETL_LOG_DIR%" mkdir "%SPARK_ETL_LOG_DIR%"
if /i "%JOB%"=="generate_data" goto generate
echo %ARGS% | findstr /c:"--input-dir" /c:"--help" >nul
if errorlevel 1 (
  if not exist "%ROOT%\.local\sample-data\carts.csv" (
    python "%ROOT%\jobs\generate_data.py" --output-dir "%ROOT%\.local\sample-data" --carts 10000 || exit /b 2
  )
  echo No --input-dir given: loading the sample set in %ROOT%\.local\sample-data. 1>&2
  set ARGS=%ARGS% --input-dir "%ROOT%\.local\sample-data"
)
call "%ROOT%\scripts\local_env.bat" || exit /b 2
if not defined SPARK_MASTER set "SPARK_MASTER=local[*]"
if not defined SPARK_DRIVER_MEMORY set "SPARK_DRIVER_MEMORY=4g"
call spark-submit.cmd --master "%SPARK_MASTER%" --driver-memory %SPARK_DRIVER_MEMORY% ^
  --jars "%SPARK_ETL_JDBC_JAR%" ^
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:%ROOT%\scripts\log4j2.properties -Dspark_etl.log_dir=%SPARK_ETL_LOG_DIR%" ^
  --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC ^
  "%ROOT%\jobs\%JOB%.py" %ARGS%
set "STATUS=%ERRORLEVEL%"
if defined EMBEDDED_POSTGRES (
  echo PostgreSQL keeps running on 127.0.0.1:%ETL_LOCAL_PGPORT%. Query it with: 1>&2
  echo   set PGPASSFILE=%LOCAL_PG_DIR%\pgpass ^&^& psql -h 127.0.0.1 -p %ETL_LOCAL_PGPORT% -U etl etl 1>&2
  echo Stop it with: stop.bat --local 1>&2
)
exit /b %STATUS%

:generate
python "%ROOT%\jobs\generate_data.py" %ARGS%
exit /b %ERRORLEVEL%

:usage
echo Usage: submit.bat --local JOB [ARGS...]
echo        submit.bat JOB [ARGS...]      (on the Docker stack; not available yet: use --local)
echo.
echo Jobs: %JOBS%
echo   all               customers, then products, then cart lines
echo   generate_data     write a synthetic input set (--output-dir DIR --carts N --seed S)
echo.
echo --local runs Spark in local mode with an embedded PostgreSQL on 127.0.0.1:54329 (ETL_LOCAL_PGPORT)
echo unless PGHOST names another server, and loads the sample set unless --input-dir DIR is given.
echo Needs Python 3.11+, JAVA_HOME (Java 17), SPARK_ETL_JDBC_JAR and PostgreSQL binaries (PG_BIN_DIR).
echo Job arguments: --input-dir DIR, --config FILE, --as-of TIMESTAMP; JOB --help lists them.
exit /b 0

:usage_error
call :usage 1>&2
exit /b 2
