#!/bin/sh
# Stand-in for nginx (critest's web server image): BusyBox httpd serving nginx's welcome page on
# $PORT (80), its pid in /var/run/nginx.pid. This shell stays the parent ("nginx" in /proc/PID/comm,
# "master process" in its command line, as the real master's) and stops on SIGTERM/SIGQUIT.
PORT=${PORT:-80}
echo $$ > /var/run/nginx.pid
httpd -f -p "$PORT" -h /usr/share/nginx/html &
child=$!
trap 'kill $child; exit 0' TERM QUIT INT
wait $child
