#!/bin/sh
# Stand-in for BusyBox's pgrep applet (the e2e busybox image has it, the fixture's BusyBox does
# not): the pids of the processes whose name matches the extended regex $1, status 1 when none.
found=1
for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ "$pid" = "$$" ] && continue
    name=$(cat "$d/comm" 2>/dev/null) || continue
    if echo "$name" | grep -Eq -- "$1"; then
        echo "$pid"
        found=0
    fi
done
exit $found
