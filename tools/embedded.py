"""`make run`, `make stop`, `make token`, `make drop-token`: the release on
slapos.core's embedded SlapOS.

run:        start the embedded SlapOS if needed, supply this checkout's
            software.cfg, request the default instance with PARAMS, wait
            until it is usable and print its connection parameters as one
            JSON object on the last line.
stop:       stop everything `run` started; the data (CA, database) is kept.
token:      request (or re-read) the shared token instance NAME, wait until
            its token is registered and print its connection parameters as
            one JSON object on the last line.
drop-token: destroy the shared token instance NAME and wait until the
            registry no longer knows its token (or has revoked its node).
"""
import argparse
import glob
import json
import logging
import os
import sys
import time

from slapos.slap.standalone import (
    SlapOSNodeCommandError, StandaloneSlapOS)

from slapos_re6st.lib import files
from slapos_re6st.lib.client import Client
from slapos_re6st.lib.wait import wait_for as wait
from slapos_re6st.tokens.manager import registry_email

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE = os.path.join(HERE, 'software.cfg')
INSTANCE_REFERENCE = 're6st-registry'
IPV4 = '127.0.0.1'
IPV6 = '::1'
# the registry's admin secret, in its partition's etc/ (lib.admin)
ADMIN_SECRET = 're6st-registry-admin.secret'
# how long token and drop-token wait for the token manager (seconds)
TOKEN_DEADLINE = 60


def release_digest():
    """What the software build reads: the profile, every file of the
    release through buildout.hash.cfg's md5sums, and the Python
    environment that runs slapos and buildout."""
    return files.digest_of(
        [SOFTWARE, os.path.join(HERE, 'buildout.hash.cfg')] + sorted(
            glob.glob(os.path.join(HERE, 'tools', 'requirements*.txt'))))


def log(message):
    print(message, file=sys.stderr, flush=True)


def standalone(base):
    os.makedirs(base, exist_ok=True)
    slap = StandaloneSlapOS(
        base_directory=base,
        server_ip=IPV4,
        server_port=int(os.environ.get('SLAPOS_PROXY_PORT', 19380)),
        slapos_bin=os.path.join(os.path.dirname(sys.executable), 'slapos'),
    )
    # process every partition on each run, as a changed checkout may need
    slap._force_slapos_node_instance_all = True
    return slap


def requested_params():
    """PARAMS of `make run`: the file RE6ST_PARAMS_FILE names, else the
    text of RE6ST_PARAMS (passed in the environment, which other users
    cannot read, never on a command line, which ps shows them)."""
    path = os.environ.get('RE6ST_PARAMS_FILE')
    if path:
        try:
            with open(path) as f:
                return parse_params(f.read())
        except OSError as e:
            raise SystemExit('PARAMS_FILE cannot be read: %s.' % e)
    return parse_params(os.environ.get('RE6ST_PARAMS', '{}'))


def parse_params(text):
    try:
        params = json.loads(text or '{}')
    except ValueError as e:
        raise SystemExit('PARAMS is not valid JSON (%s): give one JSON object,'
                         ' e.g. PARAMS=\'{"prefix-length": 20}\'.' % e)
    if not isinstance(params, dict):
        raise SystemExit('PARAMS must be one JSON object, not %s.'
                         % type(params).__name__)
    return params


def buildout_error(error):
    """The buildout error sentences in a failed slapos node run's output."""
    lines = str(error).splitlines()
    for i, line in enumerate(lines):
        if line.startswith('Error: '):
            found = [line[len('Error: '):]]
            for next_line in lines[i + 1:]:
                if not next_line.strip() or next_line.startswith(
                        ('While:', 'An internal error', 'Traceback')):
                    break
                found.append(next_line)
            return '\n'.join(found)
    return str(error)


def unwrap(raw):
    return json.loads(raw['_']) if '_' in raw else raw


def connection_parameters(slap, params):
    partition = slap.request(
        SOFTWARE, INSTANCE_REFERENCE, 'default',
        partition_parameter_kw={'_': json.dumps(params, sort_keys=True)})
    return unwrap(partition.getConnectionParameterDict())


def wait_for(what, check, timeout=TOKEN_DEADLINE):
    value = wait(check, timeout)
    if not value:
        raise SystemExit('%s: not within %s s.' % (what, timeout))
    return value


def running_registry(base):
    """The slap connection and connection parameters of `make run`'s
    registry; exits with a sentence when there is none."""
    if not running(base):
        raise SystemExit('The embedded SlapOS is not running: `make run`'
                         ' first.')
    slap = standalone(base)
    # read from the master, never requested again: a request without the
    # registry's parameters would reset them
    for partition in slap.computer.getComputerPartitionList():
        if partition.getInstanceParameterDict().get(
                'instance_title') == INSTANCE_REFERENCE:
            parameters = unwrap(partition.getConnectionParameterDict())
            if 're6stry-local-url' in parameters:
                return slap, parameters
    raise SystemExit('No registry deployed yet: `make run` first.')


def admin_secret(partition_path):
    """The admin secret file of the registry's partition (lib.admin)."""
    return os.path.join(partition_path, 'etc', ADMIN_SECRET)


def registry_partition_path(slap):
    """The path of the registry's partition."""
    for partition in slap.computer.getComputerPartitionList():
        if partition.getInstanceParameterDict().get(
                'instance_title') == INSTANCE_REFERENCE:
            return os.path.join(slap.instance_directory, partition.getId())
    raise SystemExit('No registry deployed yet: `make run` first.')


def request_token(slap, name, state='started'):
    return slap.request(SOFTWARE, name, 'default', shared=True,
                        partition_parameter_kw={'_': '{}'}, state=state)


def run_instance(slap):
    try:
        slap.waitForInstance(max_retry=3, error_lines=60)
    except SlapOSNodeCommandError as e:
        raise SystemExit('The instance failed:\n%s' % buildout_error(e))


def token(base, name):
    slap, _ = running_registry(base)
    request_token(slap, name)
    run_instance(slap)

    def registered():
        parameters = unwrap(request_token(slap, name)
                            .getConnectionParameterDict())
        status = parameters.get('status', '')
        if status.startswith('Invalid'):
            raise SystemExit(status)
        if 'token' in parameters and not status.startswith('Token not'):
            return parameters
    print(json.dumps(wait_for('token of %s registered' % name, registered),
                     sort_keys=True))


def drop_token(base, name):
    slap, registry = running_registry(base)
    parameters = unwrap(request_token(slap, name).getConnectionParameterDict())
    request_token(slap, name, state='destroyed')
    run_instance(slap)
    token = parameters.get('token')
    if not token:
        log('%s had no token: nothing else to drop.' % name)
        return
    client = Client(registry['re6stry-local-url'],
                    admin_secret(registry_partition_path(slap)))

    def gone():
        return client.call('isToken', token) != b'1' and not client.call(
            'getNodePrefix', registry_email(name))
    wait_for('token of %s dropped' % name, gone)
    log('Dropped %s: its token is deleted%s.' % (name, (
        ' and its node revoked' if 'ipv6' in parameters else '')))


def run(base, params):
    slap = standalone(base)
    timing = {}
    t = time.time()
    slap.start()
    if not os.listdir(slap.instance_directory):
        slap.format(1, IPV4, IPV6)
    timing['start'] = time.time() - t
    t = time.time()
    log('Building the software release (slapos node software)...')
    slap.supply(SOFTWARE)
    built = os.path.join(base, '.built-release')
    digest = release_digest()
    try:
        # --all: rebuild if the release changed since its last build here
        # (buildout itself only redoes what changed); else a build only if
        # the software is missing: nothing to fetch
        slap.waitForSoftware(max_retry=2, error_lines=60,
                             install_all=files.read(built) != digest)
    except SlapOSNodeCommandError as e:
        raise SystemExit('The software release failed to build:\n%s'
                         % buildout_error(e))
    files.write(built, digest)
    timing['supply'] = time.time() - t
    t = time.time()
    log('Deploying the registry (slapos node instance)...')
    connection_parameters(slap, params)
    try:
        slap.waitForInstance(max_retry=10, error_lines=60)
    except SlapOSNodeCommandError as e:
        raise SystemExit('The instance failed:\n%s' % buildout_error(e))
    timing['instance'] = time.time() - t
    log('Timing (s): %s' % json.dumps(
        {k: round(v, 1) for k, v in timing.items()}))
    print(json.dumps(connection_parameters(slap, params), sort_keys=True))


def running(base):
    """Whether the embedded SlapOS's supervisord runs (without starting
    it, as constructing StandaloneSlapOS does)."""
    try:
        with open(os.path.join(base, 'var', 'run', 'supervisord.pid')) as f:
            os.kill(int(f.read().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop(base, quiet=False):
    if not running(base):
        if not quiet:
            log('The embedded SlapOS is not running here: nothing to stop.')
        return
    log('Stopping the embedded SlapOS of `make run` (data kept in %s;'
        ' `make run` brings it back).' % base)
    standalone(base).stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=('run', 'stop', 'token',
                                            'drop-token'))
    parser.add_argument('--base', required=True,
                        help='directory of the embedded SlapOS')
    parser.add_argument('--quiet', action='store_true',
                        help='say nothing when there is nothing to do')
    parser.add_argument('--name', help='reference of the token instance')
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = os.path.abspath(args.base)
    if args.command == 'run':
        run(base, requested_params())
    elif args.command == 'stop':
        stop(base, args.quiet)
    else:
        args.name = args.name or os.environ.get('RE6ST_NAME')
        if not args.name:
            raise SystemExit('Give the token instance a name: make %s'
                             ' NAME=<reference>.' % args.command)
        (token if args.command == 'token' else drop_token)(base, args.name)


if __name__ == '__main__':
    main()
