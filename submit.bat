@echo off
rem Run a job on the Docker stack, or with --local on this machine (see --help).
rem The cmd.exe twin of submit.sh.
setlocal EnableExtensions
set "ROOT=%~dp0"
set "ROOT=%ROOT:~0,-1%"
set "TOOLS=analytics quality plan retention restore lake generate_data test"
call :entity_jobs
set "SAMPLE_CARTS=10000"
set "LOCAL="
if "%~1"=="" goto usage_error
if /i "%~1"=="-h" goto usage
if /i "%~1"=="--help" goto usage
if /i "%~1"=="--local" (set "LOCAL=1" & shift)
if "%~1"=="" goto usage_error
set "JOB=%~1"
shift
rem The arguments, each quoted; and whether they ask for help or name the input or output folder.
set "ARGS="
set "HAS_INPUT="
set "HAS_OUTPUT="
set "HAS_DEFINITIONS="
rem --summary-json -: spark-submit sends the job's stderr to its stdout, so the job writes the
rem document to a file, typed alone on stdout once spark-submit has ended (see submit.sh).
set "PREVIOUS="
set "SUMMARY="
set "HAS_TEST_PATHS="
:collect
if "%~1"=="" goto collected
if /i "%PREVIOUS%"=="--summary-json" if "%~1"=="-" set "SUMMARY=1"
set "PREVIOUS=%~1"
set ARGS=%ARGS% "%~1"
if /i "%~1"=="--input-dir" set "HAS_INPUT=1"
if /i "%~1"=="-h" set "HAS_INPUT=1"
if /i "%~1"=="--help" set "HAS_INPUT=1"
if /i "%~1"=="--output-dir" set "HAS_OUTPUT=1"
if /i "%~1"=="--config" set "HAS_DEFINITIONS=1"
if /i "%~1"=="--entities" set "HAS_DEFINITIONS=1"
set "ONE=%~1"
if /i "%ONE:~0,6%"=="tests/" set "HAS_TEST_PATHS=1"
if /i "%~1"=="tests" set "HAS_TEST_PATHS=1"
shift
goto collect
:collected
rem With --entities or --config (which may name an entities folder) the job checks its name.
if defined HAS_DEFINITIONS goto checked
set "KNOWN="
for %%j in (%JOBS%) do if /i "%%j"=="%JOB%" set "KNOWN=1"
if not defined KNOWN (
  echo error: unknown job '%JOB%'; choose one of: %JOBS%. 1>&2
  exit /b 2
)
:checked
if defined LOCAL goto local

rem ---- Docker stack ----
call "%ROOT%\scripts\docker_env.bat" check
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" require_env
if errorlevel 1 exit /b 2
call "%ROOT%\scripts\docker_env.bat" stack_up
if errorlevel 1 exit /b 2
if /i "%JOB%"=="test" goto docker_test
if /i "%JOB%"=="generate_data" goto docker_generate
if /i "%JOB%"=="analytics" goto docker_analytics
if /i "%JOB%"=="plan" goto docker_plan
if /i "%JOB%"=="quality" goto docker_plan
if /i "%JOB%"=="retention" goto docker_maintenance
if /i "%JOB%"=="restore" goto docker_maintenance
if /i "%JOB%"=="lake" goto docker_maintenance
if defined HAS_INPUT goto docker_submit
%MASTER% test -f /data/input/carts.csv
if not errorlevel 1 goto docker_sample_ready
%MASTER% python jobs/main.py generate-data --output-dir /data/input --carts %SAMPLE_CARTS% 1>&2
if errorlevel 1 exit /b 1
:docker_sample_ready
echo No --input-dir given: loading /data/input ^(ETL_INPUT_DIR of .env^). 1>&2
set ARGS=%ARGS% --input-dir /data/input
:docker_submit
rem The master, event logs and UTC executors come from docker/spark/conf/spark-defaults.conf.
if defined SUMMARY goto docker_submit_summary
%MASTER% spark-submit ^
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:/opt/spark-etl/scripts/log4j2.properties -Dspark_etl.log_dir=/data/logs" ^
  jobs/main.py load %JOB% %ARGS%
exit /b %ERRORLEVEL%

:docker_submit_summary
set "SUMMARY_FILE=/data/logs/.summary-%RANDOM%%RANDOM%.json"
call set ARGS=%%ARGS:"--summary-json" "-"="--summary-json" "%SUMMARY_FILE%"%%
%MASTER% spark-submit ^
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:/opt/spark-etl/scripts/log4j2.properties -Dspark_etl.log_dir=/data/logs" ^
  jobs/main.py load %JOB% %ARGS% 1>&2
set "STATUS=%ERRORLEVEL%"
%MASTER% cat %SUMMARY_FILE%
%MASTER% rm -f %SUMMARY_FILE% 1>nul 2>nul
exit /b %STATUS%

:docker_maintenance
%MASTER% spark-submit ^
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:/opt/spark-etl/scripts/log4j2.properties -Dspark_etl.log_dir=/data/logs" ^
  jobs/main.py %JOB% %ARGS%
exit /b %ERRORLEVEL%

:docker_test
rem Without the stack's spark-defaults: the tests run Spark in local mode, without event logs.
rem Every test unless the arguments name some (tests/unit, tests/integration/test_jobs.py ...):
rem paths inside the container, so with forward slashes.
set "TEST_PATHS=tests"
if defined HAS_TEST_PATHS set "TEST_PATHS="
%MASTER% env -u SPARK_CONF_DIR python -m pytest -p no:cacheprovider %TEST_PATHS% %ARGS%
exit /b %ERRORLEVEL%

:docker_analytics
if not defined HAS_OUTPUT set ARGS=%ARGS% --output-dir /data/report
%MASTER% python jobs/main.py analytics %ARGS%
exit /b %ERRORLEVEL%

:docker_plan
rem plan and quality read the catalog and the audit: no Spark
%MASTER% python jobs/main.py %JOB% %ARGS%
exit /b %ERRORLEVEL%

:docker_generate
%MASTER% python jobs/main.py generate-data %ARGS%
exit /b %ERRORLEVEL%

rem ---- this machine ----
:local
call "%ROOT%\scripts\bootstrap.bat"
if errorlevel 1 exit /b 2
if /i "%JOB%"=="test" goto local_test
if not defined SPARK_ETL_LOG_DIR set "SPARK_ETL_LOG_DIR=%ROOT%\.local\logs"
if not exist "%SPARK_ETL_LOG_DIR%" mkdir "%SPARK_ETL_LOG_DIR%"
if /i "%JOB%"=="generate_data" goto local_generate
if /i "%JOB%"=="analytics" goto local_analytics
if /i "%JOB%"=="plan" goto local_plan
if /i "%JOB%"=="quality" goto local_plan
if not defined SPARK_ETL_ARCHIVE_DIR set "SPARK_ETL_ARCHIVE_DIR=%ROOT%\.local\archive"
rem What spark-submit runs: the spark-etl command, with retention, restore, lake or load JOB.
set ENTRY="%ROOT%\jobs\main.py" load %JOB%
if /i "%JOB%"=="retention" (set ENTRY="%ROOT%\jobs\main.py" %JOB%& goto local_submit)
if /i "%JOB%"=="restore" (set ENTRY="%ROOT%\jobs\main.py" %JOB%& goto local_submit)
if /i "%JOB%"=="lake" (set ENTRY="%ROOT%\jobs\main.py" %JOB%& goto local_submit)
if not defined HAS_INPUT (
  if not exist "%ROOT%\.local\sample-data\carts.csv" (
    python "%ROOT%\jobs\main.py" generate-data --output-dir "%ROOT%\.local\sample-data" --carts %SAMPLE_CARTS% 1>&2 || exit /b 2
  )
  echo No --input-dir given: loading the sample set in %ROOT%\.local\sample-data. 1>&2
  set ARGS=%ARGS% --input-dir "%ROOT%\.local\sample-data"
)
:local_submit
call "%ROOT%\scripts\local_env.bat"
if errorlevel 1 exit /b 2
if not defined SPARK_MASTER set "SPARK_MASTER=local[*]"
if not defined SPARK_DRIVER_MEMORY set "SPARK_DRIVER_MEMORY=4g"
set "SUMMARY_FILE="
if defined SUMMARY set "SUMMARY_FILE=%SPARK_ETL_LOG_DIR%\.summary-%RANDOM%%RANDOM%.json"
if defined SUMMARY call set ARGS=%%ARGS:"--summary-json" "-"="--summary-json" "%SUMMARY_FILE%"%%
if defined SUMMARY (
  call :local_spark_submit 1>&2
) else (
  call :local_spark_submit
)
set "STATUS=%ERRORLEVEL%"
if defined SUMMARY if exist "%SUMMARY_FILE%" (type "%SUMMARY_FILE%" & del "%SUMMARY_FILE%")
if defined EMBEDDED_POSTGRES (
  echo PostgreSQL keeps running on 127.0.0.1:%ETL_LOCAL_PGPORT%. Query it with: 1>&2
  echo   set PGPASSFILE=%LOCAL_PG_DIR%\pgpass ^&^& psql -h 127.0.0.1 -p %ETL_LOCAL_PGPORT% -U etl etl 1>&2
  echo Stop it with: stop.bat --local 1>&2
)
exit /b %STATUS%

:local_spark_submit
call spark-submit.cmd --master "%SPARK_MASTER%" --driver-memory %SPARK_DRIVER_MEMORY% ^
  --jars "%SPARK_ETL_JDBC_JAR%" ^
  --driver-java-options "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:%ROOT%\scripts\log4j2.properties -Dspark_etl.log_dir=%SPARK_ETL_LOG_DIR%" ^
  --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC ^
  %ENTRY% %ARGS%
exit /b %ERRORLEVEL%

:local_test
call "%ROOT%\test.bat" %ARGS%
exit /b %ERRORLEVEL%

:local_analytics
call "%ROOT%\scripts\local_env.bat"
if errorlevel 1 exit /b 2
if not defined HAS_OUTPUT set ARGS=%ARGS% --output-dir "%ROOT%\.local\report"
python "%ROOT%\jobs\main.py" analytics %ARGS%
exit /b %ERRORLEVEL%

:local_plan
call "%ROOT%\scripts\local_env.bat"
if errorlevel 1 exit /b 2
python "%ROOT%\jobs\main.py" %JOB% %ARGS%
exit /b %ERRORLEVEL%

:local_generate
python "%ROOT%\jobs\main.py" generate-data %ARGS%
exit /b %ERRORLEVEL%

:usage
echo Usage: submit.bat JOB [ARGS...]           run JOB on the Docker stack (start.bat first)
echo        submit.bat --local JOB [ARGS...]   run JOB on this machine
echo.
echo Jobs: %JOBS%
echo   ^<entity^>_data_transform  load one entity (one job per definition in
echo                            spark_etl\definitions\entities, and per file of --entities DIR)
echo   all                      every entity, each after those it references: customers, products,
echo                            then cart lines (then the analytics refresh)
echo   analytics                refresh the analytics views, print their answers, write the report
echo   quality [--job J]        the recent runs with their figures and quality gates; exits 4 when
echo                            the latest run of a job failed a gate
echo   plan [JOB]               print the DDL a run of JOB (default all) would apply to the database
echo                            now (tables created or migrated from the entity definitions); changes nothing
echo   retention [--dry-run]    archive to Parquet the cart months (and audit rows) older than the
echo                            retention settings keep, check each archive, then drop what it holds
echo                            (archives in .local\archive, on Docker .\data\archive)
echo   restore --month YYYY-MM  bring an archived month of cart lines back into PostgreSQL
echo   lake sync                compare the Iceberg lake (lake.warehouse; on Docker .\data\lake) with
echo                            PostgreSQL and write again what differs
echo   lake expire              expire the lake's snapshots older than lake.keep_snapshots_days and
echo                            remove the files no snapshot left uses
echo   generate_data            write a synthetic input set (--output-dir DIR --carts N --seed S)
echo   test [PYTEST ARGS]       the test suite (on Docker: inside the stack, against its PostgreSQL);
echo                            paths under tests/ run only those
echo.
echo On Docker, jobs run with spark-submit on spark://spark-master:7077 and read the extracts from
echo /data/input, the host folder ETL_INPUT_DIR of .env (default .\data\input). The exit code is the
echo job's: 0 done, 1 unexpected failure, 2 a mistake to fix, 3 loaded but the analytics refresh
echo failed, 4 a quality gate stopped a load, 75 temporary (the lock is held, PostgreSQL is down or
echo restarting): retry later.
echo --local runs Spark in local mode with an embedded PostgreSQL on 127.0.0.1:54329 (ETL_LOCAL_PGPORT)
echo unless PGHOST names another server. It needs Python 3.10+, JAVA_HOME (Java 17),
echo SPARK_ETL_JDBC_JAR and PostgreSQL binaries (PG_BIN_DIR).
echo Load job arguments: --input-dir DIR, --config FILE, --entities DIR (entity definitions added to
echo the built-in ones), --mapping FILE (a template for extracts laid out another way),
echo --as-of TIMESTAMP, --extract snapshot^|delta (what the row-count gate compares with);
echo JOB --help lists them.
exit /b 0

:usage_error
call :usage 1>&2
exit /b 2

rem The load jobs come from the entity definitions: one per YAML file of spark_etl\definitions\entities,
rem named by its 'job:' key or <entity>_data_transform; and all of them.
:entity_jobs
set "JOBS="
pushd "%ROOT%\spark_etl\definitions\entities"
for %%f in (*.yaml) do call :entity_job "%%~ff"
popd
set "JOBS=%JOBS%all %TOOLS%"
exit /b 0

:entity_job
set "ENTITY="
set "ENTITY_JOB="
for /f "usebackq tokens=1,2" %%a in ("%~1") do (
  if "%%a"=="entity:" if not defined ENTITY set "ENTITY=%%b"
  if "%%a"=="job:" if not defined ENTITY_JOB set "ENTITY_JOB=%%b"
)
if not defined ENTITY exit /b 0
if not defined ENTITY_JOB set "ENTITY_JOB=%ENTITY%_data_transform"
set "JOBS=%JOBS%%ENTITY_JOB% "
exit /b 0
