#!/bin/sh
echo "$GREETING: $(hostname), $(cat /app/build-info), running as $(id -un)"
