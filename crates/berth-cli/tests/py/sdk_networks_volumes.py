"""docker-py (Debian's python3-docker) against Berth: networks, volumes, ports, archives, exec."""
import io
import sys
import tarfile

import docker

c = docker.DockerClient(base_url=sys.argv[1])
subnet = sys.argv[2]
ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
net = c.networks.create("pynet", driver="bridge", labels={"a": "b"}, ipam=ipam)
vol = c.volumes.create("pyvol", labels={"x": "y"})
assert c.volumes.get("pyvol").attrs["Labels"] == {"x": "y"}
web = c.containers.run("busybox", "httpd -f -p 80 -h /etc", detach=True, name="pyweb", network="pynet",
                       ports={"80/tcp": ("127.0.0.1", None)}, volumes={"pyvol": {"bind": "/data", "mode": "rw"}})
web.reload()
binding = web.ports["80/tcp"][0]
assert binding["HostIp"] == "127.0.0.1" and int(binding["HostPort"]) > 0, web.ports
ip = web.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
assert ip.startswith(subnet.rsplit(".", 1)[0]), ip
out = c.containers.run("busybox", "wget -qO- http://pyweb/hostname", network="pynet", remove=True)
assert out.strip().decode() == web.id[:12], out
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from-python"
    ti = tarfile.TarInfo("hello.txt")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
assert web.put_archive("/data", buf.getvalue())
bits, stat = web.get_archive("/data/hello.txt")
assert stat["name"] == "hello.txt" and stat["size"] == 11, stat
raw = b"".join(bits)
assert tarfile.open(fileobj=io.BytesIO(raw)).extractfile("hello.txt").read() == b"from-python"
got = web.exec_run("cat /data/hello.txt").output
assert got == b"from-python", got
net.reload()
assert [m["Name"] for m in net.attrs["Containers"].values()] == ["pyweb"], net.attrs["Containers"]
net2 = c.networks.create("pynet2")
net2.connect(web, aliases=["alias2"])
web.reload()
assert sorted(web.attrs["NetworkSettings"]["Networks"]) == ["pynet", "pynet2"]
net2.disconnect(web)
web.reload()
assert sorted(web.attrs["NetworkSettings"]["Networks"]) == ["pynet"]
web.remove(force=True)
vol.remove()
net.remove()
net2.remove()
assert [v.name for v in c.volumes.list()] == []
assert sorted(n.name for n in c.networks.list()) == ["bridge", "host", "none"]
print("ok")
