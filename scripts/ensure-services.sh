#!/usr/bin/env bash
# Makes sure the services the engine tests (and a local 3-node setup) use are
# answering on this machine: Redis :6379, MariaDB :3306, RabbitMQ :5672.
# Each one that does not answer is started; then the script waits, bounded by
# TACO_SERVICES_TIMEOUT seconds (default 90), until every one answers.
# Exit 0 when all answer, 1 otherwise (naming what is still down).
set -u

TIMEOUT="${TACO_SERVICES_TIMEOUT:-90}"

# A TCP answer on the port: each server opens it only once it accepts clients.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_up() {
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
  else
    port_open 6379
  fi
}

mysql_up() {
  local admin
  admin="$(command -v mariadb-admin || command -v mysqladmin || true)"
  if [ -n "$admin" ]; then
    "$admin" --protocol=tcp -h 127.0.0.1 -P 3306 -u root --connect-timeout=2 ping >/dev/null 2>&1
  else
    port_open 3306
  fi
}

rabbit_up() { port_open 5672; }

start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_mysql() {
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

start_rabbit() {
  # An Erlang node left running with the app stopped (e.g. a restart test cut short
  # between stop_app and start_app) cannot be started again; resume its app instead.
  if rabbitmqctl -q --timeout 5 status >/dev/null 2>&1; then
    rabbitmqctl start_app
  else
    rabbitmq-server -detached
  fi
}

declare -A STARTED=()
for svc in redis mysql rabbit; do
  if ! "${svc}_up"; then
    echo "ensure-services: $svc is not answering; starting it" >&2
    "start_${svc}" >&2 || echo "ensure-services: starting $svc failed (exit $?)" >&2
    STARTED[$svc]=1
  fi
done

deadline=$((SECONDS + TIMEOUT))
while :; do
  down=()
  for svc in redis mysql rabbit; do "${svc}_up" || down+=("$svc"); done
  if [ "${#down[@]}" -eq 0 ]; then
    [ "${#STARTED[@]}" -gt 0 ] && echo "ensure-services: started ${!STARTED[*]}; all answering" >&2
    exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "ensure-services: still not answering after ${TIMEOUT}s: ${down[*]}" >&2
    exit 1
  fi
  sleep 0.5
done
