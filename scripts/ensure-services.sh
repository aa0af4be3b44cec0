#!/usr/bin/env bash
# Makes sure the services the engine tests (and a local 3-node setup) use are
# answering on this machine: Redis :6379, MariaDB :3306, RabbitMQ :5672, and a
# Redis Cluster of 3 masters (no replicas) on :7000-7002.
# Each one that does not answer is started; then the script waits, bounded by
# TACO_SERVICES_TIMEOUT seconds (default 90), until every one answers (the
# cluster: until `cluster info` says cluster_state:ok; its slots are assigned
# with `redis-cli --cluster create` only when it is not ok yet).
# Exit 0 when all answer, 1 otherwise (naming what is still down).
# TACO_SKIP_REDIS_CLUSTER=1 leaves the cluster out.
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

CLUSTER_PORTS=(7000 7001 7002)

cluster_node_up() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]; }

cluster_ok() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

# Every node answers and sees the cluster as ok (all 16384 slots served).
redis_cluster_up() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do cluster_ok "$p" || return 1; done
}

start_redis_cluster() {
  mkdir -p /var/lib/redis /var/log/redis
  local p
  for p in "${CLUSTER_PORTS[@]}"; do
    cluster_node_up "$p" && continue
    redis-server --port "$p" --cluster-enabled yes --cluster-config-file "/var/lib/redis/nodes-$p.conf" \
      --save "" --appendonly no --daemonize yes --bind 127.0.0.1 \
      --dir /var/lib/redis --logfile "/var/log/redis/cluster-$p.log"
  done
  local until=$((SECONDS + 15))
  for p in "${CLUSTER_PORTS[@]}"; do
    until cluster_node_up "$p"; do
      [ "$SECONDS" -ge "$until" ] && { echo "ensure-services: redis cluster node :$p does not answer" >&2; return 1; }
      sleep 0.2
    done
  done
  # Slots are assigned only on fresh nodes: `--cluster create` refuses nodes that already hold slots
  # or keys. Nodes that kept their nodes-*.conf find each other again by themselves (the wait below).
  local fresh=1
  for p in "${CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_slots_assigned:0' || fresh=0
  done
  if [ "$fresh" -eq 1 ]; then
    local hosts=()
    for p in "${CLUSTER_PORTS[@]}"; do hosts+=("127.0.0.1:$p"); done
    timeout 30 redis-cli --cluster create "${hosts[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  elif ! redis_cluster_up; then
    echo "ensure-services: redis cluster on ${CLUSTER_PORTS[*]} has slots assigned but is not ok; waiting for it" >&2
  fi
}

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

SERVICES=(redis mysql rabbit)
if [ "${TACO_SKIP_REDIS_CLUSTER:-0}" != 1 ]; then SERVICES+=(redis_cluster); fi

declare -A STARTED=()
for svc in "${SERVICES[@]}"; do
  if ! "${svc}_up"; then
    echo "ensure-services: $svc is not answering; starting it" >&2
    "start_${svc}" >&2 || echo "ensure-services: starting $svc failed (exit $?)" >&2
    STARTED[$svc]=1
  fi
done

deadline=$((SECONDS + TIMEOUT))
while :; do
  down=()
  for svc in "${SERVICES[@]}"; do "${svc}_up" || down+=("$svc"); done
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
