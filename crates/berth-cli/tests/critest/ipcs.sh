#!/bin/sh
# Stand-in for BusyBox's ipcs applet, `ipcs -m` only: the System V shared memory segments of this
# IPC namespace, from /proc/sysvipc/shm.
if [ "$#" -gt 1 ] || { [ "$#" -eq 1 ] && [ "$1" != "-m" ]; }; then
    echo "ipcs stand-in: only -m is supported" >&2
    exit 2
fi
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
tail -n +2 /proc/sysvipc/shm | while read -r key shmid perms size cpid lpid nattch uid rest; do
    printf '0x%08x %-10s %-10s %-10s %-10s %-10s\n' "$key" "$shmid" "$uid" "$perms" "$size" "$nattch"
done
