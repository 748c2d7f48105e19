#!/bin/sh
# Run by docker-compose.yml before the gateways start: they sign and verify tokens with
# JWT_SECRET, so `docker compose up` stops here, saying what to do, when it is not set. Checked
# here rather than with ${JWT_SECRET:?} in the compose file, which Compose would evaluate for
# every command, making `docker compose down`, `logs` and `ps` fail without the secret too.
if [ -z "${JWT_SECRET:-}" ]; then
  echo 'JWT_SECRET is not set. Export a long random string shared by every gateway, then run' >&2
  echo '  export JWT_SECRET="$(openssl rand -hex 32)" && docker compose up --build' >&2
  exit 1
fi
echo 'JWT_SECRET is set.'
