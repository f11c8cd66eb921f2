"""docker-py against Berth: details where Berth once differed from dockerd, as the SDK meets them.

Exec stream framing, detach keys sent as `detachKeys`, anonymous volumes and prune, network names
with spaces, IPAM auxiliary addresses, endpoint links, commit racing a container's exit, a
restart policy's back-off (rm refused, stop cancels), and the classic builder's colouring of RUN's
stderr.
Arguments: the daemon's URL and a free /24 for the test's network.
"""
import io
import struct
import sys
import time

import docker

api = docker.APIClient(base_url=sys.argv[1])
subnet = sys.argv[2]
prefix = subnet.rsplit(".", 1)[0]


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"stream ended after {data!r}"
        data += chunk
    return data


box = api.create_container("busybox", "cat", stdin_open=True)
api.start(box)
try:
    # An exec made with a TTY and started without one: dockerd frames the output (stdout), as the
    # start request's Tty says, while the process still has its terminal.
    ex = api.exec_create(box, ["printf", "framed"], tty=True)
    sock = api.exec_start(ex, socket=True)
    raw = getattr(sock, "_sock", sock)
    header = read_exactly(raw, 8)
    stream, size = struct.unpack(">BxxxL", header)
    assert (stream, size) == (1, 6), header
    assert read_exactly(raw, size) == b"framed"
    sock.close()
    # And so the SDK's demultiplexing of such an exec gets the terminal's output as stdout.
    ex = api.exec_create(box, "sh -c 'echo out; echo err >&2'", tty=True)
    got = api.exec_start(ex, demux=True)
    assert got == (b"out\r\nerr\r\n", None), got
    # Started with a TTY: raw output, no frame header.
    ex = api.exec_create(box, ["printf", "raw"], tty=True)
    assert api.exec_start(ex, tty=True) == b"raw"

    # Detach keys from the client's config file go out as `detachKeys` (Go reads names in any case).
    api._general_configs["detachKeys"] = "ctrl-x,y"
    ex = api.exec_create(box, "true", tty=True)
    api._general_configs.pop("detachKeys")
    assert api.exec_inspect(ex)["DetachKeys"] == "ctrl-x,y", api.exec_inspect(ex)
finally:
    api.remove_container(box, force=True)

# A volume created without a name is anonymous: a plain prune removes it, not a named one.
anon = api.create_volume()["Name"]
assert api.inspect_volume(anon)["Labels"] == {"com.docker.volume.anonymous": ""}, api.inspect_volume(anon)
named = api.create_volume("sdk-named")["Name"]
pruned = api.prune_volumes()["VolumesDeleted"] or []
assert anon in pruned and named not in pruned, pruned
api.remove_volume(named)

# Network names are free text (libnetwork refuses only a blank one).
net = api.create_network("sdk net 01")["Id"]
assert api.inspect_network(net)["Name"] == "sdk net 01"
api.remove_network(net)
try:
    api.create_network("  ")
    raise AssertionError("a blank network name was accepted")
except docker.errors.APIError as e:
    assert e.status_code == 400, e

# IPAM auxiliary addresses: kept, shown, and never given to a container.
aux = {"a": f"{prefix}.2", "b": f"{prefix}.3"}
ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, aux_addresses=aux)])
net = api.create_network("sdk-aux", ipam=ipam)["Id"]
try:
    cfg = api.inspect_network(net)["IPAM"]["Config"]
    assert cfg == [{"Subnet": subnet, "Gateway": f"{prefix}.1", "AuxiliaryAddresses": aux}], cfg
    c1 = api.create_container("busybox", "true", host_config=api.create_host_config(network_mode="sdk-aux"))
    api.start(c1)
    ip = api.inspect_container(c1)["NetworkSettings"]["Networks"]["sdk-aux"]["IPAddress"]
    api.remove_container(c1, force=True)
    assert ip == f"{prefix}.4", ip
    c2 = None
    try:
        c2 = api.create_container(
            "busybox", "true",
            host_config=api.create_host_config(network_mode="sdk-aux"),
            networking_config=api.create_networking_config({"sdk-aux": api.create_endpoint_config(ipv4_address=f"{prefix}.2")}),
        )
        api.start(c2)
        raise AssertionError("a container was given an auxiliary address")
    except docker.errors.APIError as e:
        assert "Address already in use" in e.explanation, e.explanation
    finally:
        if c2:
            api.remove_container(c2, force=True)
finally:
    api.remove_network(net)
try:
    outside = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet, aux_addresses={"x": "192.0.2.9"})])
    api.create_network("sdk-aux-bad", ipam=outside)
    raise AssertionError("an auxiliary address outside the subnet was accepted")
except docker.errors.APIError as e:
    assert e.status_code == 403 and "must belong to the master pool" in e.explanation, e.explanation

# An endpoint's own links: the alias resolves, for the linking container, to the target's address
# on that network, even when the target starts after it.
net = api.create_network("sdk-links", ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]))["Id"]
started = []
try:
    a = api.create_container(
        "busybox", "sleep 60",
        host_config=api.create_host_config(network_mode="sdk-links"),
        networking_config=api.create_networking_config({"sdk-links": api.create_endpoint_config(links=[("sdk-later", "bar")])}),
    )
    started.append(a)
    api.start(a)
    b = api.create_container("busybox", "sleep 60", name="sdk-later", host_config=api.create_host_config(network_mode="sdk-links"))
    started.append(b)
    api.start(b)
    b_ip = api.inspect_container(b)["NetworkSettings"]["Networks"]["sdk-links"]["IPAddress"]
    ex = api.exec_create(a, ["nslookup", "-type=a", "bar"])
    out = api.exec_start(ex)
    assert api.exec_inspect(ex)["ExitCode"] == 0 and b_ip.encode() in out, out
    # Only the linking container knows the alias.
    ex = api.exec_create(b, ["nslookup", "-type=a", "bar"])
    api.exec_start(ex)
    assert api.exec_inspect(ex)["ExitCode"] != 0
finally:
    for c in started:
        api.remove_container(c, force=True)
    api.remove_network(net)

# A commit (pausing, as by default) right after a short command starts: the container may exit
# while the commit begins, which must not fail it.
for i in range(10):
    c = api.create_container("busybox", ["touch", f"/made-{i}"])
    api.start(c)
    try:
        img = api.commit(c)["Id"]
        api.remove_image(img)
    finally:
        api.remove_container(c, force=True)

# Between an exit and its restart policy's restart the container is restarting, as dockerd has it:
# `rm` without force is refused, and `stop` cancels the pending restart.
c = api.create_container("busybox", ["sh", "-c", "exit 1"], host_config=api.create_host_config(restart_policy={"Name": "always"}))
try:
    api.start(c)
    api.wait(c)
    try:
        api.remove_container(c)
        raise AssertionError("a container about to be restarted was removed without force")
    except docker.errors.APIError as e:
        assert e.status_code == 409 and "container is r" in e.explanation, e.explanation
    # Once it has restarted three times its back-off is 800 ms. Meanwhile it shows as dockerd shows
    # it: restarting, counted as running (with no process), in `docker ps` without --all. Stopped
    # then, it stays stopped.
    deadline = time.time() + 20
    while True:
        st = api.inspect_container(c)
        if st["RestartCount"] >= 3 and st["State"]["Status"] == "restarting":
            break
        assert time.time() < deadline, st["State"]
        time.sleep(0.02)
    s = st["State"]
    assert s["Running"] and s["Restarting"] and not s["Paused"] and s["Pid"] == 0 and s["ExitCode"] == 1, s
    rows = [r for r in api.containers(filters={"status": "restarting"}) if r["Id"] == c["Id"]]
    assert len(rows) == 1 and rows[0]["State"] == "restarting" and rows[0]["Status"].startswith("Restarting (1) "), rows
    api.stop(c)
    count = api.inspect_container(c)["RestartCount"]
    time.sleep(2)
    st = api.inspect_container(c)
    assert st["State"]["Status"] == "exited" and st["RestartCount"] == count, (st["State"], st["RestartCount"], count)
    api.remove_container(c)
finally:
    try:
        api.remove_container(c, force=True)
    except docker.errors.NotFound:
        pass

# The classic builder marks RUN's stderr with the terminal's red, stdout as it is.
dockerfile = io.BytesIO(b"FROM busybox\nRUN echo to-out && sleep 0.2 && echo to-err >&2\n")
lines = [m.get("stream") for m in api.build(fileobj=dockerfile, decode=True, nocache=True, rm=True)]
assert "to-out\n" in lines, lines
assert "\x1b[91mto-err\n\x1b[0m" in lines, lines
print("ok")
