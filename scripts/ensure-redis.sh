#!/usr/bin/env bash
# Makes sure a Redis server answers PING on 127.0.0.1:6379 (the server the Redis tests and the
# example use). Starts one if nothing answers, installing the Debian package first if needed.
set -euo pipefail

host=127.0.0.1
port=6379

# True when the server on $host:$port replies +PONG.
ping_redis() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(timeout 3 redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = 'PONG' ]
  else
    # No redis-cli: speak RESP over bash's /dev/tcp, in a subshell so a refused connection
    # cannot end this script.
    timeout 3 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "PING\r\n" >&3
      IFS= read -r reply <&3
      [[ "$reply" == +PONG* ]]
    ' "$host" "$port" 2>/dev/null
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "ensure-redis: need root to run: $*" >&2
    return 1
  fi
}

if ping_redis; then
  echo "ensure-redis: Redis answers on $host:$port"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: redis-server not found; installing the redis-server package"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  # The package may have started a server of its own.
  if ping_redis; then
    echo "ensure-redis: Redis answers on $host:$port"
    exit 0
  fi
fi

echo "ensure-redis: starting redis-server on port $port"
redis-server --daemonize yes --port "$port" --save "" --appendonly no >/dev/null

for _ in $(seq 1 50); do
  if ping_redis; then
    echo "ensure-redis: Redis answers on $host:$port"
    exit 0
  fi
  sleep 0.2
done
echo "ensure-redis: Redis did not answer on $host:$port within 10 s" >&2
exit 1
