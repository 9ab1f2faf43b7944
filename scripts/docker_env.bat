@echo off
rem Called by start.bat, stop.bat and submit.bat before they use the Docker stack: checks that
rem Docker is usable and that .env exists (created from .env.example with a random password).
where docker >nul 2>nul || (echo error: Docker is not installed; install Docker Desktop, or run with --local. 1>&2 & exit /b 2)
docker info >nul 2>nul || (echo error: the Docker engine is not running ^(docker info failed^); start it, or run with --local. 1>&2 & exit /b 2)
docker compose version >nul 2>nul || (echo error: the Docker Compose plugin is missing ^(docker compose version failed^); install it. 1>&2 & exit /b 2)
if not exist "%ROOT%\.env" (
  powershell -NoProfile -Command "$p = -join ((1..36) | ForEach-Object { '{0:x}' -f (Get-Random -Maximum 16) }); (Get-Content '%ROOT%\.env.example') -replace '^POSTGRES_PASSWORD=.*', ('POSTGRES_PASSWORD=' + $p) | Set-Content '%ROOT%\.env'" || exit /b 2
  echo Created .env with a random PostgreSQL password. 1>&2
)
exit /b 0
