"""Run in the node of test/node, as its user, by slapos's own Python (3.9,
slapos.core 1.22.1), on slapos.core's embedded SlapOS in BASE:

  driver.py deploy BASE URL IPV4 PROXY_PORT FORWARD_PORT DOWNLOAD_CACHE
      `slapos node software` builds the release from its http URL, with
      DOWNLOAD_CACHE as buildout's download cache (slapos writes the
      software's buildout.cfg only when it is missing: it is written first,
      as slapos would, plus that option); `slapos node instance` deploys a
      registry and a token instance.  Prints, as one JSON object on the
      last line, the connection parameters of both, the software's and
      the instances' directories.
  driver.py stop BASE IPV4 PROXY_PORT
      stop everything the embedded SlapOS runs.

The slapos commands are run directly (as supervisor would run them), their
output on stderr.  Standard library and slapos.core only; Python 3.9.
"""
import hashlib
import json
import os
import subprocess
import sys
import time

from slapos.slap.standalone import StandaloneSlapOS

TOKEN = 'node-test-token'
# slapos node instance runs until the token manager has registered the
# token (each run ends with the promises: the first may fail)
INSTANCE_RUNS = 6


def log(message):
    print(message, file=sys.stderr, flush=True)


def unwrap(raw):
    return json.loads(raw['_']) if '_' in raw else raw


SLAPOS = os.path.join(os.path.dirname(sys.executable), 'slapos')


def standalone(base, ipv4, proxy_port):
    os.makedirs(base, exist_ok=True)
    return StandaloneSlapOS(
        base_directory=base, server_ip=ipv4, server_port=int(proxy_port),
        slapos_bin=SLAPOS)


def slapos_node(base, command):
    """`slapos node COMMAND` with the configuration of the embedded
    SlapOS in `base`: its exit status."""
    return subprocess.call(
        [SLAPOS, 'node', command, '--cfg',
         os.path.join(base, 'etc', 'slapos.cfg')], stdout=sys.stderr)


def deploy(base, url, ipv4, proxy_port, forward_port, download_cache):
    slap = standalone(base, ipv4, proxy_port)
    slap.start()
    slap.format(1, ipv4, '::1')
    software = os.path.join(slap.software_directory,
                            hashlib.md5(url.encode()).hexdigest())
    os.makedirs(software, exist_ok=True)
    with open(os.path.join(software, 'buildout.cfg'), 'w') as f:
        f.write('[buildout]\nextends = %s\ndownload-cache = %s\n'
                % (url, download_cache))
    slap.supply(url)
    t = time.time()
    if slapos_node(base, 'software'):
        raise SystemExit('slapos node software failed')
    log('software built in %.0f s' % (time.time() - t))

    def registry():
        return slap.request(url, 're6st-registry', 'default',
                            partition_parameter_kw={'_': json.dumps({
                                'forward-ipv4': ipv4,
                                'forward-port': int(forward_port)})})

    def token():
        return slap.request(url, TOKEN, 'default', shared=True,
                            partition_parameter_kw={'_': '{}'})
    registry()
    t = time.time()
    for run in range(INSTANCE_RUNS):
        status = slapos_node(base, 'instance')
        published = unwrap(registry().getConnectionParameterDict())
        if status == 0 and 're6stry-url' in published:
            break
    else:
        raise SystemExit('slapos node instance failed %s times'
                         % INSTANCE_RUNS)
    log('registry deployed in %.0f s' % (time.time() - t))
    token()
    for run in range(INSTANCE_RUNS):
        status = slapos_node(base, 'instance')
        token_published = unwrap(token().getConnectionParameterDict())
        if status == 0 and 'token' in token_published and not (
                token_published.get('status', '').startswith('Token not')):
            break
        time.sleep(5)
    else:
        raise SystemExit('no token registered after %s instance runs: %r'
                         % (INSTANCE_RUNS, token_published))
    print(json.dumps({'registry': published, 'token': token_published,
                      'software': software,
                      'instance': slap.instance_directory}))


def stop(base, ipv4, proxy_port):
    standalone(base, ipv4, proxy_port).stop()


if __name__ == '__main__':
    {'deploy': deploy, 'stop': stop}[sys.argv[1]](*sys.argv[2:])
