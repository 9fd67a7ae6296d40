"""Abuse of a registry's public side, and what a legitimate client sees
meanwhile: bounded in time and count, loopback only.

    python test/harness/attack.py URL [--duration S] [--idle N] [--slow N]
                               [--flood RATE] [--big N] [--sources N]
                               [--hosts N]

Attackers (asyncio, in this process): `idle` connections that send
nothing; `slow` ones sending a request head one byte every few seconds
(slowloris); a `flood` of malformed requests the registry fails on (a
requestCertificate with an invalid CSR, a hello of an unknown prefix);
`big` connections sending 99 headers of 65 KB each.  Each reconnects when
cut.  Meanwhile a probe asks getCa every 0.2 s on a new connection.
Prints (and returns) {getca: [latency or None...], ...} as JSON.

On an IPv4 loopback URL, the attack comes from `sources` addresses of
127.0.0.0/8 (127.<10+n/256>.<n%256>.1: each of its own /24, as from many
networks), each with `hosts` addresses (.1, .2, ...: hosts of that
network; the attackers are spread over all of them), the probe from
127.0.0.100 (127.0.0.0/8 is all local on Linux).  The process's file
limit is raised to what the attack holds (never above its hard limit).
"""
import http.client
import argparse
import asyncio
import json
import resource
import time
import urllib.parse

PROBE_PERIOD = 0.2
PROBE_TIMEOUT = 5
SLOW_PERIOD = 3


def connect(host, port, source):
    return asyncio.wait_for(asyncio.open_connection(
        host, port, local_addr=(source, 0) if source else None), 5)


async def keep(coroutine, host, port, source, deadline):
    """Run coroutine(reader, writer) on connections to host:port from
    `source`, again and again, until `deadline`."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await connect(host, port, source)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
            continue
        try:
            await asyncio.wait_for(coroutine(reader, writer),
                                   max(0.1, deadline - time.monotonic()))
        except (OSError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
        await asyncio.sleep(0.2)


async def idle(reader, writer):
    await reader.read()  # until the server cuts it


async def slow(reader, writer):
    writer.write(b'GET /getCa HTTP/1.1\r\nHost: x\r\n')
    await writer.drain()
    while True:
        await asyncio.sleep(SLOW_PERIOD)
        writer.write(b'X')
        await writer.drain()


async def big(reader, writer):
    writer.write(b'GET /getCa HTTP/1.1\r\n')
    for i in range(99):
        writer.write(b'X-Big-%d: %s\r\n' % (i, b'x' * 65000))
        await writer.drain()
    writer.write(b'\r\n')
    await writer.drain()
    await reader.read()


def malformed(path, n):
    if n % 2:
        return '%shello?%s' % (path, urllib.parse.urlencode(
            {'client_prefix': '1' * (16 + n % 7), 'protocol': '8'}))
    return '%srequestCertificate?%s' % (path, urllib.parse.urlencode(
        {'token': 'flood%d' % n, 'req': '-----BEGIN CERTIFICATE REQUEST-----'
                                        '\ngarbage%d\n' % n}))


async def flood(host, port, path, sources, rate, deadline, sent):
    """`rate` malformed requests a second until `deadline`."""
    async def one(n):
        try:
            reader, writer = await connect(host, port,
                                           sources[n % len(sources)])
            writer.write(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n'
                          % malformed(path, n)).encode())
            await writer.drain()
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
        except (OSError, asyncio.TimeoutError, ConnectionError):
            pass
    tasks = []
    n = 0
    while time.monotonic() < deadline:
        tasks.append(asyncio.ensure_future(one(n)))
        n += 1
        sent.append(n)
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)


def probe(url, source, deadline, latencies):
    """getCa every PROBE_PERIOD on a new connection: its latency, or None
    when it failed."""
    split = urllib.parse.urlsplit(url)
    while time.monotonic() < deadline:
        start = time.monotonic()
        connection = http.client.HTTPConnection(
            split.hostname, split.port, timeout=PROBE_TIMEOUT,
            source_address=(source, 0) if source else None)
        try:
            connection.request('GET', split.path + 'getCa')
            r = connection.getresponse()
            ok = r.status == 200 and b'CERTIFICATE' in r.read()
        except OSError:
            ok = False
        finally:
            connection.close()
        latencies.append(time.monotonic() - start if ok else None)
        time.sleep(max(0, PROBE_PERIOD - (time.monotonic() - start)))


def addresses(url, count, hosts=1):
    """(the attack's source addresses, the probe's) for `url`: `hosts`
    addresses in each of `count` /24 networks."""
    host = urllib.parse.urlsplit(url).hostname
    if not host.startswith('127.'):
        return [None], None
    return (['127.%s.%s.%s' % (10 + n // 256, n % 256, h)
             for h in range(1, hosts + 1) for n in range(count)],
            '127.0.0.100')


def raise_file_limit(wanted):
    """The soft limit of open files raised to `wanted` (at most the hard
    limit); returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


async def attack(url, duration, idle_count, slow_count, rate, big_count,
                 source_count, hosts=1):
    split = urllib.parse.urlsplit(url)
    host, port = split.hostname, split.port
    sources, probe_source = addresses(url, source_count, hosts)
    deadline = time.monotonic() + duration
    latencies, sent = [], []
    loop = asyncio.get_running_loop()
    prober = loop.run_in_executor(None, probe, url, probe_source, deadline,
                                  latencies)
    n = 0
    tasks = []
    for coroutine, count in (idle, idle_count), (slow, slow_count), \
            (big, big_count):
        for _ in range(count):
            tasks.append(keep(coroutine, host, port,
                              sources[n % len(sources)], deadline))
            n += 1
    if rate:
        tasks.append(flood(host, port, split.path, sources, rate, deadline,
                           sent))
    await asyncio.gather(*tasks)
    await prober
    return {'getca': latencies, 'malformed': len(sent)}


def run(url, duration=20, idle=200, slow=200, flood=100, big=20,
        sources=64, hosts=1):
    """The attack on the registry's public `url` (ending with /)."""
    raise_file_limit(idle + slow + big + 2 * int(flood) * 10 + 256)
    return asyncio.run(attack(url, duration, idle, slow, flood, big,
                              sources, hosts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('url')
    parser.add_argument('--duration', type=float, default=60)
    parser.add_argument('--idle', type=int, default=200)
    parser.add_argument('--slow', type=int, default=200)
    parser.add_argument('--flood', type=float, default=300)
    parser.add_argument('--big', type=int, default=60)
    parser.add_argument('--sources', type=int, default=64)
    parser.add_argument('--hosts', type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.duration, args.idle, args.slow,
                         args.flood, args.big, args.sources, args.hosts)))


if __name__ == '__main__':
    main()
