"""Drives `crictl exec -it` on a terminal, as a user at a shell would, for tests/cri_streaming.rs.

usage: tty_exec.py CRICTL CONFIG CONTAINER
Runs `sh -c 'while read x; do stty size; done; exit 5'` in CONTAINER through crictl on a new
pseudo-terminal of 30x100, presses Enter until the command reports that size, resizes the
terminal to 40x120 (and signals crictl, whose terminal it is not), presses Enter until the
command reports the new size, then ends input with ctrl-d. Prints one JSON line: crictl's exit
code and everything the terminal showed.
"""
import fcntl, json, os, pty, select, signal, struct, subprocess, sys, termios, time

crictl, config, container = sys.argv[1:4]
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
cmd = [crictl, "--config", config, "exec", "-it", container, "sh", "-c", "while read x; do stty size; done; exit 5"]
p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
os.close(slave)
seen = b""


def pump(t):
    global seen
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                d = os.read(master, 4096)
            except OSError:
                return False
            if not d:
                return False
            seen += d
    return True


def until(text, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        os.write(master, b"\r")
        pump(0.3)
        if text in seen:
            return True
    return False


ok1 = until(b"30 100")
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
p.send_signal(signal.SIGWINCH)
ok2 = until(b"40 120")
os.write(master, b"\x04")
try:
    code = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    code = p.wait()
pump(0.2)
print(json.dumps({"exit": code, "first_size": ok1, "second_size": ok2, "output": seen.decode("utf-8", "replace")}))
