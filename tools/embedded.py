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

Commands started together wait for each other (one requests and runs the
instance at a time: `slapos node instance` cannot run twice).  A request
the instance refuses (a bad parameter) is answered with the buildout
error's sentence at once, and `run` then requests the last parameters that
were accepted again, so that `token` and `drop-token` keep working.
`run` also starts the keeper (tools/keeper.py), which starts again the
partition's services after any kill, as a SlapOS node would.
"""
import argparse
import contextlib
import fcntl
import glob
import json
import logging
import os
import sys
import time
import xmlrpc.client

from slapos.slap.standalone import (
    SlapOSNodeCommandError, StandaloneSlapOS)

from slapos_re6st.lib import files
from slapos_re6st.lib.client import Client
from slapos_re6st.lib.wait import wait_for as wait
from slapos_re6st.tokens.manager import registry_email

from . import keeper

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE = os.path.join(HERE, 'software.cfg')
INSTANCE_REFERENCE = 're6st-registry'
IPV4 = '127.0.0.1'
IPV6 = '::1'
# the registry's admin secret, in its partition's etc/ (lib.admin)
ADMIN_SECRET = 're6st-registry-admin.secret'
# how long token and drop-token wait for the token manager (seconds)
TOKEN_DEADLINE = 60
# instance runs retried while only promises fail (the registry starting)
RUN_RETRIES = 10
# how long a command waits for one that runs the instance meanwhile
BUSY_DEADLINE = 1800


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


def refusal(error):
    """The buildout error sentences of a failed instance run, or None when
    buildout did not fail (a promise did: the registry still starting)."""
    text = buildout_error(error)
    return None if text == str(error) else text


def unwrap(raw):
    return json.loads(raw['_']) if '_' in raw else raw


def connection_parameters(slap, params, software=SOFTWARE,
                          reference=INSTANCE_REFERENCE):
    partition = slap.request(
        software, reference, 'default',
        partition_parameter_kw={'_': json.dumps(params, sort_keys=True)})
    return unwrap(partition.getConnectionParameterDict())


def wait_for(what, check, timeout=TOKEN_DEADLINE):
    value = wait(check, timeout)
    if not value:
        raise SystemExit('%s: not within %s s.' % (what, timeout))
    return value


@contextlib.contextmanager
def one_at_a_time(base):
    """Held while a command requests and runs the instance: another
    command waits for it (its instance run included)."""
    os.makedirs(os.path.join(base, 'var', 'run'), exist_ok=True)
    with open(os.path.join(base, 'var', 'run', 're6st-command.lock'),
              'a') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log('Another make run, token or drop-token is in progress here:'
                ' waiting for it to end...')
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def registry_partition(slap, reference=INSTANCE_REFERENCE):
    """The master's partition of the registry, or None."""
    for partition in slap.computer.getComputerPartitionList():
        if partition.getInstanceParameterDict().get(
                'instance_title') == reference:
            return partition
    return None


def running_slap(base):
    """make run's embedded SlapOS; exits with a sentence when it does not
    run."""
    if not running(base):
        raise SystemExit('The embedded SlapOS is not running: `make run`'
                         ' first.')
    return standalone(base)


def deployed_registry(slap, reference=INSTANCE_REFERENCE):
    # read from the master, never requested again: a request without the
    # registry's parameters would reset them
    partition = registry_partition(slap, reference)
    if partition is not None:
        parameters = unwrap(partition.getConnectionParameterDict())
        if 're6stry-local-url' in parameters:
            return parameters
    raise SystemExit('No registry deployed yet: `make run` first.')


def admin_secret(partition_path):
    """The admin secret file of the registry's partition (lib.admin)."""
    return os.path.join(partition_path, 'etc', ADMIN_SECRET)


def registry_partition_path(slap, reference=INSTANCE_REFERENCE):
    """The path of the registry's partition."""
    partition = registry_partition(slap, reference)
    if partition is None:
        raise SystemExit('No registry deployed yet: `make run` first.')
    return os.path.join(slap.instance_directory, partition.getId())


def request_token(slap, name, state='started', software=SOFTWARE):
    return slap.request(software, name, 'default', shared=True,
                        partition_parameter_kw={'_': '{}'}, state=state)


def instance_runs(slap):
    """Whether slapos node instance runs (another command's)."""
    with slap.system_supervisor_rpc as supervisor:
        return any(supervisor.getProcessInfo(name)['statename'] in (
            'STARTING', 'RUNNING', 'BACKOFF') for name in (
                'slapos-node-instance', 'slapos-node-instance-all'))


def run_instance(slap, retries=3):
    """slapos node instance, until it succeeds: retried `retries` times
    when only promises fail (the registry starting), never when buildout
    refuses the request (SystemExit with its sentence at once); after a
    run in progress (another command's) if there is one."""
    attempt = 0
    while True:
        try:
            slap.waitForInstance(max_retry=0, error_lines=60)
            return
        except xmlrpc.client.Fault as e:
            if 'ALREADY_STARTED' not in e.faultString:
                raise
            log('slapos node instance runs already (another command):'
                ' waiting for it to end...')
            wait_for('slapos node instance ended', lambda: not instance_runs(
                slap), BUSY_DEADLINE)
        except SlapOSNodeCommandError as e:
            refused = refusal(e)
            if refused is not None:
                raise SystemExit('The instance failed:\n%s' % refused)
            if attempt >= retries:
                raise SystemExit('The instance failed:\n%s'
                                 % buildout_error(e))
            attempt += 1


def token(base, name, slap=None, software=SOFTWARE,
          reference=INSTANCE_REFERENCE):
    """make token: the token instance `name` requested, its connection
    parameters once its token works.  `slap`: the embedded SlapOS of
    `base` (by default, make run's), where `software` runs the registry
    `reference`."""
    with one_at_a_time(base):
        slap = slap or running_slap(base)
        deployed_registry(slap, reference)
        add_token(slap, name, software)
    return token_parameters(slap, name, software)


def add_token(slap, name, software=SOFTWARE):
    request_token(slap, name, software=software)
    run_instance(slap)


def token_parameters(slap, name, software=SOFTWARE):
    """The token instance's connection parameters once its token is
    registered."""
    def registered():
        parameters = unwrap(request_token(slap, name, software=software)
                            .getConnectionParameterDict())
        status = parameters.get('status', '')
        if status.startswith('Invalid'):
            raise SystemExit(status)
        if 'token' in parameters and not status.startswith('Token not'):
            return parameters
    return wait_for('token of %s registered' % name, registered)


def drop_token(base, name, slap=None, software=SOFTWARE,
               reference=INSTANCE_REFERENCE):
    """make drop-token (arguments as token's)."""
    with one_at_a_time(base):
        slap = slap or running_slap(base)
        registry = deployed_registry(slap, reference)
        secret = admin_secret(registry_partition_path(slap, reference))
        parameters = destroy_token(slap, name, software)
    wait_dropped(registry, secret, name, parameters)


def destroy_token(slap, name, software=SOFTWARE):
    """Destroy the token instance `name`: its connection parameters as
    they were."""
    parameters = unwrap(request_token(slap, name, software=software)
                        .getConnectionParameterDict())
    request_token(slap, name, state='destroyed', software=software)
    run_instance(slap)
    return parameters


def wait_dropped(registry, secret, name, parameters):
    """Until the registry `registry` (connection parameters; its admin
    secret file `secret`) no longer knows the token of `name`."""
    token = parameters.get('token')
    if not token:
        log('%s had no token: nothing else to drop.' % name)
        return
    client = Client(registry['re6stry-local-url'], secret)

    def gone():
        return client.call('isToken', token) != b'1' and not client.call(
            'getNodePrefix', registry_email(name))
    wait_for('token of %s dropped' % name, gone)
    log('Dropped %s: its token is deleted%s.' % (name, (
        ' and its node revoked' if 'ipv6' in parameters else '')))


def run(base, params):
    with one_at_a_time(base):
        deploy(base, params)


def deploy(base, params):
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
    request_registry(slap, params)
    timing['instance'] = time.time() - t
    # the services started again after any kill, with nobody acting
    keeper.install(slap)
    log('Timing (s): %s' % json.dumps(
        {k: round(v, 1) for k, v in timing.items()}))
    print(json.dumps(connection_parameters(slap, params), sort_keys=True))


def request_registry(slap, params, software=SOFTWARE,
                     reference=INSTANCE_REFERENCE):
    """Request the registry with `params` and run the instance; if it
    refuses them, the parameters requested before are requested again
    (the last ones accepted: the registry runs with them) and SystemExit
    says why."""
    partition = registry_partition(slap, reference)
    before = partition and partition.getInstanceParameterDict().get('_')
    connection_parameters(slap, params, software, reference)
    try:
        run_instance(slap, retries=RUN_RETRIES)
    except SystemExit:
        if before is not None:
            slap.request(software, reference, 'default',
                         partition_parameter_kw={'_': before})
            log('Refused: the registry keeps the parameters of the last'
                ' make run that was accepted.')
        raise


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
        if args.command == 'token':
            print(json.dumps(token(base, args.name), sort_keys=True))
        else:
            drop_token(base, args.name)


if __name__ == '__main__':
    main()
