#!/bin/sh
# Stand-in for the httpd image's httpd-foreground: BusyBox httpd serving Apache's "It works!" page
# on port 80, announcing itself on stderr as Apache does when it starts.
echo "[mpm_event:notice] AH00489: Apache/2.4.39 (Unix) configured -- resuming normal operations" >&2
echo "[core:notice] AH00094: Command line: 'httpd -D FOREGROUND'" >&2
exec httpd -f -p 80 -h /usr/local/apache2/htdocs
